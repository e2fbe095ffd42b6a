//! A second independent KMIP client against `kmipd serve`: NLnet Labs' `kmip-protocol` crate, the client of the
//! Krill RPKI software, over mutual TLS with the certificates the embedded default makes. It speaks KMIP 1.x
//! with its own TTLV codec and decodes answers strictly (an operation its version does not define in a Query
//! answer is an error), so it checks kmipd's wire format, not kmipd's own reading of it. Signatures are checked
//! with AWS-LC's verifier against the public key the client fetched, not by asking kmipd.

#[path = "support/pykmip_script.rs"]
mod serve;
#[path = "support/tls.rs"]
mod tls;

use std::fs;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use kmip_protocol::client::{Client, ClientBuilder};
use kmip_protocol::types::common::{KeyMaterial, ObjectType, Operation};
use kmip_protocol::types::response::ManagedObject;

type Stream = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

/// A running `kmipd serve` and a `kmip-protocol` client connected to it as the admin the server made.
fn connected() -> (serve::Server, Client<Stream>, tempfile::TempDir) {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("kmipd-data");
    let addr = serve::free_loopback_addr();
    let server = serve::Server::start(&data_dir, addr, temp.path().join("kmipd.log"));
    let read = |name: &str| fs::read_to_string(data_dir.join(name)).unwrap();
    let stream = tls::KmipClient::connect_pem(
        addr,
        &read("ca.pem"),
        &read("admin.pem"),
        &read("admin.key"),
    )
    .unwrap_or_else(|e| panic!("cannot connect: {e}\n{}", server.log()))
    .into_stream();
    (server, ClientBuilder::new(stream).build(), temp)
}

#[test]
fn kmip_protocol_client_runs_its_flows_against_kmipd_serve() {
    let (server, client, _temp) = connected();
    let log = || server.log();

    // Query: decoded strictly by the client, so every listed operation must exist in its version.
    let query = client
        .query()
        .unwrap_or_else(|e| panic!("query: {e:?}\n{}", log()));
    let operations = query.operations.unwrap_or_default();
    assert!(operations.contains(&Operation::Get), "{operations:?}");
    assert!(
        operations.contains(&Operation::CreateKeyPair),
        "{operations:?}"
    );
    assert_eq!(query.vendor_identification.as_deref(), Some("kmipd"));

    // Create Key Pair, Activate, Sign, Get of the public key, independent verification.
    let (private, public) = client
        .create_rsa_key_pair(2048, "krill-private".into(), "krill-public".into())
        .unwrap_or_else(|e| panic!("create_rsa_key_pair: {e:?}\n{}", log()));
    assert_ne!(private, public);
    client
        .activate_key(&private)
        .unwrap_or_else(|e| panic!("activate: {e:?}\n{}", log()));
    let message = b"a route origin authorisation";
    let signed = client
        .sign(&private, message)
        .unwrap_or_else(|e| panic!("sign: {e:?}\n{}", log()));
    assert_eq!(*signed.unique_identifier, private);
    let got = client
        .get_key(&public)
        .unwrap_or_else(|e| panic!("get: {e:?}\n{}", log()));
    assert_eq!(got.object_type, ObjectType::PublicKey);
    let ManagedObject::PublicKey(key) = got.cryptographic_object else {
        panic!(
            "Get of the public key answered {:?}",
            got.cryptographic_object
        );
    };
    let KeyMaterial::Bytes(der) = key.key_block.key_value.key_material else {
        panic!("the public key is not in a byte format");
    };
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &der)
        .verify(message, &signed.signature_data)
        .expect("the signature verifies under the fetched public key");
    assert!(
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &der)
            .verify(b"another message", &signed.signature_data)
            .is_err()
    );

    // RNG Retrieve and Rename (Modify Attribute of Name).
    let random = client
        .rng_retrieve(32)
        .unwrap_or_else(|e| panic!("rng_retrieve: {e:?}\n{}", log()));
    assert_eq!(random.data.len(), 32);
    client
        .rename_key(&private, "krill-private-renamed".into())
        .unwrap_or_else(|e| panic!("rename: {e:?}\n{}", log()));

    // Revoke, Destroy; a destroyed key is gone for the client too.
    client
        .revoke_key(&private)
        .unwrap_or_else(|e| panic!("revoke: {e:?}\n{}", log()));
    client
        .destroy_key(&private)
        .unwrap_or_else(|e| panic!("destroy: {e:?}\n{}", log()));
    assert!(
        client.get_key(&private).is_err(),
        "a destroyed key is still served"
    );
    client
        .destroy_key(&public)
        .unwrap_or_else(|e| panic!("destroy public: {e:?}\n{}", log()));
}
