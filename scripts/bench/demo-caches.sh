# Sourced by the benchmarks that sweep students from the demo's caches: builds the release
# binary into $distill and stops unless scripts/demo.sh has made runs/demo/cache-{train,test}.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/distill-target}"
"$root/scripts/build-release.sh"
distill="$CARGO_TARGET_DIR/release/distill"
for split in train test; do
    [ -f "runs/demo/cache-$split/manifest.json" ] || {
        echo "runs/demo/cache-$split is missing: run scripts/demo.sh first" >&2
        exit 1
    }
done
