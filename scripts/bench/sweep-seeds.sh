#!/usr/bin/env bash
# Is the demo's distillation gain more than seed noise? Sweeps datasets/sweeps/cnn-seeds.toml
# (cnn:8,16,32, hard labels vs T = 2, alpha = 0.5, 8 epochs, seeds 1-3) from the demo's
# caches and prints the sweep report, where "within noise" marks a gain under two standard
# errors. Resumable (a sweep); about 25 minutes on 2 cores (seed 1 comes from the demo). Run scripts/demo.sh first (it
# makes the caches), and run this on an otherwise idle machine for meaningful latencies.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/demo-caches.sh"
# Seed 1 of both settings is the demo's own run (same grid block, caches and validation
# split, so the same config.json): reuse it rather than train it again.
out=runs/bench-sweep-seeds
if [ ! -d "$out/runs/cnn-8-16-32" ] && [ -d runs/demo/sweep/runs/cnn-8-16-32 ]; then
    mkdir -p "$out/runs"
    cp -r runs/demo/sweep/runs/cnn-8-16-32 "$out/runs/"
fi
"$distill" sweep --grid datasets/sweeps/cnn-seeds.toml --out "$out" \
    --dataset idx:datasets/fashion-mnist --mean 0.2860 --std 0.3530 \
    --cache runs/demo/cache-train --test-cache runs/demo/cache-test \
    --teacher datasets/teacher/fashion-mnist-cnn.onnx
