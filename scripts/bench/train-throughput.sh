#!/usr/bin/env bash
# Training throughput of a student (default mlp:512,256 at batch 256) in distill, against a
# baseline measured in the same run: the same MLP step hand-written in NumPy (OpenBLAS).
# Each side runs three times; the median is reported, and the ratio distill / NumPy.
#
# Usage: scripts/bench/train-throughput.sh [WIDTHS] [BATCH]
# Run it on an otherwise idle machine; absolute numbers from different runs do not compare.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
widths="${1:-512,256}"
batch="${2:-256}"
steps=120
venv="$HOME/.cache/distill-bench-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import numpy" 2>/dev/null || "$venv/bin/pip" install --quiet "numpy==2.3.5"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
median() { sort -n | sed -n 2p; }

for i in 1 2 3; do
    "$distill" train-student --arch "mlp:$widths" --dataset idx:datasets/fashion-mnist \
        --limit $((steps * batch)) --test-limit 1000 --epochs 1 --batch-size "$batch" \
        --out "$tmp/run$i" --json >/dev/null 2>&1
    python3 -c "import json,sys; print(round(json.loads(open(sys.argv[1]).readline())['samples_per_second']))" \
        "$tmp/run$i/metrics.jsonl"
done | median > "$tmp/distill"
for i in 1 2 3; do
    "$venv/bin/python" scripts/bench/numpy_mlp.py "$widths" "$batch" "$steps"
done | median > "$tmp/numpy"

d=$(cat "$tmp/distill"); n=$(cat "$tmp/numpy")
echo "training throughput, mlp:$widths, batch $batch, $steps steps, $(nproc) cores (median of 3)"
printf '  distill (burn flex)  %8d samples/s\n' "$d"
printf '  NumPy baseline       %8d samples/s\n' "$n"
python3 -c "print(f'  ratio distill/NumPy  {$d/$n:8.2f}')"
