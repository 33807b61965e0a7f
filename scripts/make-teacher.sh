#!/usr/bin/env bash
# Trains the demo teacher: a CNN of 0.87 M parameters and 19.1 M multiply-accumulates per
# sample on full Fashion-MNIST, with `distill train-student`; measures it with `distill
# eval`; copies it to datasets/teacher/ with a provenance file. Resumable: rerun after an
# interruption and training continues from the last finished epoch (a finished run is
# reused). Takes about an hour on 2 cores.
#
# Usage: scripts/make-teacher.sh [RUN_DIR]   (default runs/teacher)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
run="${1:-runs/teacher}"
dest=datasets/teacher
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/distill-target}"
"$root/scripts/build-release.sh"
distill="$CARGO_TARGET_DIR/release/distill"

train_args=(
    train-student
    --arch cnn:32,64,fc=256,dropout=0.3
    --dataset idx:datasets/fashion-mnist --split train --test-split test
    --mean 0.2860 --std 0.3530
    --epochs 8 --batch-size 128 --lr 1e-3 --weight-decay 0.01 --seed 7
    --augment flip
    --out "$run"
)
"$distill" "${train_args[@]}"
"$distill" eval --model "$run/model.onnx" --dataset idx:datasets/fashion-mnist --split test \
    --threads 1 --json > "$run/eval.json"

mkdir -p "$dest"
cp "$run/model.onnx" "$dest/fashion-mnist-cnn.onnx.partial"
mv "$dest/fashion-mnist-cnn.onnx.partial" "$dest/fashion-mnist-cnn.onnx"
python3 - "$run" "$dest" "distill ${train_args[*]}" <<'PY'
import json, sys, hashlib, platform, os
run, dest, command = sys.argv[1:4]
result = json.load(open(f"{run}/result.json"))
config = json.load(open(f"{run}/config.json"))
metrics = [json.loads(l) for l in open(f"{run}/metrics.jsonl")]
ev = json.load(open(f"{run}/eval.json"))
sha = hashlib.sha256(open(f"{dest}/fashion-mnist-cnn.onnx", "rb").read()).hexdigest()
rows = "\n".join(
    f"| {m['epoch']} | {m['train_loss']:.4f} | {100*m['train_accuracy']:.2f} % | {100*m['test_accuracy']:.2f} % | {m['seconds']:.0f} |"
    for m in metrics)
pre = config["preprocess"]
fmt = lambda xs: ", ".join(f"{x:.6g}" for x in xs)
text = f"""# Demo teacher: `fashion-mnist-cnn.onnx`

Made by `scripts/make-teacher.sh` (written by it; do not edit by hand).

- Architecture: `{result['arch']}`: two conv blocks (3x3 conv + batch-norm + ReLU, twice,
  then 2x2 max-pool) of 32 and 64 channels, a dense layer of 256 with dropout 0.3, a linear
  head of 10.
- Size: {result['params']:,} learnable parameters, {result['macs']:,} multiply-accumulates per
  sample; ONNX file {ev['file_bytes']:,} bytes, sha256 `{sha}`.
- Input: `[batch, 1, 28, 28]` float32, batch dynamic, preprocessed as
  `(byte * {pre['scale']:.6g} - [{fmt(pre['mean'])}]) / [{fmt(pre['std'])}]` (the ONNX metadata key
  `distill.preprocess` records this). Output: logits `[batch, 10]`.
- Data: full Fashion-MNIST from Debian's `dataset-fashion-mnist` (60,000 training images;
  fingerprint `{config['train_data']['fingerprint']}`), tested on the 10,000 test images.
- Training: {config['epochs']} epochs, batch {config['batch_size']}, AdamW (peak lr {config['lr']},
  weight decay {config['weight_decay']}, cosine decay to 0), seed {config['seed']}, augmentation
  {', '.join(config['augment']) or 'none'}; {result['train_seconds']/60:.0f} minutes of training on
  {os.cpu_count()} CPU cores (burn flex backend; other work shared the machine at times).
  The committed model was trained with the dev-profile build (dependencies at opt-level 3)
  of the same command; this script builds the release profile (not re-run in release).

Exact command (from the repository root):

```sh
{command}
```

Per epoch:

| epoch | train loss | train accuracy | test accuracy | seconds |
| --- | --- | --- | --- | --- |
{rows}

Measured by `distill eval --model datasets/teacher/fashion-mnist-cnn.onnx --dataset
idx:datasets/fashion-mnist --split test --threads 1` (ONNX Runtime):

- **test accuracy {100*ev['accuracy']:.2f} %** on {ev['samples']:,} images
- latency {ev['latency_ms_batch1']:.3f} ms per sample at batch 1, {ev['latency_ms_batch256']:.3f} ms per sample at batch 256 (1 thread)
"""
open(f"{dest}/PROVENANCE.md", "w").write(text)
print(text)
PY
