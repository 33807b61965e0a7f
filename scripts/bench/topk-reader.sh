#!/usr/bin/env bash
# Top-k storage at 1,000 classes: bytes per row, and whether reading a top-k cache keeps a
# training step fed. A random-weight 1,000-class teacher (scripts/bench/make_teacher.py) is
# cached over full Fashion-MNIST's 60,000 training images dense (f32, f16) and as
# topk:10 / topk:50 (f16, and topk:10 in f32). Then, in the same run:
#   * the reader alone (examples/read_targets.rs: join, then one epoch of batches of 256
#     with the teacher side of the loss built, no student), loaded and streamed;
#   * one epoch of `cnn:8,16,32` trained from the cache (train-student's samples/s);
# and prints bytes/row, each rate and the reader/training ratio. Writes
# runs/bench-topk-reader/results.md. About 10 minutes on 2 cores; run it on an otherwise
# idle machine (the ratio compares two rates measured minutes apart).
#
# Usage: scripts/bench/topk-reader.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
out=runs/bench-topk-reader
data=idx:datasets/fashion-mnist
reader="$CARGO_TARGET_DIR/release/examples/read_targets"
mkdir -p "$out"

# The teacher generator needs onnx.
source scripts/bench/bench-python.sh
teacher="$out/teacher-1000.onnx"
[ -f "$teacher" ] || PYTHONPATH="$bench_python" python3 scripts/bench/make_teacher.py "$teacher" 1000 1x28x28 >&2

settings=(
    "dense-f32|--storage dense --dtype f32"
    "dense-f16|--storage dense --dtype f16"
    "topk10-f32|--storage topk:10 --dtype f32"
    "topk10-f16|--storage topk:10 --dtype f16"
    "topk50-f16|--storage topk:50 --dtype f16"
)
for entry in "${settings[@]}"; do
    name="${entry%%|*}"
    read -r -a flags <<< "${entry#*|}"
    echo "[bench] cache $name" >&2
    "$distill" cache-logits --teacher "$teacher" --dataset "$data" --split train \
        --mean 0.2860 --std 0.3530 "${flags[@]}" --out "$out/cache-$name" --json \
        > "$out/cache-$name.json"
    "$reader" "$out/cache-$name" "$data" train 2 > "$out/reader-$name.jsonl"
done
# One training epoch from each kind of cache (the student's head has 1,000 outputs).
for name in dense-f32 topk10-f16; do
    rm -rf "$out/run-$name"
    echo "[bench] one epoch of cnn:8,16,32 from $name" >&2
    "$distill" train-student --arch cnn:8,16,32 --dataset "$data" --mean 0.2860 --std 0.3530 \
        --epochs 1 --batch-size 256 --temperature 2 --alpha 0.5 --cache "$out/cache-$name" \
        --out "$out/run-$name" --json > /dev/null
done

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
names = ["dense-f32", "dense-f16", "topk10-f32", "topk10-f16", "topk50-f16"]
train = {n: json.loads(open(f"{out}/run-{n}/metrics.jsonl").readline())["samples_per_second"]
         for n in ("dense-f32", "topk10-f16")}
lines = [
    "1,000-class random teacher over Fashion-MNIST's 60,000 training images; reader = join + one "
    "epoch of batches of 256 with the loss's teacher side built (examples/read_targets.rs); "
    f"one epoch of `cnn:8,16,32` trains at {train['dense-f32']:,.0f} samples/s from dense f32, "
    f"{train['topk10-f16']:,.0f} from topk:10 f16.",
    "",
    "| storage | bytes/row on disk | vs dense f32 | reader rows/s, loaded | streamed | loaded reader ÷ training step |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
]
dense = json.load(open(f"{out}/cache-dense-f32.json"))["bytes_per_sample"]
for n in names:
    size = json.load(open(f"{out}/cache-{n}.json"))["bytes_per_sample"]
    rates = {r["mode"]: r for r in map(json.loads, open(f"{out}/reader-{n}.jsonl"))}
    step = train.get(n, train["topk10-f16"] if "topk" in n else train["dense-f32"])
    lines.append(
        f"| {n} | {size:,.1f} | {100 * size / dense:.2f} % | {rates['loaded']['rows_per_second']:,.0f} | "
        f"{rates['streamed']['rows_per_second']:,.0f} | {rates['loaded']['rows_per_second'] / step:.0f}× |"
    )
text = "\n".join(lines) + "\n"
open(f"{out}/results.md", "w").write(text)
print(text)
PY
