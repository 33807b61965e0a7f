# Sourced by the benchmarks that generate teachers and image folders: pinned onnx, Pillow
# and NumPy go into ~/.cache/distill-bench-python (a pip --target folder, on PYTHONPATH only
# for those generators), once per set of versions. Sets $bench_python to the folder.
bench_python="$HOME/.cache/distill-bench-python"
bench_python_deps="onnx==1.20.1 pillow==12.0.0 numpy==2.4.6"
if [ "$(cat "$bench_python/VERSION" 2>/dev/null)" != "$bench_python_deps" ]; then
    rm -rf "$bench_python.partial"
    # shellcheck disable=SC2086
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        --only-binary=:all: --target "$bench_python.partial" $bench_python_deps
    echo "$bench_python_deps" > "$bench_python.partial/VERSION"
    rm -rf "$bench_python"
    mv "$bench_python.partial" "$bench_python"
fi
