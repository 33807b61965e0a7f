#!/usr/bin/env bash
# Trains the demo teacher: a CNN of ~0.87 M parameters and ~19 M multiply-accumulates per
# sample on full Fashion-MNIST, with `distill train-student`, then measures it with
# `distill eval`. Resumable: rerun after an interruption and it continues from the last
# finished epoch. Takes about an hour on 2 cores.
#
# Usage: scripts/make-teacher.sh [RUN_DIR]   (default runs/teacher)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
run="${1:-runs/teacher}"
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/distill-target}"
cargo build --release --quiet
distill="$CARGO_TARGET_DIR/release/distill"

"$distill" train-student \
    --arch cnn:32,64,fc=256,dropout=0.3 \
    --dataset idx:datasets/fashion-mnist --split train --test-split test \
    --mean 0.2860 --std 0.3530 \
    --epochs 8 --batch-size 128 --lr 1e-3 --weight-decay 0.01 --seed 7 \
    --augment flip \
    --out "$run"

"$distill" eval --model "$run/model.onnx" --dataset idx:datasets/fashion-mnist --split test --json \
    > "$run/eval.json"
cat "$run/eval.json"
