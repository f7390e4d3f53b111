#!/usr/bin/env python3
"""A straightforward Python/numpy implementation of the same metrics, for side-by-side timing.

Reads the first N records of a requests.jsonl and computes what `RunSummary` computes: the token
timeline, TTFT/TBT/TPOT/e2e/normalized latency distributions, per-request fluidity-index, the minimum
TBT deadline per request (bisection as in the reference) and the token-rate figures.
"""
import json
import sys
import time

import numpy as np


def deadlines(x, dp, dd, ignore_first=False):
    total = missed = 0
    slack = 0.0
    for i, t in enumerate(x):
        if i == 0:
            if ignore_first:
                continue
            if t <= dp + slack:
                slack += dp - t
                total += 1
                continue
            k = 1 + (t - slack - dp) // dd
        else:
            if t <= dd + slack:
                slack += dd - t
                total += 1
                continue
            k = (t - slack) // dd
        missed += k
        total += k
        slack = 0.0
    return missed, total


def min_deadline(x, target, dp, ignore_first):
    deadline, left, right, step = 1e10, 0.0, 1e10, 1e-4
    while right - left > step:
        mid = (left + right) / 2
        m, t = deadlines(x, dp, mid, ignore_first)
        if (m / t if t else 0) > target:
            left = mid + step
        else:
            deadline = mid
            right = mid - step
    return deadline


def dist(a):
    a = np.asarray(a, dtype=float)
    if a.size == 0:
        return None
    return dict(mean=a.mean(), p50=np.quantile(a, 0.5), p90=np.quantile(a, 0.9), p99=np.quantile(a, 0.99))


def summarize(records, dp=0.3, dd=0.03):
    ttft, tpot, e2e, norm, fluid, mins, pooled, gaps = [], [], [], [], [], [], [], []
    reference_tpot = []  # the reference's per-request TPOT: 0 for a one-token request, still averaged
    for r in records:
        times = np.asarray(r["chunk_times_s"], dtype=float)
        counts = np.asarray(r["chunk_tokens"], dtype=int)
        a = r["scheduled_s"]
        token_times = np.repeat(times, counts)
        x = np.diff(np.concatenate(([a], token_times)))
        n = len(x)
        if n == 0:
            continue
        ttft.append(x[0])
        e2e.append(token_times[-1] - a)
        norm.append((token_times[-1] - a) / n)
        if n >= 2:
            tpot.append((token_times[-1] - token_times[0]) / (n - 1))
        reference_tpot.append(x[1:].mean() if n >= 2 else 0.0)
        pooled.append(x[1:])
        gaps.append(np.diff(times))
        m, t = deadlines(x.tolist(), dp, dd)
        fluid.append(1 - (m / t if t else 0))
        mins.append(min_deadline([0.0] + x[1:].tolist(), 0.1, 0.0, True))
    tbt = np.concatenate(pooled)
    return dict(
        ttft=dist(ttft), tbt=dist(tbt), chunk=dist(np.concatenate(gaps)), tpot=dist(tpot), e2e=dist(e2e),
        norm=dist(norm), p1_fluidity=np.quantile(fluid, 0.01), tpot_based=1 / np.mean(reference_tpot),
        tbt_based=1 / np.quantile(tbt, 0.99), fluid_rate=1 / np.quantile(mins, 0.99))


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    records = []
    with open(path) as f:
        for line in f:
            records.append(json.loads(line))
            if len(records) == n:
                break
    start = time.perf_counter()
    s = summarize(records)
    elapsed = time.perf_counter() - start
    print(f"python-compute requests={len(records)} seconds={elapsed:.3f} per_request_us={elapsed / len(records) * 1e6:.2f} "
          f"p1_fluidity={s['p1_fluidity']:.6f} tbt_p99={s['tbt']['p99']:.6f} fluid_rate={s['fluid_rate']:.4f}")


if __name__ == "__main__":
    main()
