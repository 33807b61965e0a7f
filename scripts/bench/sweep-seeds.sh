#!/usr/bin/env bash
# Is an 8-epoch distillation gain more than seed noise? Sweeps datasets/sweeps/cnn-seeds.toml
# (cnn:8,16,32, hard labels vs T = 2, alpha = 0.5, 8 epochs, seeds 1-3: the demo's deciding
# comparison until it moved to 48 epochs of cached views) from the demo's plain caches and
# prints the sweep report, where "within noise" marks a gain under two standard errors.
# Resumable (a sweep); about 10 minutes on 2 cores. Run scripts/demo.sh first (it makes the
# caches), and run this on an otherwise idle machine for meaningful latencies.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/demo-caches.sh"
out=runs/bench-sweep-seeds
"$distill" sweep --grid datasets/sweeps/cnn-seeds.toml --out "$out" \
    --dataset idx:datasets/fashion-mnist --mean 0.2860 --std 0.3530 \
    --cache runs/demo/cache-train --test-cache runs/demo/cache-test \
    --teacher datasets/teacher/fashion-mnist-cnn.onnx
