#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the KMIP conformance test vectors (testdata/kmip-vectors, copied
# into the repository with the OASIS notice, or the directory given), through the examples/fuzz_seed.rs converter,
# and ttlv_decode and request_decode also from the hostile and valid fixtures of testdata/ttlv. Seeds are
# overwritten in place; whatever the fuzzers added to the corpora stays.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vectors="${1:-$root/testdata/kmip-vectors}"
cd "$root"
cargo run --quiet --example fuzz_seed -- "$vectors" "$root/fuzz/corpus" "$root/testdata/ttlv"
