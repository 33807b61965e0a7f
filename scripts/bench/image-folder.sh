#!/usr/bin/env bash
# Parallel image decoding: `distill cache-logits` over an image folder of N JPEGs
# (default 2,000 of 256x256, made from Fashion-MNIST images tinted and enlarged, under a
# temporary folder), with the rayon pool at 1 thread against all cores, measured in the
# same run, alternating, three times each. Printed: the medians of the load time (read and
# decode every file to check it; distill's own "checked in" figure), of the caching time
# (decode again per batch, resize the shorter side to 36 and crop 32, run the NHWC test
# teacher with one ONNX Runtime thread, write Parquet; the summary's seconds), and the
# ratios 1 thread / all cores.
#
# Usage: scripts/bench/image-folder.sh [N]
# Run it on an otherwise idle machine; absolute numbers from different runs do not compare.
set -euo pipefail
setup_flags=--no-data
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
n="${1:-2000}"
venv="$HOME/.cache/distill-fixtures-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet -r scripts/fixtures/real-world-requirements.txt

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$venv/bin/python" - "$tmp/images" "$n" <<'PY'
import gzip, os, sys
import numpy as np
from PIL import Image
out, n = sys.argv[1], int(sys.argv[2])
with gzip.open("datasets/fashion-mnist-mini/train-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
with gzip.open("datasets/fashion-mnist-mini/train-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)
for i in range(n):
    gray = images[i % len(images)]
    rgb = np.stack([gray, gray[::-1], gray.T], axis=-1)
    folder = os.path.join(out, f"class{labels[i % len(labels)]}")
    os.makedirs(folder, exist_ok=True)
    Image.fromarray(rgb).resize((256, 256), Image.BILINEAR).save(os.path.join(folder, f"{i:05d}.jpg"), quality=90)
PY
teacher=datasets/teacher/test/nhwc-rgb.onnx
run() { # threads, index
    RAYON_NUM_THREADS="$1" "$distill" cache-logits --teacher "$teacher" \
        --dataset "imagefolder:$tmp/images" --resize-shorter 36 --crop 32 --threads 1 \
        --out "$tmp/cache-$1-$2" --json > "$tmp/summary-$1-$2.json" 2> "$tmp/log-$1-$2.txt"
}
cores="$(nproc)"
echo "image folder: $n JPEGs of 256x256, rayon 1 thread vs $cores" >&2
for i in 1 2 3; do
    run 1 "$i"
    run "$cores" "$i"
done
python3 - "$tmp" "$cores" <<'PY'
import glob, json, re, statistics, sys
tmp, cores = sys.argv[1], sys.argv[2]
def medians(t):
    load = [float(re.search(r"checked in ([0-9.]+) s", open(p).read()).group(1)) for p in glob.glob(f"{tmp}/log-{t}-*.txt")]
    cache = [json.load(open(p))["seconds"] for p in glob.glob(f"{tmp}/summary-{t}-*.json")]
    return statistics.median(load), statistics.median(cache)
l1, c1 = medians("1")
ln, cn = medians(cores)
print(f"| rayon threads | load (read + decode) s | cache-logits s |")
print(f"| --- | --- | --- |")
print(f"| 1 | {l1:.2f} | {c1:.2f} |")
print(f"| {cores} | {ln:.2f} | {cn:.2f} |")
print(f"| ratio 1 / {cores} | {l1 / ln:.2f}x | {c1 / cn:.2f}x |")
PY
