#!/usr/bin/env bash
# The test command of the README (and of CI): sets up ONNX Runtime, then runs every test.
# Tests use the committed Fashion-MNIST subset, so the full dataset is not fetched.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh --no-data
# A target directory outside the clone, so reruns (and CI on fresh clones) reuse the build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/distill-target}"
cargo test --workspace "$@"
