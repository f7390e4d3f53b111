#!/usr/bin/env python3
"""The quickstart sweep in virtual time over many workload seeds, with its probe settings varied.

Every interval and range is checked against the long-run capacities of the quickstart's systems
(600 s windows, docs/BENCHMARKS.md, "The quickstart's probe windows").

  python3 bench/quickstart_windows.py BIN OUT --seeds 24 VARIANT...

VARIANT is warmup_s:duration_s:probe_budget, with duration_s "-" for none (for example 2:-:10).
"""
import argparse
import csv
import glob
import json
import os
import re
import statistics
import subprocess

LONG_RUN = {"h200-sarathi": 20.55, "h100-sarathi": 20.68, "h200-vllm": 15.16, "h100-vllm": 14.02}


def sweep_text(base, warmup, duration, budget, seed):
    probe = f"probe:\n  warmup_s: {warmup}\n" + ("" if duration == "-" else f"  duration_s: {duration}\n")
    text, n = re.subn(r"^probe:\n(?:  .*\n)+", probe, base, flags=re.M)
    text, m = re.subn(r"^  probe_budget: \d+", f"  probe_budget: {budget}", text, flags=re.M)
    text, k = re.subn(r"^    seed: \d+", f"    seed: {seed}", text, flags=re.M)
    if (n, m, k) != (1, 1, 1):
        raise SystemExit("sweeps/quickstart.yaml no longer has one probe block, probe_budget and seed")
    return text


def one(binary, directory, text, warmup):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "quickstart.yaml"), "w") as f:
        f.write(text)
    subprocess.run([binary, "sweep", "quickstart.yaml", "--simulate", "--results", "results"], cwd=directory,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = list(csv.DictReader(open(glob.glob(os.path.join(directory, "results/*/capacity.csv"))[0])))
    probe_s = max(sum(warmup + p["requests"] / p["achieved_rate"] for p in json.load(open(c))["probes"])
                  for c in glob.glob(os.path.join(directory, "results/*/*/*/*/capacity.json")))
    return rows, probe_s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("out")
    ap.add_argument("--seeds", type=int, default=24)
    ap.add_argument("variants", nargs="+")
    args = ap.parse_args()
    base = open("sweeps/quickstart.yaml").read()
    for variant in args.variants:
        warmup, duration, budget = variant.split(":")
        total, determined, probe_times = 0, 0, []
        held = {s: 0 for s in LONG_RUN}
        errors = {"sarathi": [], "vllm": []}
        widths = []
        for seed in range(1, args.seeds + 1):
            directory = os.path.join(args.out, variant.replace(":", "_").replace("-", "none"), str(seed))
            rows, probe_s = one(args.binary, directory, sweep_text(base, warmup, duration, budget, seed), float(warmup))
            probe_times.append(probe_s)
            for r in rows:
                truth = LONG_RUN[r["system"]]
                low = float(r["ci_low"]) if r["ci_low"] else 0.0
                high = float(r["ci_high"]) if r["ci_high"] else float("inf")
                total += 1
                if low <= truth <= high:
                    held[r["system"]] += 1
                if r["max_qps"]:
                    q = float(r["max_qps"])
                    determined += 1
                    errors["sarathi" if "sarathi" in r["system"] else "vllm"].append((q - truth) / truth)
                    widths.append((high - low) / q)
        lowest = min(held, key=held.get)
        print(json.dumps({
            "warmup_s": float(warmup), "duration_s": None if duration == "-" else float(duration), "probe_budget": int(budget),
            "seeds": args.seeds, "contained": sum(held.values()), "intervals": total,
            "lowest_system": lowest, "lowest_held": held[lowest], "determined": determined,
            "sarathi_signed_error": round(statistics.mean(errors["sarathi"]), 4) if errors["sarathi"] else None,
            "vllm_signed_error": round(statistics.mean(errors["vllm"]), 4) if errors["vllm"] else None,
            "median_width": round(statistics.median(widths), 3) if widths else None,
            "mean_probe_s_slowest_system": round(statistics.mean(probe_times), 1),
        }), flush=True)


if __name__ == "__main__":
    main()
