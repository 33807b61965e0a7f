#!/usr/bin/env bash
# ImageNet-shaped scale on one machine: a generated folder of RGB JPEGs in 1,000 classes
# (scripts/bench/make_image_folder.py; ~80 px a side, varying) and a random-weight
# 1,000-class teacher with a 3x64x64 input (scripts/bench/make_teacher.py). At 10k, 30k and
# 100k images (the smaller folders are hard links into the largest):
#   * cache-logits --storage topk:10 --dtype f16: peak RSS, time to first batch (until the
#     teacher line, printed after the first batch ran), rows/s, bytes per row;
#   * one epoch of `cnn:8,16,32` at 3x64x64 from that cache (--channels 3 --resize 64x64:
#     the student's input fixed, so no image's header is read first), with --max-memory 64M (so the
#     images at the student's size are kept in a file in the run directory at every size,
#     decoded by the epoch's batches): peak RSS, time to first batch (until the "training"
#     line), samples/s;
# plus the student's loader alone at the largest size (examples/read_images.rs: a shuffled
# epoch that decodes and keeps, then one that reads the kept bytes, against the training
# step's samples/s), and bytes per row of dense f32 / dense f16 / topk:50 f16 at 10k. Writes
# runs/bench-scale/results.md. About 20 minutes on 2 cores (the 100k folder's generation
# is ~5 of them, once); run it on an otherwise idle machine.
#
# Usage: scripts/bench/scale.sh [SIZES]        default: "10000 30000 100000"
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
sizes="${1:-10000 30000 100000}"
largest=$(echo "$sizes" | tr ' ' '\n' | sort -n | tail -1)
out=runs/bench-scale
loader="$CARGO_TARGET_DIR/release/examples/read_images"
mkdir -p "$out"

source scripts/bench/bench-python.sh
teacher="$out/teacher-1000-rgb64.onnx"
[ -f "$teacher" ] || PYTHONPATH="$bench_python" python3 scripts/bench/make_teacher.py "$teacher" 1000 3x64x64 >&2
echo "[bench] generating $largest JPEGs (once)" >&2
PYTHONPATH="$bench_python" python3 scripts/bench/make_image_folder.py "$out/images-$largest" "$largest" 1000 >&2
for n in $sizes; do
    [ "$n" = "$largest" ] || [ -d "$out/images-$n" ] && continue
    # The first n/1000 images of each class, hard-linked.
    mkdir -p "$out/images-$n.partial"
    for class in "$out/images-$largest"/n*; do
        mkdir -p "$out/images-$n.partial/$(basename "$class")"
        find "$class" -name '*.JPEG' | sort | head -n $((n / 1000)) |
            xargs -I{} ln -f {} "$out/images-$n.partial/$(basename "$class")/"
    done
    mv "$out/images-$n.partial" "$out/images-$n"
done

measure() { python3 scripts/bench/measure.py "$@"; }
: > "$out/measurements.jsonl"
for n in $sizes; do
    data="imagefolder:$out/images-$n"
    rm -rf "$out/cache-$n"
    echo "[bench] cache-logits over $n images" >&2
    measure "preprocessing" "$out/cache-$n.json" -- "$distill" cache-logits --teacher "$teacher" \
        --dataset "$data" --storage topk:10 --dtype f16 --out "$out/cache-$n" --json \
        | sed "s/^{/{\"images\": $n, \"stage\": \"cache-logits\", /" >> "$out/measurements.jsonl"
    rm -rf "$out/run-$n"
    echo "[bench] one epoch of cnn:8,16,32 over $n images" >&2
    measure "first batch done" "$out/run-$n.json" -- "$distill" train-student --arch cnn:8,16,32 \
        --dataset "$data" --resize 64x64 --channels 3 --test-dataset "imagefolder:$out/images-10000" \
        --test-limit 1000 --epochs 1 --batch-size 256 --temperature 2 --alpha 0.5 --max-memory 64M \
        --cache "$out/cache-$n" --out "$out/run-$n" --json \
        | sed "s/^{/{\"images\": $n, \"stage\": \"train-student\", /" >> "$out/measurements.jsonl"
done
# The student's loader alone at the largest size: a shuffled epoch decoding to 64x64 into a
# file, then one reading it back (examples/read_images.rs).
"$loader" "imagefolder:$out/images-$largest" 64 "$out/loader.u8" > "$out/loader.json"
first=$(echo "$sizes" | tr ' ' '\n' | sort -n | head -1)
for storage in "dense f32" "dense f16" "topk:50 f16"; do
    read -r kind dtype <<< "$storage"
    name="${kind/:/}-$dtype"
    rm -rf "$out/size-$name"
    "$distill" cache-logits --teacher "$teacher" --dataset "imagefolder:$out/images-$first" \
        --storage "$kind" --dtype "$dtype" --out "$out/size-$name" --json > "$out/size-$name.json"
done

python3 - "$out" "$first" "$largest" <<'PY'
import json, sys
out, first, largest = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(l) for l in open(f"{out}/measurements.jsonl")]
mb = lambda b: f"{b / 2**20:,.0f}"
lines = [
    "| images | stage | peak RSS MiB | time to first batch s | wall s | rate | bytes/row |",
    "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
]
for r in rows:
    n = r["images"]
    if r["stage"] == "cache-logits":
        s = json.load(open(f"{out}/cache-{n}.json"))
        rate, size = f"{s['samples_per_second']:,.0f} rows/s", f"{s['bytes_per_sample']:.1f}"
    else:
        m = json.loads(open(f"{out}/run-{n}/metrics.jsonl").readline())
        rate, size = f"{m['samples_per_second']:,.0f} samples/s", ""
    lines.append(f"| {n:,} | {r['stage']} | {mb(r['peak_rss_bytes'])} | {r['first_marker_seconds']} | "
                 f"{r['wall_seconds']} | {rate} | {size} |")
lines += ["", f"Bytes per row at {int(first):,} images, 1,000 classes:", "",
          "| storage | bytes/row |", "| --- | ---: |"]
for name in ["dense-f32", "dense-f16", "topk50-f16"]:
    lines.append(f"| {name} | {json.load(open(f'{out}/size-{name}.json'))['bytes_per_sample']:,.1f} |")
lines.append(f"| topk10-f16 | {json.load(open(f'{out}/cache-{first}.json'))['bytes_per_sample']:,.1f} |")
loader = json.load(open(f"{out}/loader.json"))
step = json.loads(open(f"{out}/run-{largest}/metrics.jsonl").readline())["samples_per_second"]
first_rate = loader['first_epoch_samples_per_second']
lines += ["", f"The student's loader alone at {int(largest):,} images (examples/read_images.rs): the first "
          f"epoch, which decodes every image to 64x64 and keeps it in the file, runs at {first_rate:,} samples/s "
          f"({first_rate / step:.0f}× the training step's {step:,.0f}); the next, reading the kept bytes, at "
          f"{loader['samples_per_second']:,} samples/s ({loader['samples_per_second'] / step:.0f}×)."]
text = "\n".join(lines) + "\n"
open(f"{out}/results.md", "w").write(text)
print(text)
PY
