#!/usr/bin/env bash
# The Fashion-MNIST demo (the README's main command). On a fresh machine: sets itself up
# (ONNX Runtime, full Fashion-MNIST), builds distill, caches the committed teacher's logits
# over the training and test images and over 8 augmented views of each training image
# (stage one), then sweeps the students of datasets/sweeps/fashion-mnist.toml from those
# caches (stage two): every student with its hard-label baseline, timed on ONNX Runtime
# against the teacher. Ends with the report table, the plot and best.onnx: the most accurate
# student (on the validation split) that is at least 10x smaller than the teacher, and why.
# Rerunning reuses the caches and the finished runs.
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
# The deciding student learns from eight views of each training image (a flip and shifts of
# up to 2 pixels, view 0 plain), each with the teacher's logits on exactly that view:
# scripts/bench/views.sh found this beats both labels with the same augmentation and the
# plain cache with a long schedule (README, "Consistent teaching").
echo "[demo] caching the teacher's logits over 8 augmented views of each training image" >&2
"$distill" cache-logits --teacher "$teacher" --dataset "$data" --split train \
    --views 8 --augment flip,shift:2,plain-first --out runs/demo/cache-train-views8
"$distill" inspect runs/demo/cache-test
echo

echo "[demo] sweeping the students of datasets/sweeps/fashion-mnist.toml" >&2
# The teacher has 871,216 parameters: the budget asks for a student at least 10x smaller.
"$distill" sweep --grid datasets/sweeps/fashion-mnist.toml --out runs/demo/sweep \
    --dataset "$data" --mean 0.2860 --std 0.3530 \
    --cache runs/demo/cache-train --test-cache runs/demo/cache-test \
    --teacher "$teacher" --budget-params 87000
echo "[demo] done in $(( (SECONDS - started) / 60 )) min ($(( (SECONDS - built) / 60 )) min after the build)" >&2
