#!/usr/bin/env bash
# The student families on full Fashion-MNIST with the demo teacher (issue 19): sweeps
# datasets/sweeps/families.toml (cnn, resnet and mobilenet students of a few sizes, hard
# labels against T = 2, alpha = 0.5, 8 epochs, seeds 1-3) from the demo's caches and prints
# the sweep report: parameters, MACs per sample, batch-1 latency in ONNX Runtime (1 thread),
# test accuracy mean ± std, agreement with the teacher, size and speed against the teacher,
# the Pareto front. Resumable (a sweep: rerun after a stop and it continues). Several hours
# on 2 cores; run scripts/demo.sh first (it makes the caches), on an otherwise idle machine.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/demo-caches.sh"
"$distill" sweep --grid datasets/sweeps/families.toml --out runs/bench-families \
    --dataset idx:datasets/fashion-mnist --mean 0.2860 --std 0.3530 \
    --cache runs/demo/cache-train --test-cache runs/demo/cache-test \
    --teacher datasets/teacher/fashion-mnist-cnn.onnx "$@"
