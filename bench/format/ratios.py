#!/usr/bin/env python3
"""Ratios between benchmarks as medians of interleaved repetitions.

Reads Google Benchmark JSON (run with --benchmark_repetitions=N
--benchmark_enable_random_interleaving=true, without --benchmark_report_aggregates_only)
and, for each pair NAME:BASELINE given, prints the median over repetitions k of
time(NAME, k) / time(BASELINE, k). With random interleaving, repetition k of every
benchmark runs in the same round, so each ratio compares runs that saw the same machine;
the median of those ratios is steadier on a shared VM than a ratio of two medians.
With --cpu, CPU time is compared instead of wall time (except for benchmarks that use
manual or real time, named .../real_time or .../manual_time): on a VM whose other jobs
keep the cores busy, wall time mostly measures waiting for a core.

  build-rel/bench/format/format_bench --benchmark_repetitions=9 \\
      --benchmark_enable_random_interleaving=true --benchmark_format=json > out.json
  bench/format/ratios.py [--cpu] out.json BM_LogWrite_Clock:BM_RawCapnp_Encode
"""
import json
import statistics
import sys


def main():
    args = sys.argv[1:]
    cpu = "--cpu" in args
    args = [a for a in args if a != "--cpu"]
    if not args:
        sys.exit(__doc__)
    with open(args[0], encoding="utf-8") as f:
        doc = json.load(f)
    times = {}
    for b in doc["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        name = b["run_name"]
        wall = not cpu or name.endswith("/real_time") or name.endswith("/manual_time")
        times.setdefault(name, []).append(b["real_time"] if wall else b["cpu_time"])
    for name, values in sorted(times.items()):
        print(f"{name:32s} median {statistics.median(values):10.3f} {doc['benchmarks'][0]['time_unit']}"
              f"  (min {min(values):.3f}, max {max(values):.3f}, n={len(values)})")
    for pair in args[1:]:
        a, b = pair.split(":")
        ratios = [x / y for x, y in zip(times[a], times[b])]
        m = statistics.median(ratios)
        print(f"{a} / {b}: time ratio median {m:.3f}  (min {min(ratios):.3f}, max {max(ratios):.3f},"
              f" n={len(ratios)}); throughput {100 / m:.0f}% of {b}")


if __name__ == "__main__":
    main()
