#!/usr/bin/env bash
# Batch-1 latency of ResNet students before training (issue 19): scripts/bench/resnet_latency.py
# builds each spec's graph with random weights and times it against the demo teacher in
# ONNX Runtime's Python package (the version the project pins, installed into
# ~/.cache/distill-ort-python once), one thread, on an otherwise idle machine. A minute.
#
# Usage: scripts/bench/resnet-latency.sh [SPEC...]   default: the strided ResNets of the
# families grid and their stem=2 relatives
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
scripts/setup.sh >/dev/null
source scripts/bench/bench-python.sh
ort_python="$HOME/.cache/distill-ort-python"
scripts/pip-into.sh "$ort_python" "onnxruntime==$(cat .onnxruntime/VERSION)" numpy==2.4.6
specs=("$@")
[ ${#specs[@]} -gt 0 ] || specs=(
    resnet:16,32,64,blocks=1
    resnet:16,32,64,blocks=1,stride=2
    resnet:12,24,48,blocks=1,stride=2
    resnet:16,32,48,blocks=1,stride=2
    resnet:16,32,64,blocks=1,stem=2
    resnet:16,32,48,blocks=1,stem=2
    resnet:16,32,64,blocks=1,stride=2,stem=2
    resnet:32,32,48,blocks=1,stride=2,stem=2
    resnet:32,32,64,blocks=1,stride=2,stem=2
)
PYTHONPATH="$ort_python:$bench_python" python3 scripts/bench/resnet_latency.py \
    datasets/teacher/fashion-mnist-cnn.onnx "${specs[@]}"
