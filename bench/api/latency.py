#!/usr/bin/env python3
"""p50/p99 round-trip latency of api_bench's client benchmarks, as medians over
interleaved repetitions, and the ratio typed/bare per repetition (median).

  build-api/bench/api/api_bench --benchmark_filter=RoundTrip --benchmark_repetitions=9 \\
      --benchmark_enable_random_interleaving=true --benchmark_format=json > api.json
  bench/api/latency.py api.json
"""
import json
import statistics
import sys

TYPED, BARE = "BM_TypedClient_RoundTrip/real_time", "BM_BareBeastClient_RoundTrip/real_time"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    runs = {}
    for b in doc["benchmarks"]:
        if b.get("run_type") == "iteration" and "p50_us" in b:
            runs.setdefault(b["run_name"], []).append(b)
    for name, rs in sorted(runs.items()):
        for q in ("p50_us", "p99_us"):
            v = [r[q] for r in rs]
            print(f"{name:40s} {q} median {statistics.median(v):8.1f} us  (min {min(v):.1f}, max {max(v):.1f}, n={len(v)})")
    if TYPED in runs and BARE in runs:
        for q in ("p50_us", "p99_us"):
            r = [t[q] / b[q] for t, b in zip(runs[TYPED], runs[BARE])]
            print(f"typed/bare {q}: median {statistics.median(r):.3f}  (min {min(r):.3f}, max {max(r):.3f})")


if __name__ == "__main__":
    main()
