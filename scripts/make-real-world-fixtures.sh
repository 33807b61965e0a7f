#!/usr/bin/env bash
# Makes the fixtures of the real-world-input tests (tests/real_world.rs) from the committed
# Fashion-MNIST subset: an image folder and the same images as Hugging Face-style Parquet,
# NumPy arrays, a CSV table, a scikit-learn teacher (skl2onnx), an NHWC image teacher and
# bad inputs. See scripts/fixtures/real_world.py for what each one is. Python packages are
# pinned in scripts/fixtures/real-world-requirements.txt and installed into a virtual
# environment under ~/.cache.
#
# Usage: scripts/make-real-world-fixtures.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$HOME/.cache/distill-fixtures-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet -r scripts/fixtures/real-world-requirements.txt
rm -rf datasets/images-mini datasets/images-mini-parquet datasets/arrays datasets/tabular datasets/bad
"$venv/bin/python" -W ignore::DeprecationWarning scripts/fixtures/real_world.py "$root"
echo "fixtures written under datasets/"
