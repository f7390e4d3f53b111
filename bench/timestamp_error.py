#!/usr/bin/env python3
"""Client timestamp error: each client chunk time minus the server's own send time of that chunk.

--truth: the server's log, one JSON object per request with "tag" (the prompt's start,
"Request N: ...") and "send_times" (CLOCK_MONOTONIC seconds).
--metron DIR: a `metron run` directory (requests.jsonl plus run.json's run_start_monotonic_s).
--python FILE: the output of aiohttp_client.py.
Prints one JSON object: chunk count, p50/p99/max error in milliseconds.
"""
import argparse, json, re

def quantile(xs, q):
    xs = sorted(xs)
    if not xs:
        return None
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--truth", required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--metron")
    g.add_argument("--python")
    p.add_argument("--label", default="")
    args = p.parse_args()
    truth = {}
    for line in open(args.truth):
        row = json.loads(line)
        m = re.search(r"Request (\d+):", row["tag"])
        if m:
            truth[int(m.group(1))] = row["send_times"]
    client = {}
    if args.metron:
        start = json.load(open(args.metron + "/run.json"))["run_start_monotonic_s"]
        for line in open(args.metron + "/requests.jsonl"):
            r = json.loads(line)
            if r["status"] == "ok":
                client[r["id"]] = [start + t for t in r["chunk_times_s"]]
    else:
        for line in open(args.python):
            r = json.loads(line)
            if r["error"] is None:
                client[r["id"]] = r["chunk_times"]
    errors, mismatched = [], 0
    for rid, times in client.items():
        sends = truth.get(rid)
        if sends is None or len(sends) != len(times):
            mismatched += 1
            continue
        errors += [(c - s) * 1000 for c, s in zip(times, sends)]
    print(json.dumps({"label": args.label, "requests": len(client), "mismatched": mismatched, "chunks": len(errors),
                      "p50_ms": quantile(errors, 0.5), "p99_ms": quantile(errors, 0.99),
                      "max_ms": max(errors) if errors else None}))

if __name__ == "__main__":
    main()
