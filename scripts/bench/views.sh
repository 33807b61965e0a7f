#!/usr/bin/env bash
# Consistent teaching from a cache: does replaying cached augmented views beat distilling
# from one prediction per image, and labels seeing the same augmentation? On full
# Fashion-MNIST with the demo teacher, `cnn:8,16,32` is trained the same number of epochs
# with three seeds each:
#   (a) hard labels, the augmentation drawn online every epoch (--augment);
#   (b) KD from the plain cache (one row per image: a fixed teacher);
#   (c) KD from K cached views (K = 8 and K = 32), the teacher's logits on exactly the
#       view the student sees (consistent teaching); also K = 8 and K = 32 of a milder
#       augmentation (MILD, default flip and shifts of up to 2 pixels) beside its own (a);
#   (d) KD from K views with mixup (function matching), of either augmentation.
# Every cell is mean ± std over the seeds: test accuracy, top-1 agreement with the teacher
# and KL to the teacher on the plain test images; plus the teacher pass time and the cache
# size per K. Writes runs/bench-views/results-eEPOCHS.md and prints it.
#
# Resumable: rerun it after an interruption and finished caches and runs are reused. Takes
# about 100 minutes on 2 cores (the K = 32 teacher pass is ~10 of them); run it in the
# background, not beside builds.
#
# Usage: scripts/bench/views.sh [EPOCHS] [SEEDS] [SETTINGS]   defaults: 8 "1 2 3" (all)
# SETTINGS picks some of the settings by name (e.g. "a-hard-online b-kd-plain"); a cache is
# made only when a chosen setting uses it. Runs of each number of epochs have their own
# folder (runs-eEPOCHS), so tables of several schedules live side by side.
# Environment: AUGMENT (default crop:0.75-1,flip), MILD (flip,shift:2), MIXUP (default
# 0.4), T (2), ALPHA (0.5).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
epochs="${1:-8}"
seeds="${2:-1 2 3}"
chosen="${3:-}"
augment="${AUGMENT:-crop:0.75-1,flip}"
mild="${MILD:-flip,shift:2}"
mixup="${MIXUP:-0.4}"
temperature="${T:-2}"
alpha="${ALPHA:-0.5}"
out=runs/bench-views
teacher=datasets/teacher/fashion-mnist-cnn.onnx
data=idx:datasets/fashion-mnist
arch=cnn:8,16,32
mkdir -p "$out"

# name|the cache it trains from|train-student flags
# (a) learns from labels only: the plain cache reports its agreement, and alpha = 0 keeps
# the cached logits out of training, so online augmentation is allowed.
kd_at() { echo "--temperature $temperature --alpha $1"; }
kd="$(kd_at "$alpha")"
# (Distillation first: a run cut short has the comparison that matters most.)
settings=(
    "b-kd-plain|plain|$kd"
    "c-kd-views8|views8|$kd"
    "c-kd-views8-mild|views8-mild|$kd"
    "c-kd-views32|views32|$kd"
    "c-kd-views32-mild|views32-mild|$kd"
    "d-kd-views8-mixup|views8-mixup|$kd"
    "d-kd-views8-mild-mixup|views8-mild-mixup|$kd"
    "c-kd-views8-mild-alpha0.25|views8-mild|$(kd_at 0.25)"
    "b-kd-plain-alpha0.25|plain|$(kd_at 0.25)"
    "a-hard-online|plain|--alpha 0 --augment $augment"
    "a-hard-online-mild|plain|--alpha 0 --augment $mild"
)
picked() { [ -z "$chosen" ] || [[ " $chosen " == *" $1 "* ]]; }
needed=" "
for setting in "${settings[@]}"; do
    IFS='|' read -r name cache _ <<< "$setting"
    picked "$name" && needed+="$cache "
done

# name|cache-logits flags; the teacher pass of each is timed once (a rerun reuses it).
caches=(
    "plain|"
    "views8|--views 8 --augment $augment,plain-first"
    "views8-mild|--views 8 --augment $mild,plain-first"
    "views32|--views 32 --augment $augment,plain-first"
    "views32-mild|--views 32 --augment $mild,plain-first"
    "views8-mixup|--views 8 --augment $augment,mixup:$mixup,plain-first"
    "views8-mild-mixup|--views 8 --augment $mild,mixup:$mixup,plain-first"
)
"$distill" cache-logits --teacher "$teacher" --dataset "$data" --split test \
    --out "$out/cache-test" >&2
