//! Key pairs, signatures and RSA encryption through the real PyKMIP client (`ProxyKmipClient`): `kmipd serve`
//! on a fresh data directory and a free loopback port, and tests/pykmip/asym.py (run from the repository's
//! `.venv`) calling create_key_pair (RSA 2048, EC P-256, Ed25519), activate, get, sign, signature_verify,
//! encrypt and decrypt over mutual TLS, each signature and ciphertext also checked by the `cryptography`
//! package (RSA-PSS SHA-256 and SHA-512 signatures verified, OAEP SHA-1/256/512 ciphertexts made by it). Each step is judged by the script; this test fails on any failed step.
//!
//! When `.venv` lacks PyKMIP the test runs `tests/pykmip/setup-venv.sh` first; when that fails, the test
//! fails (it never skips).

#[path = "support/pykmip_script.rs"]
mod pykmip_script;

#[test]
fn pykmip_creates_key_pairs_signs_verifies_and_uses_rsa() {
    pykmip_script::run_script("asym.py", 18, "asymmetric");
}
