#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS, starting from corpora seeded from the KMIP
# test vectors plus the committed inputs of past crashes (fuzz/regressions/<target>/); fails if any
# target crashes (the input is kept in fuzz/artifacts/<target>/).
#
# Runs on the stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly-only flags
# (-Zsanitizer=address, sanitizer-coverage), and stable rustc ships the AddressSanitizer runtime.
# Environment: FUZZ_SANITIZER (address | none, default address), FUZZ_MAX_LEN (default 16384),
# FUZZ_TARGETS (space-separated subset, default all).
set -euo pipefail

seconds="${1:?usage: fuzz/run.sh SECONDS}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v cargo-fuzz >/dev/null; then
    echo "fuzz/run.sh: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi
export RUSTC_BOOTSTRAP=1
sanitizer="${FUZZ_SANITIZER:-address}"
max_len="${FUZZ_MAX_LEN:-16384}"
# Its own target directory: sanitizer flags rebuild every dependency, and a shared one would hold
# the build lock of the main crate's target directory for minutes.
target_dir="$root/fuzz/target"
fuzz=(cargo fuzz)
build_flags=(--sanitizer "$sanitizer" --target-dir "$target_dir")

fuzz/seed-corpus.sh

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
echo "fuzz/run.sh: building $(echo $targets | wc -w) targets (sanitizer: $sanitizer)"
"${fuzz[@]}" build "${build_flags[@]}"

failed=()
for target in $targets; do
    echo "fuzz/run.sh: $target for ${seconds}s"
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    corpora=("fuzz/corpus/$target")
    if [[ -d "fuzz/regressions/$target" ]]; then
        corpora+=("fuzz/regressions/$target")
    fi
    if ! "${fuzz[@]}" run "${build_flags[@]}" "$target" "${corpora[@]}" -- \
        -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 2> "fuzz/artifacts/$target.log"; then
        failed+=("$target")
        tail -n 60 "fuzz/artifacts/$target.log" >&2
        ls -d "fuzz/artifacts/$target"/* >&2 || true
    else
        grep -E '^(stat::number_of_executed_units|stat::new_units_added)|^Done [0-9]+ runs' \
            "fuzz/artifacts/$target.log" || true
    fi
done

if (( ${#failed[@]} )); then
    echo "fuzz/run.sh: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz/run.sh: no crash in $(echo $targets | wc -w) targets x ${seconds}s"
