//! Node identities, peers, batches and links, checked without running `kmipd serve`.

use super::*;
use crate::mtls::CrlFile;
use crate::pki::{CertificateAuthority, IssuedPair, KeyType};
use crate::store::ChangeRecord;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

fn der(pair: &IssuedPair) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pair.certificate_pem.as_bytes())
        .unwrap()
        .to_vec()
}

fn sequencer_peers() -> NodePeers {
    NodePeers {
        own: "a".into(),
        sequencer: None,
        followers: vec!["b".into()],
        readers: vec!["r".into()],
    }
}

/// Runs a TLS handshake between `client` and `server` in memory (plus one application byte, so the
/// server's verdict on a TLS 1.3 client certificate is seen); whether it succeeded.
fn handshake(client: &NodeTls, server: &NodeTls) -> bool {
    use std::io::{Read, Write};
    let name = ServerName::try_from("localhost").unwrap();
    let mut c = rustls::ClientConnection::new(client.client.clone(), name).unwrap();
    let mut s = rustls::ServerConnection::new(server.server.clone()).unwrap();
    c.writer().write_all(b"x").unwrap();
    for _ in 0..20 {
        let mut buf = Vec::new();
        c.write_tls(&mut buf).unwrap();
        if s.read_tls(&mut buf.as_slice()).is_ok() && s.process_new_packets().is_err() {
            return false;
        }
        let mut back = Vec::new();
        s.write_tls(&mut back).unwrap();
        if c.read_tls(&mut back.as_slice()).is_ok() && c.process_new_packets().is_err() {
            return false;
        }
        let mut byte = [0u8; 1];
        if matches!(s.reader().read(&mut byte), Ok(1)) {
            return true;
        }
    }
    false
}

