//! The key lifecycle through the real PyKMIP client (`ProxyKmipClient`): `kmipd serve` on a fresh data
//! directory and a free loopback port, and tests/pykmip/lifecycle.py (run from the repository's `.venv`)
//! calling create, register, get, get_attributes, get_attribute_list, activate, check, locate, rekey,
//! modify/delete_attribute (1.x), set_attribute (2.0), revoke and destroy over mutual TLS with the admin
//! certificate the server made. Each step is judged by the script; this test fails on any failed step.
//!
//! When `.venv` lacks PyKMIP the test runs `tests/pykmip/setup-venv.sh` first; when that fails, the test
//! fails (it never skips).

#[path = "support/pykmip_script.rs"]
mod pykmip_script;

#[test]
fn pykmip_runs_the_key_lifecycle() {
    pykmip_script::run_script("lifecycle.py", 15, "lifecycle");
}
