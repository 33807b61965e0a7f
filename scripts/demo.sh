#!/usr/bin/env bash
# The Fashion-MNIST demo (the README's main command). On a fresh machine: sets itself up
# (ONNX Runtime, full Fashion-MNIST), builds distill, caches the committed teacher's logits
# over the training and test images (stage one), trains the same small student twice from
# the cache (stage two): on the hard labels (alpha = 0) and distilled (T = 2, alpha = 0.5),
# and compares both with the teacher using `distill eval`. Rerunning reuses the finished
# caches and runs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/distill-target}"
echo "[demo] building distill (release; the first build takes ~12 minutes on 2 cores)" >&2
cargo build --release --quiet
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

train() { # NAME FLAGS...: mlp:512,256 for 10 epochs from the caches
    local name="$1"
    shift
    echo "[demo] training student mlp:512,256 ($name, 10 epochs)" >&2
    "$distill" train-student --arch mlp:512,256 --dataset "$data" \
        --mean 0.2860 --std 0.3530 --epochs 10 --batch-size 256 --lr 1e-3 --seed 1 \
        --cache runs/demo/cache-train --test-cache runs/demo/cache-test "$@" \
        --out "runs/demo/mlp-512-256-$name"
}
train hard --alpha 0
train distilled --temperature 2 --alpha 0.5

for model in "$teacher" runs/demo/mlp-512-256-hard/model.onnx runs/demo/mlp-512-256-distilled/model.onnx; do
    echo "[demo] evaluating $model on the 10,000 test images" >&2
    "$distill" eval --model "$model" --dataset "$data" --split test --threads 1
    echo
done
