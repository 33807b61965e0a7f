# Sourced by the benchmarks that sweep students from the demo's caches: prepares as every
# benchmark does (prepare.sh: $root, $distill) and stops unless scripts/demo.sh has made
# runs/demo/cache-{train,test}.
source "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
for split in train test; do
    [ -f "runs/demo/cache-$split/manifest.json" ] || {
        echo "runs/demo/cache-$split is missing: run scripts/demo.sh first" >&2
        exit 1
    }
done