for entry in "${caches[@]}"; do
    name="${entry%%|*}"
    [[ "$needed" == *" $name "* ]] || continue
    read -r -a flags <<< "${entry#*|}"
    if [ -s "$out/cache-$name.json" ] && grep -q '"complete": true' "$out/cache-$name/manifest.json"; then
        continue # timed by an earlier run
    fi
    echo "[bench] teacher pass: $name" >&2
    "$distill" cache-logits --teacher "$teacher" --dataset "$data" --split train \
        --out "$out/cache-$name" "${flags[@]}" --json > "$out/cache-$name.json.partial"
    mv "$out/cache-$name.json.partial" "$out/cache-$name.json"
done

for setting in "${settings[@]}"; do
    IFS='|' read -r name cache rest <<< "$setting"
    picked "$name" || continue
    read -r -a flags <<< "$rest"
    for seed in $seeds; do
        run="$out/runs-e$epochs/$name/seed$seed"
        [ -f "$run/result.json" ] && continue
        echo "[bench] $arch $name seed $seed -> $run" >&2
        "$distill" train-student --arch "$arch" --dataset "$data" \
            --mean 0.2860 --std 0.3530 --epochs "$epochs" --batch-size 256 --lr 3e-3 \
            --weight-decay 1e-4 --seed "$seed" --test-cache "$out/cache-test" \
            --cache "$out/cache-$cache" "${flags[@]}" --out "$run" --json > /dev/null
    done
done

python3 - "$out" "$epochs" "$augment" "$mixup" "$temperature" "$alpha" "$mild" <<'PY'
import glob, json, os, statistics, sys
out, epochs, augment, mixup, t, alpha, mild = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]

def cell(values, k=100, digits=2):
    m = statistics.mean(values) * k
    s = statistics.stdev(values) * k if len(values) > 1 else 0.0
    return f"{m:.{digits}f} ± {s:.{digits}f}"

lines = [
    f"`cnn:8,16,32`, {epochs} epochs, batch 256, lr 3e-3, T = {t}, alpha = {alpha}; "
    f"views drawn from `{augment}` (view 0 plain), mixup Beta({mixup}, {mixup}); "
    f"`-mild` views and their (a) from `{mild}`. (a) of a `-mild` setting is `a-hard-online-mild`; "
    "an `-alphaA` setting has alpha = A.",
    "",
    "| setting | seeds | test accuracy % | vs (a) | vs (b) | agreement % | KL to teacher |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
]
results = {}
for run in sorted(glob.glob(f"{out}/runs-e{epochs}/*/seed*/result.json")):
    name = run.split(os.sep)[-3]
    r = json.load(open(run))
    if r["epochs"] == epochs:
        results.setdefault(name, []).append(r)
mean = lambda name: statistics.mean(r["test_accuracy"] for r in results[name]) if name in results else None
b = mean("b-kd-plain")
for name in sorted(results):
    rs = results[name]
    acc = [r["test_accuracy"] for r in rs]
    a = mean("a-hard-online-mild" if "-mild" in name else "a-hard-online")
    def vs(base, skip):
        if base is None or name.startswith(skip):
            return ""
        return f"{100 * (statistics.mean(acc) - base):+.2f}"
    lines.append(
        f"| {name} | {len(rs)} | {cell(acc)} | {vs(a, ('a-',))} | {vs(b, ('a-', 'b-'))} | "
        f"{cell([r['teacher_agreement'] for r in rs])} | {cell([r['test_kl'] for r in rs], 1, 3)} |"
    )
lines += ["", "| cache | rows | teacher pass s | rows/s | size on disk MB |", "| --- | ---: | ---: | ---: | ---: |"]
for summary in sorted(glob.glob(f"{out}/cache-*.json")):
    s = json.load(open(summary))
    name = os.path.basename(summary)[len("cache-"):-len(".json")]
    lines.append(
        f"| {name} | {s['samples']:,} | {s['seconds']:.0f} | {s['samples_per_second']:.0f} | {s['bytes_on_disk'] / 1e6:.1f} |"
    )
text = "\n".join(lines) + "\n"
open(f"{out}/results-e{epochs}.md", "w").write(text)
print(text)
PY
