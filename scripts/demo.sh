#!/usr/bin/env bash
# The Fashion-MNIST demo (the README's main command). On a fresh machine: sets itself up
# (ONNX Runtime, full Fashion-MNIST), builds distill, trains a small student on the hard
# labels, and compares it with the committed teacher using `distill eval`.
#
# Stage one (cache-logits) and stage two (train-student --cache) will extend this into the
# full distillation demo; today it shows the baseline every distilled student is judged by.
# Rerunning reuses the finished run.
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
student=runs/demo/mlp-512-256

echo "[demo] training student mlp:512,256 on the hard labels (10 epochs)" >&2
"$distill" train-student --arch mlp:512,256 --dataset "$data" \
    --mean 0.2860 --std 0.3530 --epochs 10 --batch-size 256 --lr 1e-3 --seed 1 \
    --out "$student"

for model in "$teacher" "$student/model.onnx"; do
    echo "[demo] evaluating $model on the 10,000 test images" >&2
    "$distill" eval --model "$model" --dataset "$data" --split test --threads 1
    echo
done
