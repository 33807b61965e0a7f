#!/usr/bin/env bash
# Training and evaluation throughput of students in distill against PyTorch, measured in
# the same run on the same data: the same architecture (for cnn: two 3x3 convs without bias
# + batch-norm + ReLU and a 2x2 max-pool per block, then a linear head), loss, optimizer
# (AdamW), batch (256) and Fashion-MNIST images in memory. Per student, hard labels and KD
# from a cache (T = 2, alpha = 0.5): one epoch of training steps, and forward-only
# throughput over the test images (PyTorch under torch.no_grad()), after a warm-up pass, in
# whole passes for at least a second. distill and PyTorch alternate, RUNS times each (5 by
# default: single epochs on this machine now and then run a quarter slower, on either side,
# and a median of 3 still caught one); the medians and their ratio are printed.
#
# The residual and depthwise families (resnet:, mobilenet:) are defined alike on both sides:
# crates/student/src/families.rs and scripts/bench/torch_students.py.
#
# Usage: [RUNS=N] scripts/bench/train-vs-pytorch.sh [STUDENT ...]
#   (default: cnn:8,16,32 cnn:32,64 mlp:512,256 resnet:8,16,32 mobilenet:16,32,64,width=0.5)
# Needs the full Fashion-MNIST (scripts/setup.sh) and PyTorch (installed into a venv under
# ~/.cache on first use: the default wheel, ~3 GB, runs on the CPU). Run it on an otherwise
# idle machine: PyTorch's threads slow down by an order of magnitude when another process
# holds a core. Absolute numbers from different runs do not compare.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
students=("$@")
[ ${#students[@]} -gt 0 ] || students=("cnn:8,16,32" "cnn:32,64" "mlp:512,256" "resnet:8,16,32" "mobilenet:16,32,64,width=0.5")
threads=$(nproc)
forward="$CARGO_TARGET_DIR/release/examples/student_forward"
venv="${TORCH_VENV:-$HOME/.cache/distill-torch-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import torch, numpy, pyarrow" 2>/dev/null \
    || "$venv/bin/pip" install --quiet torch numpy pyarrow

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
data=idx:datasets/fashion-mnist
"$distill" cache-logits --teacher datasets/teacher/fashion-mnist-cnn.onnx --dataset "$data" \
    --split train --out "$tmp/cache" >/dev/null 2>&1
runs=${RUNS:-5}
median() { sort -g | sed -n "$(((runs + 1) / 2))p"; }
json() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }
metric() { python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['samples_per_second'])" "$1"; }

printf '%-28s %-5s %14s %14s %7s   %14s %14s %7s\n' student mode "distill train" "torch train" ratio \
    "distill eval" "torch eval" ratio
for arch in "${students[@]}"; do
    # Enough steps for a stable figure, few enough for the slow students.
    case "$arch" in cnn:32*) limit=2560 ;; cnn:* | resnet:* | mobilenet:*) limit=10240 ;; *) limit=40960 ;; esac
    for mode in hard kd; do
        kd_flags=(); cache_arg=()
        if [ "$mode" = kd ]; then
            kd_flags=(--cache "$tmp/cache" --temperature 2 --alpha 0.5); cache_arg=("$tmp/cache")
        fi
        : > "$tmp/dt"; : > "$tmp/tt"; : > "$tmp/de"; : > "$tmp/te"
        for i in $(seq "$runs"); do
            "$distill" train-student --arch "$arch" --dataset "$data" --limit "$limit" \
                --test-limit 500 --epochs 1 --batch-size 256 --mean 0.2860 --std 0.3530 \
                "${kd_flags[@]}" --out "$tmp/run-$mode-$i" --json >/dev/null 2>&1
            metric "$tmp/run-$mode-$i/metrics.jsonl" >> "$tmp/dt"
            "$forward" "$arch" "$data" test 5000 500 | json samples_per_second >> "$tmp/de"
            out=$("$venv/bin/python" scripts/bench/torch_students.py "$arch" datasets/fashion-mnist \
                "$limit" 5000 256 "$threads" "${cache_arg[@]}")
            echo "$out" | json train_samples_per_second >> "$tmp/tt"
            echo "$out" | json eval_samples_per_second >> "$tmp/te"
            rm -rf "$tmp/run-$mode-$i"
        done
        dt=$(median < "$tmp/dt"); tt=$(median < "$tmp/tt")
        de=$(median < "$tmp/de"); te=$(median < "$tmp/te")
        python3 - "$arch" "$mode" "$dt" "$tt" "$de" "$te" <<'PY'
import sys
arch, mode, dt, tt, de, te = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:])
print(f"{arch:<28} {mode:<5} {dt:14.0f} {tt:14.0f} {dt / tt:7.2f}   {de:14.0f} {te:14.0f} {de / te:7.2f}")
PY
    done
done
echo "samples/s, median of $runs alternating runs, batch 256 (eval: 500), $threads threads each"
