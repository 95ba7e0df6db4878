#!/usr/bin/env bash
# Compares one benchmark across two builds (e.g. before and after a change), run
# alternately ROUNDS times so both see the same drift of a shared machine; prints each
# build's median time and the median of the per-round ratios B/A.
#   bench/format/interleave.sh 11 Replay1M old/bench/membrane/membrane_bench new/bench/membrane/membrane_bench
set -euo pipefail
rounds=$1 filter=$2 a=$3 b=$4
min_time=${MIN_TIME:-0.5}
run() { "$1" --benchmark_filter="$filter" --benchmark_min_time="$min_time" --benchmark_format=csv 2>/dev/null |
        awk -F, 'NR > 1 && $1 !~ /^name/ { print $3; exit }'; }
ta=() tb=()
for ((i = 0; i < rounds; i++)); do
  ta+=("$(run "$a")")
  tb+=("$(run "$b")")
done
python3 - "${ta[*]}" "${tb[*]}" <<'PY'
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
print(f"A: median {statistics.median(a):.4g}  runs {' '.join(f'{x:.4g}' for x in a)}")
print(f"B: median {statistics.median(b):.4g}  runs {' '.join(f'{x:.4g}' for x in b)}")
r = [y / x for x, y in zip(a, b)]
print(f"B/A: median {statistics.median(r):.3f}  (min {min(r):.3f}, max {max(r):.3f}, rounds {len(r)})")
PY
