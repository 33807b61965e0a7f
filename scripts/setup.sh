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
#  * With --gpu, also the GPU build of ONNX Runtime for `--device cuda` (cache-logits,
#    eval): the `onnxruntime-gpu` wheel's libonnxruntime.so and its CUDA provider
#    libraries, and the CUDA 12 / cuDNN 9 runtime libraries from NVIDIA's `nvidia-*`
#    wheels, into .onnxruntime-gpu/ (git-ignored; about 3 GB). distill loads the CUDA
#    libraries from there by full path: no LD_LIBRARY_PATH. The GPU's driver
#    (libcuda.so.1) comes with the machine, not from here.
#
# Usage: scripts/setup.sh [--no-data] [--gpu]
set -euo pipefail

# ONNX Runtime release matching ort 2.0.0-rc.15 (API level 24 is the floor we compile for;
# 1.24+ provides it). Change both together.
ORT_VERSION="1.24.4"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ort_dir="$root/.onnxruntime"
ort_gpu_dir="$root/.onnxruntime-gpu"
data_dir="$root/datasets/fashion-mnist"
want_data=1
want_gpu=0
for arg in "$@"; do
    case "$arg" in
        --no-data) want_data=0 ;;
        --gpu) want_gpu=1 ;;
        *) echo "usage: scripts/setup.sh [--no-data] [--gpu]" >&2; exit 2 ;;
    esac
done

log() { printf '[setup] %s\n' "$*" >&2; }

# fetch_onnxruntime PACKAGE DIR: the wheel PACKAGE==$ORT_VERSION's libonnxruntime.so (and,
# in the GPU build, the provider libraries it loads from beside itself) into DIR.
fetch_onnxruntime() {
    local package="$1" dir="$2"
    local lib="$dir/libonnxruntime.so"
    if [ -f "$lib" ] && [ "$(cat "$dir/VERSION" 2>/dev/null)" = "$ORT_VERSION" ]; then
        log "ONNX Runtime $ORT_VERSION ($package) already in $dir"
        return
    fi
    log "fetching $package==$ORT_VERSION wheel from PyPI"
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --dest "$tmp" "$package==$ORT_VERSION"
    python3 - "$tmp" "$tmp/unpacked" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/onnxruntime*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("onnxruntime/capi/libonnxruntime"):
            z.extract(name, sys.argv[2])
PY
    rm -rf "$dir.partial"
    mkdir -p "$dir.partial"
    local so
    so="$(ls "$tmp"/unpacked/onnxruntime/capi/libonnxruntime.so.* | head -n 1)"
    cp "$so" "$dir.partial/libonnxruntime.so"
    # The GPU build's providers: libonnxruntime_providers_{shared,cuda}.so.
    for provider in "$tmp"/unpacked/onnxruntime/capi/libonnxruntime_providers_*.so; do
        [ -f "$provider" ] && cp "$provider" "$dir.partial/"
    done
    echo "$ORT_VERSION" > "$dir.partial/VERSION"
    # Keep CUDA libraries fetched before (they do not change with ONNX Runtime's version).
    [ -d "$dir/nvidia" ] && mv "$dir/nvidia" "$dir.partial/nvidia"
    rm -rf "$dir"
    mv "$dir.partial" "$dir"
    log "ONNX Runtime $ORT_VERSION ($package) -> $lib"
}

# The CUDA 12 and cuDNN 9 runtime libraries onnxruntime-gpu $ORT_VERSION needs (its
# `cuda` and `cudnn` extras, and cuBLAS, which cuDNN needs); change with ORT_VERSION.
CUDA_WHEELS="nvidia-cuda-runtime-cu12==12.9.79 nvidia-cuda-nvrtc-cu12==12.9.86 nvidia-cublas-cu12==12.9.1.4 nvidia-cufft-cu12==11.4.1.4 nvidia-curand-cu12==10.3.10.19 nvidia-cudnn-cu12==9.10.2.21"

fetch_cuda_libraries() {
    local dir="$ort_gpu_dir/nvidia"
    if [ "$(cat "$dir/VERSION" 2>/dev/null)" = "$CUDA_WHEELS" ]; then
        log "CUDA libraries already in $dir"
        return
    fi
    log "installing the CUDA libraries from PyPI into $dir ($CUDA_WHEELS)"
    local wheels="$ort_gpu_dir/wheels"
    # shellcheck disable=SC2086 # one word per requirement
    "$root/scripts/pip-into.sh" "$wheels" $CUDA_WHEELS
    rm -rf "$dir"
    mv "$wheels/nvidia" "$dir"
    rm -rf "$wheels"
    echo "$CUDA_WHEELS" > "$dir/VERSION"
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

fetch_onnxruntime onnxruntime "$ort_dir"
if [ "$want_gpu" = 1 ]; then
    fetch_onnxruntime onnxruntime-gpu "$ort_gpu_dir"
    fetch_cuda_libraries
fi
fetch_python_deps
[ "$want_data" = 1 ] && fetch_fashion_mnist
log "done"
