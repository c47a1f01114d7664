#!/usr/bin/env bash
# Runs every fuzz target for a while, one after the other, then minimises its corpus.
#   fuzz/run.sh [seconds per target, default 600] [target ...]
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP lets it use the
# stable toolchain's sanitizer flags. Corpora grow in fuzz/corpus/<target> (seeded
# from fuzz/seeds/<target>); findings land in fuzz/artifacts/<target>; each run's
# libFuzzer summary goes to fuzz/logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(RUSTC_BOOTSTRAP=1 cargo fuzz list)
fi
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
mkdir -p logs
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    cp -n "seeds/$t"/* "corpus/$t"/ 2>/dev/null || true
    echo "== $t: ${secs}s"
    if cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 \
        -max_len=1048576 -timeout=20 -print_final_stats=1 >"logs/$t.log" 2>&1; then
        echo "   no finding; $(grep -E 'stat::number_of_executed_units' "logs/$t.log" | tail -1)"
    else
        echo "   FINDING, see logs/$t.log and artifacts/$t"
    fi
    cargo fuzz cmin -O "$t" "corpus/$t" >>"logs/$t.log" 2>&1 || true
done