#[test]
fn a_node_certificate_listed_in_the_node_crl_is_refused() {
    use rustls::pki_types::pem::PemObject;
    let (ca, ca_pair) = CertificateAuthority::generate("node CA", 30, KeyType::EcdsaP256).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cas = vec![CertificateDer::from_pem_slice(ca_pair.certificate_pem.as_bytes()).unwrap()];
    let node = |zone: &str| {
        let pair = ca
            .issue_node(zone, &["localhost".into()], &[], 30, KeyType::EcdsaP256)
            .unwrap();
        let chain = vec![CertificateDer::from_pem_slice(pair.certificate_pem.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(pair.private_key_pem.as_bytes()).unwrap();
        (pair, chain, key)
    };
    let (b_pair, b_chain, b_key) = node("b");
    let (_, r_chain, r_key) = node("r");
    let (_, a_chain, a_key) = node("a");
    let crl = dir.path().join("nodes.crl");
    std::fs::write(
        &crl,
        ca.revocation_list(&[&b_pair.certificate_pem], 1, 7)
            .unwrap(),
    )
    .unwrap();
    let origin = dir.path().join("node-ca.pem");
    let a = NodeTls::from_parts_with_crl(
        a_chain,
        a_key,
        &cas,
        &origin,
        Some(CrlFile::open(&crl).unwrap()),
    )
    .unwrap();
    let b = NodeTls::from_parts(b_chain, b_key, &cas, &origin).unwrap();
    let r = NodeTls::from_parts(r_chain, r_key, &cas, &origin).unwrap();
    assert!(handshake(&r, &a), "a node not in the list connects");
    assert!(!handshake(&b, &a), "the revoked node is refused");
}

#[test]
fn a_peer_is_the_one_known_node_its_certificate_names() {
    let (ca, _) = CertificateAuthority::generate("node CA", 30, KeyType::EcdsaP256).unwrap();
    let node = |zone| {
        der(&ca
            .issue_node(zone, &[], &[], 30, KeyType::EcdsaP256)
            .unwrap())
    };
    let server = |names: &[&str]| {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        der(&ca
            .issue_server(&names, &[], 30, KeyType::EcdsaP256)
            .unwrap())
    };
    let peers = sequencer_peers();
    assert_eq!(peers.identify(&node("b")).unwrap(), "b");
    assert_eq!(peers.identify(&node("a")).unwrap(), "a");
    // DNS names are case-insensitive.
    assert_eq!(peers.identify(&server(&["R.Node.Kmipd"])).unwrap(), "r");
    // Unknown nodes, client certificates (CN only), wildcards and look-alikes name no node.
    for der in [
        node("c"),
        der(&ca.issue_client("b", 30, KeyType::EcdsaP256).unwrap()),
        der(&ca
            .issue_client("b.node.kmipd", 30, KeyType::EcdsaP256)
            .unwrap()),
        server(&["*.node.kmipd"]),
        server(&["b.node.kmipd.example.com", "localhost"]),
    ] {
        assert!(matches!(
            peers.identify(&der),
            Err(NodeAccessError::NotANode { .. })
        ));
    }
    assert!(matches!(
        peers.identify(&server(&["a.node.kmipd", "b.node.kmipd"])),
        Err(NodeAccessError::SeveralNodes(_))
    ));
    assert!(matches!(
        peers.identify(b"not a certificate"),
        Err(NodeAccessError::Certificate(_))
    ));
}

#[test]
fn each_role_sends_only_its_own_messages() {
    let commit = Message::Commit {
        request_id: [0; 16],
        origin: Origin::default(),
        mutations: Vec::new(),
    };
    let apply = Message::Apply(Vec::new());
    let sequencer = sequencer_peers();
    assert!(sequencer.allow("b", &commit).is_ok());
    assert!(sequencer.allow("r", &commit).is_err());
    assert!(sequencer.allow("a", &commit).is_err());
    for zone in ["a", "b", "r"] {
        assert!(sequencer.allow(zone, &apply).is_err());
        assert!(sequencer.allow(zone, &Message::LastSeq).is_ok());
    }
    let follower = NodePeers {
        own: "b".into(),
        sequencer: Some("a".into()),
        ..NodePeers::default()
    };
    assert!(follower.allow("a", &apply).is_ok());
    assert!(follower.allow("b", &apply).is_err());
    assert!(follower.allow("a", &commit).is_err());
    assert!(follower.allow("b", &Message::Status).is_ok());
}

#[test]
fn shipped_batches_are_bounded_in_bytes_and_count() {
    let change = |seq, size| ChangeRecord {
        seq,
        time_ms: 0,
        kind: crate::store::ChangeKind::Put,
        uid: "u".into(),
        payload: vec![0; size],
        hash: Some([0; 32]),
    };
    let overhead = change_bytes(&change(0, 0));
    let small: Vec<_> = (1..=10).map(|s| change(s, 100)).collect();
    // Bytes bind: three changes of 100 payload bytes fit in 3 * (100 + overhead), not four.
    assert_eq!(batch_len(&small, 1_000, 3 * (100 + overhead)), 3);
    assert_eq!(batch_len(&small, 1_000, 4 * (100 + overhead) - 1), 3);
    // Count binds.
    assert_eq!(batch_len(&small, 2, usize::MAX), 2);
    assert_eq!(batch_len(&small, 1_000, usize::MAX), 10);
    // A change larger than the budget still travels, alone; nothing to send is an empty batch.
    let large = vec![change(1, 1 << 20), change(2, 10)];
    assert_eq!(batch_len(&large, 1_000, 4_096), 1);
    assert_eq!(batch_len(&large[1..], 1_000, 4_096), 1);
    assert_eq!(batch_len(&[], 1_000, 4_096), 0);
    // What a batch takes on the wire is what the budget counts.
    let frame = Message::Apply(small[..3].to_vec()).encode();
    assert_eq!(frame.len(), 4 + 1 + 4 + 3 * (100 + overhead));
}

#[test]
fn zone_names_are_single_dns_labels() {
    for good in ["a", "zone-b", "eu1", "R"] {
        assert!(valid_zone_name(good), "{good}");
    }
    for bad in ["", "-a", "a-", "a.b", "a b", "a_b", &"x".repeat(64)] {
        assert!(!valid_zone_name(bad), "{bad}");
    }
    assert_eq!(node_name("b"), "b.node.kmipd");
}
