#!/usr/bin/env bash
# Installs pinned PyPI packages into DIR, a pip --target folder (put it on PYTHONPATH to use
# them), once per set of requirements: DIR/VERSION records the set, and another set
# replaces the folder whole (built beside it, then moved into place).
#
# Usage: scripts/pip-into.sh DIR REQUIREMENT...
set -euo pipefail
dir="$1"
shift
[ "$(cat "$dir/VERSION" 2>/dev/null)" = "$*" ] && exit 0
rm -rf "$dir.partial"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    --only-binary=:all: --target "$dir.partial" "$@"
echo "$*" > "$dir.partial/VERSION"
rm -rf "$dir"
mv "$dir.partial" "$dir"
