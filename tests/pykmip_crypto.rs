//! The symmetric cryptographic services through the real PyKMIP client (`ProxyKmipClient`): `kmipd serve` on
//! a fresh data directory and a free loopback port, and tests/pykmip/crypto.py (run from the repository's
//! `.venv`) calling create, encrypt, decrypt, register, mac and derive_key (PBKDF2, HMAC, Encrypt) over mutual
//! TLS with the admin certificate the server made, each result checked against Python's own cryptography.
//! Each step is judged by the script; this test fails on any failed step.
//!
//! When `.venv` lacks PyKMIP the test runs `tests/pykmip/setup-venv.sh` first; when that fails, the test
//! fails (it never skips).

#[path = "support/pykmip_script.rs"]
mod pykmip_script;

#[test]
fn pykmip_encrypts_decrypts_macs_and_derives_keys() {
    pykmip_script::run_script("crypto.py", 7, "crypto");
}
