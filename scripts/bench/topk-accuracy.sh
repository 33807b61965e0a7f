#!/usr/bin/env bash
# What top-k storage costs in accuracy, on the real task: the demo teacher over full
# Fashion-MNIST, cached dense and as topk:1/2/3/5, then
#   * KL(dense ‖ reconstructed) at T = 1, 2, 4 over the 60,000 training rows, computed in
#     NumPy from the Parquet columns alone (pyarrow), following the reconstruction the
#     README documents: on the support (the K kept classes + one tail bucket, what training
#     compares) and over all ten classes with the tail's mass spread evenly over the
#     classes left out (what is lost of the tail's shape);
#   * `cnn:8,16,32` students distilled from each cache, same settings and seeds as the
#     views benchmark (8 epochs, T = 2, alpha = 0.5): test accuracy, agreement, KL.
# Writes runs/bench-topk/results.md and prints it. Resumable: finished caches and runs are
# reused. About 75 minutes on 2 cores (15 student runs); run it on an otherwise idle machine.
#
# Usage: scripts/bench/topk-accuracy.sh [EPOCHS] [SEEDS] [KS]    defaults: 8 "1 2 3" "1 2 3 5"
# Environment: T (2), ALPHA (0.5).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
epochs="${1:-8}"
seeds="${2:-1 2 3}"
ks="${3:-1 2 3 5}"
temperature="${T:-2}"
alpha="${ALPHA:-0.5}"
out=runs/bench-topk
teacher=datasets/teacher/fashion-mnist-cnn.onnx
data=idx:datasets/fashion-mnist
arch=cnn:8,16,32
mkdir -p "$out"

"$distill" cache-logits --teacher "$teacher" --dataset "$data" --split test \
    --out "$out/cache-test" >&2
storages="dense"
for k in $ks; do storages="$storages topk:$k"; done
for storage in $storages; do
    name="${storage/:/}"
    "$distill" cache-logits --teacher "$teacher" --dataset "$data" --split train \
        --storage "$storage" --out "$out/cache-$name" --json > "$out/cache-$name.json"
done

PYTHONPATH="${DISTILL_PYTHON_DEPS:-$HOME/.cache/distill-python}" python3 - "$out" $ks \
    > "$out/kl.md" <<'PY'
# The reconstruction of README "Top-k storage", written from its text.
import glob, sys
import numpy as np
import pyarrow.parquet as pq

out, ks = sys.argv[1], [int(k) for k in sys.argv[2:]]

def table(name):
    return pq.read_table(sorted(glob.glob(f"{out}/cache-{name}/part-*.parquet")))

def lse(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)

dense = np.stack(table("dense").column("logits").to_numpy(zero_copy_only=False)).astype(np.float64)
rows, classes = dense.shape
print("| storage | KL on the support, T = 1 / 2 / 4 | KL over all classes (tail spread evenly), T = 1 / 2 / 4 | baseline: tail read as a Gaussian, KL on the support, T = 2 / 4 |")
print("| --- | ---: | ---: | ---: |")
for k in ks:
    t = table(f"topk{k}")
    z = np.stack(t.column("topk_logit").to_numpy(zero_copy_only=False)).astype(np.float64)
    c = np.stack(t.column("topk_index").to_numpy(zero_copy_only=False)).astype(np.int64)
    tail_lse = t.column("tail_logsumexp").to_numpy().astype(np.float64)
    n = t.column("tail_count").to_numpy().astype(np.float64)
    mu = t.column("tail_mean").to_numpy().astype(np.float64)
    sd = t.column("tail_std").to_numpy().astype(np.float64)
    kept = np.zeros_like(dense, dtype=bool)
    np.put_along_axis(kept, c, True, axis=1)
    support, full, gaussian = [], [], []
    for temp in (1.0, 2.0, 4.0):
        b, ln_n, E = 1.0 / temp, np.log(n), tail_lse
        cubic = ln_n + mu * b + sd**2 * b * b / 2 + (E - ln_n - mu - sd**2 / 2) * b**3
        low = ln_n + mu * b if b <= 1 else np.maximum(ln_n + mu * b, ln_n + b * (E - ln_n))
        high = ln_n + b * np.maximum(z[:, -1], mu)
        if b < 1:
            high = np.minimum(high, (1 - b) * ln_n + b * E)
        tail = E if temp == 1.0 else np.minimum(np.maximum(cubic, low), high)
        masses = np.concatenate([z / temp, tail[:, None]], axis=1)
        log_q = masses - lse(masses)[:, None]                      # reconstructed, K + 1
        log_p_all = dense / temp - lse(dense / temp)[:, None]       # dense, all classes
        p_tail = np.where(kept, -np.inf, log_p_all)
        log_p = np.concatenate([np.take_along_axis(log_p_all, c, 1), lse(p_tail)[:, None]], 1)
        kl = lambda log_q: np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=1))
        support.append(kl(log_q))
        if temp != 1.0:
            # The baseline: ln n + μ/T + σ²/(2T²), anchored to E at T = 1, clamped alike.
            g = lambda b: ln_n + mu * b + sd**2 * b * b / 2
            base = np.minimum(np.maximum(g(b) + (E - g(1.0)) * b, low), high)
            m = np.concatenate([z / temp, base[:, None]], axis=1)
            gaussian.append(kl(m - lse(m)[:, None]))
        # Over all classes: each tail class gets the bucket's mass / n.
        q_all = np.repeat((log_q[:, -1] - np.log(n))[:, None], classes, axis=1)
        np.put_along_axis(q_all, c, log_q[:, :-1], axis=1)
        full.append(np.mean(np.sum(np.exp(log_p_all) * (log_p_all - q_all), axis=1)))
    fmt = lambda v: " / ".join(f"{x:.2e}" for x in v)
    print(f"| topk:{k} | {fmt(support)} | {fmt(full)} | {fmt(gaussian)} |")
