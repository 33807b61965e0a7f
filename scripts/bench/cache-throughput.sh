#!/usr/bin/env bash
# Stage-one throughput and memory of `distill cache-logits` on the demo teacher.
#
# Throughput: cache-logits over the first N training images (default all 60,000) against a
# baseline measured in the same run: a bare loop of session.run over batches preprocessed
# beforehand (examples/bare_session_loop.rs), same batch size and threads. Each side runs
# three times, alternating; medians and the ratio cache-logits / bare loop are printed. The
# cache-logits figure is its own summary's samples/s: the streaming pipeline (preprocess,
# inference, Parquet) from the first batch to the final manifest. The end-to-end wall time
# of the process (which also loads the IDX files and opens the session) is printed too.
#
# Memory: peak RSS of cache-logits over 6,000 and 60,000 images, next to the dataset's
# decoded size (pixels, ids, labels); the overhead (peak - decoded) must not grow with the
# dataset.
#
# Usage: scripts/bench/cache-throughput.sh [N] [BATCH] [THREADS]
# Run it on an otherwise idle machine; absolute numbers from different runs do not compare.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
n="${1:-60000}"
batch="${2:-256}"
threads="${3:-2}"
teacher=datasets/teacher/fashion-mnist-cnn.onnx
data=idx:datasets/fashion-mnist
bare="$CARGO_TARGET_DIR/release/examples/bare_session_loop"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

echo "cache-logits vs bare session.run loop: $n samples, batch $batch, $threads threads" >&2
for i in 1 2 3; do
    "$bare" "$teacher" "$data" train "$n" "$batch" "$threads" > "$tmp/bare$i.json"
    start=$(date +%s.%N)
    "$distill" cache-logits --teacher "$teacher" --dataset "$data" --split train --limit "$n" \
        --batch-size "$batch" --threads "$threads" --out "$tmp/cache$i" --json \
        > "$tmp/cache$i.json" 2>/dev/null
    end=$(date +%s.%N)
    python3 -c "import sys; print(float(sys.argv[2]) / (float(sys.argv[1])))" \
        "$(python3 -c "print($end - $start)")" "$n" > "$tmp/wall$i"
    echo "  run $i: bare $(field "$tmp/bare$i.json" samples_per_second | cut -d. -f1)/s," \
        "cache-logits $(field "$tmp/cache$i.json" samples_per_second | cut -d. -f1)/s" >&2
done
python3 - "$tmp" <<'PY'
import json, statistics, sys
tmp = sys.argv[1]
bare = statistics.median(json.load(open(f"{tmp}/bare{i}.json"))["samples_per_second"] for i in (1, 2, 3))
cache = statistics.median(json.load(open(f"{tmp}/cache{i}.json"))["samples_per_second"] for i in (1, 2, 3))
wall = statistics.median(float(open(f"{tmp}/wall{i}").read()) for i in (1, 2, 3))
c = json.load(open(f"{tmp}/cache1.json"))
print(f"bare session.run loop   {bare:10.0f} samples/s (median of 3)")
print(f"cache-logits pipeline   {cache:10.0f} samples/s (median of 3)")
print(f"ratio                   {cache / bare:10.3f}  (target >= 0.95)")
print(f"cache-logits end to end {wall:10.0f} samples/s (process wall time, incl. loading)")
print(f"cache size              {c['bytes_on_disk']} bytes, {c['bytes_per_sample']:.1f} bytes/sample")
PY

echo "peak memory (decoded dataset = 784 pixel bytes + 8 id bytes + 4 label bytes per sample)" >&2
# The 6,000-image set is cut into its own files, so that nothing of the full set is loaded.
python3 scripts/make-mini-dataset.py 6000 1000 "$tmp/fm6000"
for m in 6000 60000; do
    mdata="$data"
    [ "$m" = 6000 ] && mdata="idx:$tmp/fm6000"
    "$distill" cache-logits --teacher "$teacher" --dataset "$mdata" --split train \
        --batch-size "$batch" --threads "$threads" --out "$tmp/mem$m" --json \
        > "$tmp/mem$m.json" 2>/dev/null
done
python3 - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
over = {}
for m in (6000, 60000):
    peak = json.load(open(f"{tmp}/mem{m}.json"))["peak_rss_bytes"]
    decoded = m * (784 + 8 + 4)
    over[m] = peak - decoded
    print(f"{m:6d} samples: peak RSS {peak / 2**20:7.1f} MiB, decoded data {decoded / 2**20:6.1f} MiB, overhead {over[m] / 2**20:6.1f} MiB")
d = (over[60000] - over[6000]) / 2**20
print(f"overhead growth 6k -> 60k: {d:.1f} MiB (target < 50 MB)")
PY
