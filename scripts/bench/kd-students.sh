#!/usr/bin/env bash
# Does distillation help? On full Fashion-MNIST with the demo teacher, three students that
# span capacity are trained 20 epochs with three seeds each: on the hard labels (alpha = 0,
# which trains exactly like supervised training, tested bit for bit, and still reports
# agreement with the teacher), with T = 2, alpha = 0.5, and with T = 4, alpha = 0.9.
# The teacher's logits are cached once (stage one) and every student trains from the cache.
# Every cell is reported as mean ± std over the seeds: test accuracy, top-1 agreement with
# the teacher, KL to the teacher. Writes runs/bench-kd/results.md and prints it.
#
# Resumable: rerun it after an interruption and finished runs are reused, an interrupted
# one continues from its last epoch. Takes about 75 minutes on 2 cores (the CNN dominates); run
# it in the background, not beside builds.
#
# Usage: scripts/bench/kd-students.sh [EPOCHS] [SEEDS] [ARCHS...]
#   defaults: 20 "1 2 3" mlp:128 mlp:512,256 cnn:4,8
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
epochs="${1:-20}"
seeds="${2:-1 2 3}"
shift 2 2>/dev/null || shift $#
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(mlp:128 mlp:512,256 cnn:4,8)
out=runs/bench-kd
teacher=datasets/teacher/fashion-mnist-cnn.onnx
data=idx:datasets/fashion-mnist

for split in train test; do
    "$distill" cache-logits --teacher "$teacher" --dataset "$data" --split "$split" \
        --out "$out/cache-$split" >&2
done

# name: flags
settings=("hard:--alpha 0" "T2-a0.5:--temperature 2 --alpha 0.5" "T4-a0.9:--temperature 4 --alpha 0.9")
for arch in "${archs[@]}"; do
    for setting in "${settings[@]}"; do
        name="${setting%%:*}"
        read -r -a flags <<< "${setting#*:}"
        for seed in $seeds; do
            run="$out/runs/${arch//[:,=]/-}/$name/seed$seed"
            echo "[bench] $arch $name seed $seed -> $run" >&2
            "$distill" train-student --arch "$arch" --dataset "$data" \
                --mean 0.2860 --std 0.3530 --epochs "$epochs" --batch-size 128 --lr 1e-3 \
                --seed "$seed" --cache "$out/cache-train" --test-cache "$out/cache-test" \
                "${flags[@]}" --out "$run" --json > /dev/null
        done
    done
done

python3 - "$out" "$epochs" <<'PY'
import glob, json, os, statistics, sys
out, epochs = sys.argv[1], int(sys.argv[2])
rows = {}
for result in sorted(glob.glob(f"{out}/runs/*/*/seed*/result.json")):
    run = os.path.dirname(result)
    arch_dir, setting = run.split(os.sep)[-3:-1]
    r = json.load(open(result))
    if r["epochs"] != epochs:
        continue
    rows.setdefault((r["arch"], r["params"]), {}).setdefault(setting, []).append(r)

def cell(values, pct=True):
    k = 100 if pct else 1
    m = statistics.mean(values) * k
    s = statistics.stdev(values) * k if len(values) > 1 else 0.0
    return f"{m:.2f} ± {s:.2f}" if pct else f"{m:.3f} ± {s:.3f}"

order = ["hard", "T2-a0.5", "T4-a0.9"]
lines = [
    f"| student | params | setting | seeds | test accuracy % | vs hard | agreement with teacher % | KL to teacher |",
    "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
]
for (arch, params), by_setting in sorted(rows.items(), key=lambda kv: kv[0][1]):
    base = by_setting.get("hard")
    for setting in order:
        rs = by_setting.get(setting)
        if not rs:
            continue
        acc = [r["test_accuracy"] for r in rs]
        gain = ""
        if base and setting != "hard":
            gain = f"{100 * (statistics.mean(acc) - statistics.mean(r['test_accuracy'] for r in base)):+.2f}"
        lines.append(
            f"| {arch} | {params:,} | {setting} | {len(rs)} | {cell(acc)} | {gain} | "
            f"{cell([r['teacher_agreement'] for r in rs])} | {cell([r['test_kl'] for r in rs], pct=False)} |"
        )
text = "\n".join(lines) + "\n"
open(f"{out}/results.md", "w").write(text)
print(text)
PY