PY

kd="--temperature $temperature --alpha $alpha"
for seed in $seeds; do
    for storage in $storages; do
        name="${storage/:/}"
        run="$out/runs/$name/seed$seed"
        [ -f "$run/result.json" ] && continue
        echo "[bench] $arch from $storage, seed $seed -> $run" >&2
        # shellcheck disable=SC2086
        "$distill" train-student --arch "$arch" --dataset "$data" \
            --mean 0.2860 --std 0.3530 --epochs "$epochs" --batch-size 256 --lr 3e-3 \
            --weight-decay 1e-4 --seed "$seed" $kd --cache "$out/cache-$name" \
            --test-cache "$out/cache-test" --out "$run" --json > /dev/null
    done
done

python3 - "$out" "$epochs" "$temperature" "$alpha" <<'PY'
import glob, json, os, statistics, sys
out, epochs, t, alpha = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def cell(values, k=100, digits=2):
    m = statistics.mean(values) * k
    s = statistics.stdev(values) * k if len(values) > 1 else 0.0
    return f"{m:.{digits}f} ± {s:.{digits}f}"

results = {}
for run in sorted(glob.glob(f"{out}/runs/*/seed*/result.json")):
    r = json.load(open(run))
    if r["epochs"] == epochs:
        results.setdefault(run.split(os.sep)[-3], []).append(r)
caches = {os.path.basename(p)[6:-5]: json.load(open(p)) for p in glob.glob(f"{out}/cache-*.json")}
dense = statistics.mean(r["test_accuracy"] for r in results.get("dense", [{"test_accuracy": 0}]))
lines = [
    f"`cnn:8,16,32` distilled from each cache of the demo teacher over full Fashion-MNIST, "
    f"{epochs} epochs, batch 256, lr 3e-3, T = {t}, alpha = {alpha}; f32 values.",
    "",
    "| storage | bytes/row | seeds | test accuracy % | vs dense | agreement % | KL to teacher |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
]
order = sorted(results, key=lambda n: (n != "dense", n))
for name in order:
    rs = results[name]
    acc = [r["test_accuracy"] for r in rs]
    size = caches.get(name, {}).get("bytes_per_sample", float("nan"))
    lines.append(
        f"| {name.replace('topk', 'topk:')} | {size:.1f} | {len(rs)} | {cell(acc)} | "
        f"{100 * (statistics.mean(acc) - dense):+.2f} | "
        f"{cell([r['teacher_agreement'] for r in rs])} | {cell([r['test_kl'] for r in rs], 1, 3)} |"
    )
lines += ["", "KL(dense ‖ reconstructed), mean over the 60,000 training rows:", ""]
lines += open(f"{out}/kl.md").read().splitlines()
text = "\n".join(lines) + "\n"
open(f"{out}/results.md", "w").write(text)
print(text)
PY
