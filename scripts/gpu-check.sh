#!/usr/bin/env bash
# The GPU check of issue 18, for a machine with an NVIDIA GPU (about 10 minutes):
#   1. builds distill with students on CUDA (--features cuda) and fetches the GPU build of
#      ONNX Runtime with its CUDA libraries (scripts/setup.sh --gpu);
#   2. caches the demo teacher's logits over full Fashion-MNIST (60,000 training images) on
#      the CPU and on the GPU, and compares them: max |difference| <= 1e-3 and the same
#      top-1 class for >= 99.9 % of the rows, or the check fails; times both;
#   3. trains cnn:8,16,32 for 2 epochs from the GPU cache on the GPU, and 1 epoch on the
#      CPU, and reports samples per second of each.
# Writes runs/gpu-check/results.md (the figures the README's GPU section quotes).
#
# GPU_CHECK_DEVICE=cpu runs the same script with the CPU in the GPU's place: it checks the
# script itself on a machine without a GPU (nothing is then said about GPUs).
#
# Usage: scripts/gpu-check.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
device="${GPU_CHECK_DEVICE:-cuda}"
out=runs/gpu-check
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/distill-target}"

if [ "$device" = cpu ]; then
    scripts/setup.sh >/dev/null
    "$root/scripts/build-release.sh"
else
    scripts/setup.sh --gpu >/dev/null
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2 || true
    cargo build --release --quiet --features cuda --bin distill
fi
distill="$CARGO_TARGET_DIR/release/distill"
# NumPy and pyarrow, as scripts/setup.sh installs them, for the comparison.
python_deps="${DISTILL_PYTHON_DEPS:-$HOME/.cache/distill-python}"
rm -rf "$out"
mkdir -p "$out"
data="idx:datasets/fashion-mnist"
teacher=datasets/teacher/fashion-mnist-cnn.onnx

for d in cpu "$device"; do
    name="$d"
    [ "$d" = cpu ] && [ -d "$out/cache-cpu" ] && name="$d-again"
    echo "[gpu-check] caching the teacher's logits on $d" >&2
    "$distill" cache-logits --teacher "$teacher" --dataset "$data" --split train \
        --device "$d" --out "$out/cache-$name" --json > "$out/cache-$name.json"
done
gpu_cache="$out/cache-$device"
[ "$device" = cpu ] && gpu_cache="$out/cache-cpu-again"

echo "[gpu-check] training cnn:8,16,32 on $device (2 epochs) and on the CPU (1 epoch)" >&2
"$distill" train-student --arch cnn:8,16,32 --dataset "$data" --cache "$gpu_cache" \
    --epochs 2 --temperature 2 --alpha 0.5 --device "$device" --out "$out/student-$device" \
    --json > "$out/student-$device.json"
"$distill" train-student --arch cnn:8,16,32 --dataset "$data" --cache "$out/cache-cpu" \
    --epochs 1 --temperature 2 --alpha 0.5 --device cpu --out "$out/student-reference" \
    --json > "$out/student-reference.json"

PYTHONPATH="$python_deps" python3 - "$out" "$gpu_cache" "$device" <<'PY'
import json, sys
import numpy as np
import pyarrow.parquet as pq
from pathlib import Path

out, gpu_cache, device = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

def logits(cache):
    table = pq.read_table(sorted(Path(cache).glob("part-*.parquet")))
    ids = table.column("sample_id").to_numpy()
    values = np.stack(table.column("logits").to_numpy(zero_copy_only=False))
    return values[np.argsort(ids)]

cpu, gpu = logits(out / "cache-cpu"), logits(gpu_cache)
diff = float(np.abs(cpu - gpu).max())
same_top1 = float((cpu.argmax(1) == gpu.argmax(1)).mean())
cpu_rate = json.load(open(out / "cache-cpu.json"))["samples_per_second"]
gpu_rate = json.load(open(f"{gpu_cache}.json"))["samples_per_second"]
reference = json.load(open(out / "student-reference.json"))
student = json.load(open(out / f"student-{device}.json"))

def rate(result):
    return 60000 * result["epochs"] / result["train_seconds"]

lines = [
    f"| stage | cpu | {device} | ratio |",
    "| --- | ---: | ---: | ---: |",
    "| cache-logits, 60,000 images (rows/s) | {:.0f} | {:.0f} | {:.2f} |".format(
        cpu_rate, gpu_rate, gpu_rate / cpu_rate),
    "| train-student cnn:8,16,32 (samples/s, incl. evaluation) | {:.0f} | {:.0f} | {:.2f} |".format(
        rate(reference), rate(student), rate(student) / rate(reference)),
    "",
    f"Logits on {device} against the CPU: max |difference| {diff:.2e}, same top-1 class for "
    f"{100 * same_top1:.3f} % of the 60,000 rows. Student on {device}: "
    f"{100 * student['test_accuracy']:.2f} % test accuracy after 2 epochs.",
]
(out / "results.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
ok = diff <= 1e-3 and same_top1 >= 0.999
print("PASS" if ok else "FAIL: logits differ more than allowed (1e-3, 99.9 % top-1)")
sys.exit(0 if ok else 1)
PY
