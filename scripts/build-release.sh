#!/usr/bin/env bash
# The release build every script runs: distill and the examples the benchmarks time, in one
# cargo call. Built apart (or by a plain `cargo build --release`), cargo resolves other
# feature sets for burn and its dependencies and builds them again (~10 min on 2 cores), so
# every script builds this same set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/distill-target}"
cargo build --release --quiet --bins --examples
