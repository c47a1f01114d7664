#!/usr/bin/env bash
# Runs every fuzz target for a while, one after the other, then minimises its corpus.
#   fuzz/run.sh [seconds per target, default 600] [target ...]
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP lets it use the
# stable toolchain's sanitizer flags. The targets are built once, then the binaries
# run directly, so editing the sources during a long run does not rebuild them
# (NO_BUILD=1 skips the build, for a run that continues an earlier one).
# Corpora grow in fuzz/corpus/<target> (seeded from fuzz/seeds/<target>) and are
# minimised at the end (libFuzzer -set_cover_merge=1); findings land in fuzz/artifacts/<target>;
# each run's libFuzzer output goes to fuzz/logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-600}"
shift || true
targets=("$@")
export RUSTC_BOOTSTRAP=1
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
if [ -z "${NO_BUILD:-}" ]; then
    # The fuzz crate is its own workspace with its own Cargo.lock, which cargo would
    # otherwise re-resolve in silence (newer versions than the binary ships with):
    # refuse a lock that no longer covers the dependencies. It holds the main
    # Cargo.lock's versions (tests/it/tidy.rs checks); to renew it after a
    # dependency change: cp ../Cargo.lock Cargo.lock && cargo metadata >/dev/null
    cargo metadata --locked --format-version 1 >/dev/null || {
        echo "fuzz/Cargo.lock is stale: cp ../Cargo.lock Cargo.lock && cargo metadata >/dev/null" >&2
        exit 1
    }
    cargo fuzz build -O
fi
# Where cargo fuzz put them: fuzz/target, or CARGO_TARGET_DIR when that is set.
. ../deploy/lib.sh
bin="$(target_dir)/x86_64-unknown-linux-gnu/release"
mkdir -p logs
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    cp -n "seeds/$t"/* "corpus/$t"/ 2>/dev/null || true
    echo "== $t: ${secs}s"
    if "$bin/$t" -artifact_prefix="artifacts/$t/" -max_total_time="$secs" -rss_limit_mb=2048 \
        -max_len=1048576 -timeout=20 -print_final_stats=1 "corpus/$t" >"logs/$t.log" 2>&1; then
        echo "   no finding; $(grep -E 'stat::number_of_executed_units' "logs/$t.log" | tail -1)"
    else
        echo "   FINDING, see logs/$t.log and artifacts/$t"
    fi
    # Minimise: a small set of inputs that still covers every feature (set cover).
    rm -rf "corpus/$t.min" && mkdir "corpus/$t.min"
    if "$bin/$t" -set_cover_merge=1 -rss_limit_mb=2048 -max_len=1048576 -timeout=20 \
        "corpus/$t.min" "corpus/$t" >>"logs/$t.log" 2>&1; then
        rm -rf "corpus/$t" && mv "corpus/$t.min" "corpus/$t"
    else
        rm -rf "corpus/$t.min"
    fi
    echo "   corpus: $(ls "corpus/$t" | wc -l) files, $(du -sh "corpus/$t" | cut -f1)"
done
