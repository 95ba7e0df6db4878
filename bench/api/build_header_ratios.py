#!/usr/bin/env python3
"""The build-id header's cost from one api_bench JSON run (bench/README.md, "The build id on
every call"): each benchmark's median p50, the per-repetition ratio with/without the
header, and the per-repetition difference over the typed client's p50, as medians.
  bench/api/build_header_ratios.py hdr.json"""
import json
import statistics
import sys

runs = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("run_type") == "iteration":
        runs.setdefault(b["run_name"].split("/")[0], []).append(b["p50_us"])
typed = runs["BM_TypedClient_RoundTrip"]
bare = runs["BM_BareBeastClient_RoundTrip"]
with_build = runs["BM_BareBeastClient_RoundTrip_WithBuild"]
for name, values in runs.items():
    print(f"{name}: p50 median {statistics.median(values):.1f} us (min {min(values):.1f}, max {max(values):.1f})")
ratios = [w / b for b, w in zip(bare, with_build)]
print(f"with/without: {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}, {len(ratios)} reps)")
share = statistics.median([(w - b) / t for b, w, t in zip(bare, with_build, typed)])
print(f"difference over the typed p50: {share * 100:+.1f} %")
