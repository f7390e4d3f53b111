#!/usr/bin/env python3
"""Writes golden/tied_verdicts.jsonl: P-percentile fluidity verdicts on samples full of exact ties,
judged as the reference judges them (numpy's linear quantile of per-request miss rates against
the target miss rate). Each request is given as [missed, total] deadlines.

python3 Tests/Fixtures/make_tied_verdicts.py > Tests/Fixtures/golden/tied_verdicts.jsonl
"""
import json
import random

import numpy as np

rng = random.Random(20261201)
for case in range(1000):
    percentile, target_miss_rate = rng.choice([(99, 0.1), (99, 0.2), (95, 0.1), (90, 0.25), (99, 0.05)])
    n = rng.randint(100, 300)
    requests = []
    for _ in range(n):
        total = rng.choice([4, 10, 20, 40])
        u = rng.random()
        if u < 0.6:
            missed = 0
        elif u < 0.93:
            missed = round(total * target_miss_rate)  # exactly on the limit where total allows
        else:
            missed = rng.randint(0, total)
        requests.append([missed, total])
    miss_rates = np.array([m / t for m, t in requests])
    q = float(np.quantile(miss_rates, percentile / 100))
    print(json.dumps({"percentile": percentile, "target_miss_rate": target_miss_rate,
                      "requests": requests, "quantile": q, "passed": bool(q <= target_miss_rate)},
                     separators=(",", ":")))
