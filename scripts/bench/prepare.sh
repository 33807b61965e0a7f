# Sourced first by every benchmark: moves to the repository root ($root), fetches what
# scripts/setup.sh fetches ($setup_flags, if set, are its flags: e.g. --no-data), and builds
# the release binaries into $CARGO_TARGET_DIR, with distill at $distill.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck disable=SC2086 # the flags are words
scripts/setup.sh ${setup_flags:-} >/dev/null
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/distill-target}"
"$root/scripts/build-release.sh"
distill="$CARGO_TARGET_DIR/release/distill"
