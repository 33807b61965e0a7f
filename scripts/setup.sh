#!/usr/bin/env bash
# One-time set-up for distill on a fresh Debian machine. Idempotent: safe to rerun.
#
#  * ONNX Runtime: `ort` loads libonnxruntime.so at run time (its `load-dynamic` feature),
#    because it cannot download binaries here. The library ships inside the `onnxruntime`
#    wheel on PyPI; we unpack it into .onnxruntime/ (git-ignored).
#  * Fashion-MNIST: Debian's `dataset-fashion-mnist` package, unpacked (not installed) into
#    datasets/fashion-mnist/ (git-ignored).
#  * NumPy and pyarrow from PyPI into ~/.cache/distill-python (a pip --target folder, on
#    PYTHONPATH only for the test that runs the README's Python replay of a cached view).
#
# Usage: scripts/setup.sh [--no-data]
set -euo pipefail

# ONNX Runtime release matching ort 2.0.0-rc.15 (API level 24 is the floor we compile for;
# 1.24+ provides it). Change both together.
ORT_VERSION="1.24.4"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ort_dir="$root/.onnxruntime"
data_dir="$root/datasets/fashion-mnist"
want_data=1
[ "${1:-}" = "--no-data" ] && want_data=0

log() { printf '[setup] %s\n' "$*" >&2; }

fetch_onnxruntime() {
    local lib="$ort_dir/libonnxruntime.so"
    if [ -f "$lib" ] && [ "$(cat "$ort_dir/VERSION" 2>/dev/null)" = "$ORT_VERSION" ]; then
        log "ONNX Runtime $ORT_VERSION already in $ort_dir"
        return
    fi
    log "fetching onnxruntime==$ORT_VERSION wheel from PyPI"
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --dest "$tmp" "onnxruntime==$ORT_VERSION"
    python3 - "$tmp" "$tmp/unpacked" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/onnxruntime-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("onnxruntime/capi/libonnxruntime"):
            z.extract(name, sys.argv[2])
PY
    mkdir -p "$ort_dir.partial"
    local so
    so="$(ls "$tmp"/unpacked/onnxruntime/capi/libonnxruntime.so.* | head -n 1)"
    cp "$so" "$ort_dir.partial/libonnxruntime.so"
    echo "$ORT_VERSION" > "$ort_dir.partial/VERSION"
    rm -rf "$ort_dir"
    mv "$ort_dir.partial" "$ort_dir"
    log "ONNX Runtime $ORT_VERSION -> $ort_dir/libonnxruntime.so"
}

fetch_fashion_mnist() {
    local files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
                 t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
    local missing=0
    for f in "${files[@]}"; do [ -f "$data_dir/$f" ] || missing=1; done
    if [ "$missing" = 0 ]; then
        log "Fashion-MNIST already in $data_dir"
        return
    fi
    log "fetching Debian package dataset-fashion-mnist"
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    chmod 777 "$tmp" # apt's sandbox user must be able to write the .deb
    if ! (cd "$tmp" && apt-get download dataset-fashion-mnist >/dev/null 2>&1); then
        log "apt-get download failed; refreshing package lists and retrying"
        apt-get update >/dev/null
        (cd "$tmp" && apt-get download dataset-fashion-mnist >/dev/null)
    fi
    dpkg -x "$tmp"/dataset-fashion-mnist_*.deb "$tmp/x"
    mkdir -p "$data_dir.partial"
    cp "$tmp"/x/usr/share/datasets/fashion-mnist/*.gz "$data_dir.partial/"
    rm -rf "$data_dir"
    mv "$data_dir.partial" "$data_dir"
    log "Fashion-MNIST (60k train / 10k test) -> $data_dir"
}

# The Python packages the README's replay snippet uses; change both together.
PYTHON_DEPS="numpy==2.4.6 pyarrow==26.0.1"
python_dir="${DISTILL_PYTHON_DEPS:-$HOME/.cache/distill-python}"

fetch_python_deps() {
    if [ "$(cat "$python_dir/VERSION" 2>/dev/null)" = "$PYTHON_DEPS" ]; then
        log "NumPy and pyarrow already in $python_dir"
        return
    fi
    log "installing $PYTHON_DEPS from PyPI into $python_dir"
    # shellcheck disable=SC2086 # one word per requirement
    "$root/scripts/pip-into.sh" "$python_dir" $PYTHON_DEPS
}

fetch_onnxruntime
fetch_python_deps
[ "$want_data" = 1 ] && fetch_fashion_mnist
log "done"
