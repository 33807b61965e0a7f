# Sourced by the benchmarks that generate teachers and image folders: pinned onnx, Pillow
# and NumPy go into ~/.cache/distill-bench-python (on PYTHONPATH only for those
# generators), once per set of versions. Sets $bench_python to the folder.
bench_python="$HOME/.cache/distill-bench-python"
scripts/pip-into.sh "$bench_python" onnx==1.20.1 pillow==12.0.0 numpy==2.4.6
