#!/usr/bin/env bash
# Checks the systemd units in deploy/ with `systemd-analyze verify`. Any message
# counts as a failure. Skips (exit 0, with a message) where systemd-analyze is not
# installed; on Debian/Ubuntu: apt-get install -y systemd.
# `Documentation=man:ozgsync(1)` is checked against the page the binary prints.
# Usage: deploy/verify-units.sh [path/to/ozgsync]   (default: the debug build, in
# CARGO_TARGET_DIR when that is set)
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "skip: systemd-analyze is not installed (apt-get install -y systemd); units not verified"
    exit 0
fi
bin=${1:-$(target_dir)/debug/ozgsync}
if [ ! -x "$bin" ]; then
    cargo build --locked --bin ozgsync
fi
bin=$(realpath "$bin")

# verify insists that ExecStart's binary exists: point the copies at the built one.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/units" "$tmp/man/man1"
for unit in deploy/*.service deploy/*.timer; do
    # Datasette lives in its own venv; any executable stands in for it here.
    sed -e "s#/usr/bin/ozgsync#$bin#g" -e "s#/opt/ozgsync-datasette/bin/datasette#$bin#g" "$unit" >"$tmp/units/$(basename "$unit")"
done
# verify looks up man: references with man(1); give it the page the package ships.
"$bin" man >"$tmp/man/man1/ozgsync.1"
status=0
out=$(MANPATH="$tmp/man:" systemd-analyze verify "$tmp"/units/*.service "$tmp"/units/*.timer 2>&1) || status=$?
if [ "$status" -ne 0 ] || [ -n "$out" ]; then
    echo "$out"
    echo "systemd-analyze verify failed (exit $status)"
    exit 1
fi
echo "units ok: $(cd deploy && ls *.service *.timer | tr '\n' ' ')"
