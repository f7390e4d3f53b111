"""Writes golden/edge_case_vectors.jsonl: short and chunked requests run through the reference's own
metric functions (project-etalon/etalon, etalon/metrics/metric_utils.py and request_metrics.py).

Usage: python3 make_edge_case_vectors.py PATH_TO_ETALON_CHECKOUT > golden/edge_case_vectors.jsonl
Only numpy is needed: the two modules are loaded by path, without installing the package.
"""
import importlib.util
import json
import math
import sys

import numpy as np


def load(root, name):
    spec = importlib.util.spec_from_file_location(name, f"{root}/etalon/metrics/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


root = sys.argv[1]
metric_utils = load(root, "metric_utils")
RequestMetrics = load(root, "request_metrics").RequestMetrics

TTFT_DEADLINE, TBT_DEADLINE = 0.3, 0.05


def finite(value):
    """JSON has no infinity: a rate the reference gives as inf (a time of 0) is written as null."""
    value = float(value)
    return value if math.isfinite(value) else None


def request_case(name, x, ignore_first, target=0.1):
    rate, missed, total = metric_utils.get_request_level_deadline_miss_rate(
        x, ttft_deadline=TTFT_DEADLINE, tbt_deadline=TBT_DEADLINE, should_ignore_first_token=ignore_first)
    return {
        "kind": "request", "case": name, "inter_token_times": x,
        "ttft_deadline": TTFT_DEADLINE, "tbt_deadline": TBT_DEADLINE,
        "ignore_first_token": ignore_first, "target_deadline_miss_rate": target,
        "expected": {
            "deadline_miss_rate": float(rate), "fluidity_index": 1 - float(rate),
            "missed_deadlines": float(missed), "total_deadlines": float(total),
            "min_tbt_deadline_to_meet": float(metric_utils.find_min_tbt_deadline_to_meet(
                x, target, TTFT_DEADLINE, should_ignore_first_token=ignore_first)),
        },
    }


def service_case(name, requests):
    # As the reference's metric store builds them: per-request TPOT from RequestMetrics, TBTs = x[1:].
    tpots = [RequestMetrics(x, num_prompt_tokens=1, num_output_tokens=len(x)).tpot for x in requests]
    with np.errstate(divide="ignore"):
        tpot_based, tbt_based, fluid = metric_utils.get_throughput_metrics(tpots, [x[1:] for x in requests])
    rate, missed, total = metric_utils.get_service_level_deadline_miss_rate(
        requests, [TTFT_DEADLINE] * len(requests), [TBT_DEADLINE] * len(requests))
    return {
        "kind": "service", "case": name, "requests": requests,
        "ttft_deadline": TTFT_DEADLINE, "tbt_deadline": TBT_DEADLINE,
        "expected": {
            "request_tpots": [float(t) for t in tpots],
            "tpot_based_throughput": finite(tpot_based), "tbt_based_throughput": finite(tbt_based),
            "fluid_token_generation_rate": finite(fluid),
            "service_deadline_miss_rate": float(rate),
            "service_missed_deadlines": float(missed), "service_total_deadlines": float(total),
        },
    }


requests = [
    ("no tokens", []),
    ("one token on time", [0.25]),
    ("one token late", [0.5]),
    ("two tokens on time", [0.1, 0.02]),
    ("two tokens, the second late", [0.1, 0.2]),
    ("two tokens in one late chunk", [0.5, 0.0]),
    ("one chunk of ten tokens on time", [0.2] + [0.0] * 9),
    ("one chunk of ten tokens late", [0.9] + [0.0] * 9),
    ("a late chunk of four tokens after the first", [0.1, 0.3, 0.0, 0.0, 0.0]),
]

rng = np.random.default_rng(2407)
mixed = []
for i in range(150):
    n = [1, 1, 2, 5, 40][i % 5]
    x = [round(float(rng.uniform(0.05, 0.6)), 6)]
    x += [round(float(rng.exponential(0.03)), 6) for _ in range(n - 1)]
    if i % 7 == 0 and n > 2:
        x[2:] = [0.0] * (n - 2)  # the rest of the output in one chunk
    mixed.append(x)

services = [
    ("a one-token request beside a three-token one", [[0.2], [0.1, 0.02, 0.03]]),
    ("two-token requests", [[0.1, 0.04], [0.2, 0.06]]),
    ("one- and two-token requests", [[0.1, 0.04], [0.3], [0.2, 0.06], [0.15]]),
    ("a late one-token request", [[0.1, 0.05, 0.05], [0.5]]),
    ("a request with no tokens beside a three-token one", [[], [0.1, 0.02, 0.02]]),
    ("a single chunk of five tokens beside a three-token request", [[0.3, 0.0, 0.0, 0.0, 0.0], [0.1, 0.02, 0.03]]),
    ("only single chunks of several tokens", [[0.4, 0.0], [0.2, 0.0, 0.0, 0.0]]),
    ("150 requests of 1, 2, 5 and 40 tokens, some ending in one chunk", mixed),
]

for ignore_first in (False, True):
    for name, x in requests:
        print(json.dumps(request_case(name, x, ignore_first)))
for name, reqs in services:
    print(json.dumps(service_case(name, reqs)))
