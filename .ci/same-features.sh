#!/usr/bin/env bash
# The binary we test is the binary we ship: every crate the shipped binary links must be
# compiled with the same features by `cargo build` and by `cargo test`/`cargo bench`.
# Cargo unions the dev-dependencies' features into crates they share with the binary
# (only for the targets that have dev-dependencies), so a new dev-dependency can change
# the code the tests run without changing the `.deb`'s. Fix a failure by naming the
# feature on the normal dependency in Cargo.toml (see the comment there), or by keeping
# the dev-dependency from asking for it.
#
# Compares `cargo tree`'s resolved features (no build, a second or so): the graph of
# `cargo build` (normal edges) against that of the test and bench targets (normal and
# dev edges). `no-proc-macro` leaves out proc-macros and what they pull in, which run
# in the compiler and are not linked; build scripts' dependencies are not followed
# (build edges are not asked for) for the same reason.
set -euo pipefail
cd "$(dirname "$0")/.."

tree() {
    cargo tree --locked --prefix none --no-dedupe -f '{p}|{f}' -e "$1" |
        sed -e 's/ (\*)$//' -e 's/ ([^)]*)|/|/' | sort -u
}
ship=$(tree normal,no-proc-macro)
test=$(tree normal,dev,no-proc-macro)

fail=0
# Each line: "name vX.Y.Z|feature,feature". A crate of the shipped graph must appear in
# the test graph once, with the same feature list.
while IFS='|' read -r pkg feats; do
    [ -n "$pkg" ] || continue
    theirs=$(printf '%s\n' "$test" | awk -F'|' -v p="$pkg" '$1 == p { print $2 }')
    if [ "$theirs" != "$feats" ]; then
        fail=1
        echo "same-features: $pkg" >&2
        echo "  cargo build:        ${feats:-(none)}" >&2
        echo "  cargo test/bench:   $(printf '%s' "${theirs:-(none)}" | tr '\n' ' ')" >&2
        echo "  (who asks: cargo tree -e features -i '${pkg/ v/@}')" >&2
    fi
done <<<"$ship"

if [ "$fail" -ne 0 ]; then
    echo "same-features: the tests would not run the shipped binary's code (see Cargo.toml, \"The binary we test is the binary we ship\")" >&2
    exit 1
fi
echo "same-features: the $(printf '%s\n' "$ship" | grep -c .) crates the binary links are compiled alike for cargo build and cargo test/bench"
