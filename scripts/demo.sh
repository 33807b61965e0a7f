#!/usr/bin/env bash
# The Fashion-MNIST demo (the README's main command). On a fresh machine: sets itself up
# (ONNX Runtime, full Fashion-MNIST), builds distill, caches the committed teacher's logits
# over the training and test images (stage one), then sweeps the students of
# datasets/sweeps/fashion-mnist.toml from that one cache (stage two): every student with its
# hard-label baseline, timed on ONNX Runtime against the teacher. Ends with the report table,
# the plot and best.onnx: the most accurate student (on the validation split) that is at
# least 10x smaller than the teacher. Rerunning reuses the caches and the finished runs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
started=$SECONDS
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/distill-target}"
echo "[demo] building distill (release; the first build takes ~12 minutes on 2 cores)" >&2
"$root/scripts/build-release.sh"
built=$SECONDS
distill="$CARGO_TARGET_DIR/release/distill"
data=idx:datasets/fashion-mnist
teacher=datasets/teacher/fashion-mnist-cnn.onnx

for split in train test; do
    echo "[demo] caching the teacher's logits over the $split split" >&2
    "$distill" cache-logits --teacher "$teacher" --dataset "$data" --split "$split" \
        --out "runs/demo/cache-$split"
done
"$distill" inspect runs/demo/cache-test
echo

echo "[demo] sweeping the students of datasets/sweeps/fashion-mnist.toml" >&2
# The teacher has 871,216 parameters: the budget asks for a student at least 10x smaller.
"$distill" sweep --grid datasets/sweeps/fashion-mnist.toml --out runs/demo/sweep \
    --dataset "$data" --mean 0.2860 --std 0.3530 \
    --cache runs/demo/cache-train --test-cache runs/demo/cache-test \
    --teacher "$teacher" --budget-params 87000
echo "[demo] done in $(( (SECONDS - started) / 60 )) min ($(( (SECONDS - built) / 60 )) min after the build)" >&2
