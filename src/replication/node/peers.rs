//! Who may be a node: the zone names a node certificate carries, the peers each role accepts on its node
//! port and what each may send, and the TLS material every node link is built from.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::*;
use crate::mtls::{
    CrlFile, TlsError, build_server_tls_config_with_crl, provider, read_certificates,
    read_private_key,
};
use crate::replication::wire::Message;

/// The zones whose node names certificate `der` carries (lower case).
pub(super) fn certified_zones(der: &[u8]) -> Result<Vec<String>, String> {
    use x509_parser::extensions::GeneralName;
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("unreadable peer certificate: {e}"))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("malformed subject alternative names: {e}"))?;
    Ok(san
        .map(|s| s.value.general_names.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(dns) => {
                let dns = dns.to_ascii_lowercase();
                dns.strip_suffix(NODE_NAME_SUFFIX).map(str::to_string)
            }
            _ => None,
        })
        .collect())
}

/// Why a connection on the node port, or a message on it, is refused.
#[derive(Debug, thiserror::Error)]
pub enum NodeAccessError {
    /// The peer presented no certificate.
    #[error("node port: the peer presented no certificate")]
    NoCertificate,
    /// The certificate cannot be read.
    #[error("node port: {0}")]
    Certificate(String),
    /// The certificate names no node this node knows (e.g. a KMIP client certificate).
    #[error(
        "node port: the certificate names no node of this deployment (expected a DNS name <zone>{NODE_NAME_SUFFIX} of one of: {known})"
    )]
    NotANode {
        /// The zones this node accepts.
        known: String,
    },
    /// The certificate names several known nodes: it cannot say which one connected.
    #[error("node port: the certificate names several nodes ({0}); a node certificate names one")]
    SeveralNodes(String),
    /// A known node sent what its role never sends.
    #[error("node {zone} may not send {what} to this node")]
    NotAllowed {
        /// The peer's zone.
        zone: String,
        /// The message.
        what: &'static str,
    },
}

/// Which nodes may connect to this node's port and what each may send, by the zone its certificate names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodePeers {
    /// This node's own zone (its own `kmipd status` connects with its certificate).
    pub own: String,
    /// The zone whose shipped changes this node applies: a follower's or remote's sequencer.
    pub sequencer: Option<String>,
    /// Zones that forward their clients' changes here: a sequencer's followers.
    pub followers: Vec<String>,
    /// Zones that only read sequence numbers and changes here: a sequencer's remote-region nodes.
    pub readers: Vec<String>,
}

impl NodePeers {
    pub(super) fn known(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.own)
            .chain(&self.sequencer)
            .chain(&self.followers)
            .chain(&self.readers)
    }

    /// The zone of the node presenting certificate `der`: it must name exactly one known node.
    pub fn identify(&self, der: &[u8]) -> Result<String, NodeAccessError> {
        let named = certified_zones(der).map_err(NodeAccessError::Certificate)?;
        let mut matched: Vec<&String> = self
            .known()
            .filter(|zone| named.iter().any(|n| n.eq_ignore_ascii_case(zone)))
            .collect();
        matched.sort();
        matched.dedup();
        match matched.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(NodeAccessError::NotANode {
                known: self
                    .known()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
            several => Err(NodeAccessError::SeveralNodes(
                several
                    .iter()
                    .map(|z| z.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        }
    }

    /// Whether `zone` may send `message`: shipped changes only from the sequencer, forwarded commits only
    /// from a follower; reads and status from any known node.
    pub(super) fn allow(&self, zone: &str, message: &Message) -> Result<(), NodeAccessError> {
        let refuse = |what| {
            Err(NodeAccessError::NotAllowed {
                zone: zone.to_string(),
                what,
            })
        };
        match message {
            Message::Apply(_) if self.sequencer.as_deref() != Some(zone) => {
                refuse("shipped changes (only its sequencer does)")
            }
            Message::Commit { .. } if !self.followers.iter().any(|f| f == zone) => {
                refuse("changes to commit (only a follower zone does)")
            }
            _ => Ok(()),
        }
    }
}

/// The TLS material of a node: its certificate (used both to serve and to connect) and the CA that issued
/// every node certificate.
#[derive(Clone)]
pub struct NodeTls {
    pub(super) server: Arc<rustls::ServerConfig>,
    pub(super) client: Arc<rustls::ClientConfig>,
}

impl NodeTls {
    /// Reads the node certificate chain, its key and the node CA bundle (PEM files).
    pub fn load(chain: &Path, key: &Path, ca: &Path) -> Result<NodeTls, TlsError> {
        NodeTls::load_with_crl(chain, key, ca, None)
    }

    /// [`NodeTls::load`] refusing peer node certificates that the CRL file `crl` lists (read again when it
    /// changes).
    pub fn load_with_crl(
        chain: &Path,
        key: &Path,
        ca: &Path,
        crl: Option<&Path>,
    ) -> Result<NodeTls, TlsError> {
        let chain = read_certificates(chain, "node certificate chain")?;
        let key = read_private_key(key)?;
        let cas = read_certificates(ca, "node CA bundle")?;
        let crl = crl.map(CrlFile::open).transpose()?;
        NodeTls::from_parts_with_crl(chain, key, &cas, ca, crl)
    }

    /// Builds both configurations from parsed material.
    pub fn from_parts(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        cas: &[CertificateDer<'static>],
        ca_origin: &Path,
    ) -> Result<NodeTls, TlsError> {
        NodeTls::from_parts_with_crl(chain, key, cas, ca_origin, None)
    }

    /// [`NodeTls::from_parts`] with a CRL file for the peers' certificates.
    pub fn from_parts_with_crl(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        cas: &[CertificateDer<'static>],
        ca_origin: &Path,
        crl: Option<CrlFile>,
    ) -> Result<NodeTls, TlsError> {
        let server =
            build_server_tls_config_with_crl(chain.clone(), key.clone_key(), cas, ca_origin, crl)?;
        let mut roots = rustls::RootCertStore::empty();
        for ca in cas {
            roots
                .add(ca.clone())
                .map_err(|source| TlsError::BadTrustAnchor {
                    path: ca_origin.to_owned(),
                    source,
                })?;
        }
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        Ok(NodeTls {
            server,
            client: Arc::new(client),
        })
    }
}
