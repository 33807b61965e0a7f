#!/usr/bin/env bash
# Hugging Face Parquet at growing sizes (issue 16): the scale benchmark's generated JPEGs
# (scripts/bench/make_image_folder.py, 1,000 classes, ~80 px) packed into hub-style Parquet
# (scripts/bench/make_parquet.py: 4 files, row groups of 1,000 rows) at 10k and 30k images;
# the scale benchmark's random 1,000-class teacher with a 3x64x64 input. At each size:
#   * cache-logits --storage topk:10 --dtype f16: peak RSS, time to first batch, rows/s;
#   * one epoch of `cnn:8,16,32` at 3x64x64 (--channels 3 --resize 64x64, --max-memory 64M:
#     the resized images kept in a file): peak RSS, time to first batch, samples/s.
# With OLD=path/to/an/older/distill the same is measured with that binary too (e.g. one
# built before Parquet was streamed). Writes runs/bench-parquet/results.md. About 10
# minutes on 2 cores (generating the images is ~2 of them, once).
#
# Usage: scripts/bench/parquet-scale.sh [SIZES]        default: "10000 30000"
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
sizes="${1:-10000 30000}"
out=runs/bench-parquet
binaries=("new|$distill")
[ -n "${OLD:-}" ] && binaries+=("old|$OLD")
mkdir -p "$out"

source scripts/bench/bench-python.sh
teacher="$out/teacher-1000-rgb64.onnx"
[ -f "$teacher" ] || PYTHONPATH="$bench_python" python3 scripts/bench/make_teacher.py "$teacher" 1000 3x64x64 >&2
for n in $sizes; do
    [ -d "$out/parquet-$n" ] && continue
    echo "[bench] generating $n JPEGs and packing them into Parquet (once)" >&2
    PYTHONPATH="$bench_python" python3 scripts/bench/make_image_folder.py "$out/images-$n" "$n" 1000 >&2
    PYTHONPATH="$HOME/.cache/distill-python:$bench_python" python3 scripts/bench/make_parquet.py \
        "$out/images-$n" "$out/parquet-$n.partial" >&2
    mv "$out/parquet-$n.partial" "$out/parquet-$n"
    rm -rf "$out/images-$n"
done

measure() { python3 scripts/bench/measure.py "$@"; }
: > "$out/measurements.jsonl"
for entry in "${binaries[@]}"; do
    IFS='|' read -r which distill <<< "$entry"
    for n in $sizes; do
        data="parquet:$out/parquet-$n"
        rm -rf "$out/cache-$which-$n" "$out/run-$which-$n"
        echo "[bench] $which: cache-logits over $n images" >&2
        measure "preprocessing" "$out/cache-$which-$n.json" -- "$distill" cache-logits \
            --teacher "$teacher" --dataset "$data" --storage topk:10 --dtype f16 \
            --out "$out/cache-$which-$n" --json \
            | sed "s/^{/{\"binary\": \"$which\", \"images\": $n, \"stage\": \"cache-logits\", /" >> "$out/measurements.jsonl"
        echo "[bench] $which: one epoch of cnn:8,16,32 over $n images" >&2
        measure "first batch done" "$out/run-$which-$n.json" -- "$distill" train-student \
            --arch cnn:8,16,32 --dataset "$data" --resize 64x64 --channels 3 \
            --test-split train --test-limit 1000 --epochs 1 --batch-size 256 \
            --temperature 2 --alpha 0.5 --max-memory 64M --cache "$out/cache-$which-$n" \
            --out "$out/run-$which-$n" --json \
            | sed "s/^{/{\"binary\": \"$which\", \"images\": $n, \"stage\": \"train-student\", /" >> "$out/measurements.jsonl"
    done
done

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
rows = [json.loads(l) for l in open(f"{out}/measurements.jsonl")]
mb = lambda b: f"{b / 2**20:,.0f}"
lines = [
    "| binary | images | stage | peak RSS MiB | time to first batch s | wall s | rate |",
    "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
]
for r in rows:
    n, which = r["images"], r["binary"]
    if r["stage"] == "cache-logits":
        s = json.load(open(f"{out}/cache-{which}-{n}.json"))
        rate = f"{s['samples_per_second']:,.0f} rows/s"
    else:
        m = json.loads(open(f"{out}/run-{which}-{n}/metrics.jsonl").readline())
        rate = f"{m['samples_per_second']:,.0f} samples/s"
    lines.append(f"| {which} | {n:,} | {r['stage']} | {mb(r['peak_rss_bytes'])} | "
                 f"{r['first_marker_seconds']} | {r['wall_seconds']} | {rate} |")
text = "\n".join(lines) + "\n"
open(f"{out}/results.md", "w").write(text)
print(text)
PY
