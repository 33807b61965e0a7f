#!/usr/bin/env bash
# Makes the small teachers the tests use, under datasets/teacher/test/:
#   mlp.onnx               a distill-exported MLP (mlp:32) trained 3 epochs on the committed
#                          Fashion-MNIST subset
#   mlp-batch1.onnx        the same with a fixed batch size of 1
#   mlp-batch8.onnx        ... of 8 (the last batch of most splits needs padding)
#   mlp-softmax.onnx       the same ending in softmax (probabilities out)
#   mlp-two-outputs.onnx   outputs "probs" then the logits
#   mlp-nan.onnx           emits NaN for samples whose preprocessed mean is negative
#   mlp-5-classes.onnx     only the first 5 of the 10 logits (a teacher of another class count)
#   mlp-hw-input.onnx      input [batch, 28, 28] without a channel dim
# The variants are derived with the `onnx` Python package (versions pinned in
# scripts/fixtures/requirements.txt), installed into a virtual environment under
# ~/.cache. Training is seeded, so the fixtures are reproducible on one machine.
#
# Usage: scripts/make-test-teachers.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh --no-data
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/distill-target}"
"$root/scripts/build-release.sh"
distill="$CARGO_TARGET_DIR/release/distill"
dest=datasets/teacher/test
run=runs/test-teacher-mlp
mkdir -p "$dest"

"$distill" train-student --arch mlp:32 --dataset idx:datasets/fashion-mnist-mini \
    --mean 0.2860 --std 0.3530 --epochs 3 --batch-size 64 --seed 3 --out "$run" --overwrite
cp "$run/model.onnx" "$dest/mlp.onnx.partial"
mv "$dest/mlp.onnx.partial" "$dest/mlp.onnx"

venv="$HOME/.cache/distill-fixtures-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet -r scripts/fixtures/requirements.txt
"$venv/bin/python" scripts/fixtures/teacher_variants.py "$dest/mlp.onnx" "$dest"
