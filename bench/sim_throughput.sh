#!/usr/bin/env bash
# The simulator's HTTP front under about STREAMS (default 1,000) concurrent streams at 50,000+
# tokens/s: `metron serve-sim --truth-log` pinned to core 0, Metron's own load generator
# (`metron run`) pinned to core 1. Reports, from the truth log and the client's records: tokens/s,
# concurrent streams, how the server's emissions keep to the model's iteration schedule, the
# client's receive time minus the server's emission time per token, and the server's CPU.
# With SHARDS=N the load is N `metron run --shard I/N` processes (all on core 1) from one agreed
# time 0, merged with `metron merge`.
# Run from the package root after `swift build -c release --product metron`:
#   bench/sim_throughput.sh [path/to/metron]
# Results: bench/out/sim-throughput-<time>/ (truth.csv, run/, result.json).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BIN=${1:-.build/release/metron}
STREAMS=${STREAMS:-1000}
OUTPUT_TOKENS=${OUTPUT_TOKENS:-200}
ITERATION_S=${ITERATION_S:-0.015}   # per-iteration time: STREAMS / ITERATION_S tokens/s offered
DURATION=${DURATION:-20}
SHARDS=${SHARDS:-1}
OUT=bench/out/sim-throughput-$(date -u +%Y%m%dT%H%M%SZ)-$SHARDS
mkdir -p "$OUT"

# Hardware so fast that the roofline time is negligible: every iteration takes ITERATION_S (the
# per-iteration overhead), whatever the batch, so the planned emission times are known exactly.
cat > "$OUT/sim.json" <<JSON
{"hardware": {"name": "bench-fast", "peak_tflops": 1000000, "memory_bandwidth_gb_s": 10000000,
              "memory_gb": 1000, "interconnect_gb_s": 10000},
 "model": "llama-3-8b",
 "scheduler": {"kind": "sarathi", "max_batch_size": 8192, "token_budget": 65536},
 "efficiency": {"iteration_overhead_s": $ITERATION_S}, "seed": 1}
JSON

taskset -c 0 "$BIN" serve-sim --config "$OUT/sim.json" --port 0 --truth-log "$OUT/truth.csv" \
    > "$OUT/server.log" 2> "$OUT/server.err" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
url=$(serve_sim_url "$OUT/server.log" "$OUT/server.err")

# A stream lives OUTPUT_TOKENS iterations: rate = STREAMS / lifetime keeps STREAMS open.
rate=$(python3 -c "print(round($STREAMS / ($OUTPUT_TOKENS * $ITERATION_S), 2))")
echo "# sim throughput: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# server on core 0 ($url), client on core 1: rate $rate req/s x $OUTPUT_TOKENS tokens for $DURATION s"
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
server_cpu0=$(cpu "$server_pid")
t0=$(date +%s.%N)
client=("$BIN" run --url "$url" --model llama-3-8b --rate "$rate" --duration "$DURATION" --arrival constant
        --prompt-length 32 --output-length "$OUTPUT_TOKENS" --tokens-per-word 1 --realtime --out "$OUT/run")
if [ "$SHARDS" -eq 1 ]; then
    taskset -c 1 "${client[@]}" > "$OUT/client.log" 2> "$OUT/client.err"
else
    start_at=$(python3 -c "import time; print(time.time() + 3)")
    pids=()
    for i in $(seq 0 $((SHARDS - 1))); do
        taskset -c 1 "${client[@]}" --shard "$i/$SHARDS" --start-at "$start_at" > "$OUT/client-$i.log" 2> "$OUT/client-$i.err" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    "$BIN" merge "$OUT/run" > "$OUT/merge.log" 2> "$OUT/merge.err"
fi
t1=$(date +%s.%N)
server_cpu1=$(cpu "$server_pid")
kill -TERM "$server_pid"
wait "$server_pid" 2>/dev/null || true
python3 - "$OUT" "$ITERATION_S" "$DURATION" \
    "$(python3 -c "print(($server_cpu1 - $server_cpu0) / $ticks)")" "$(python3 -c "print($t1 - $t0)")" "$SHARDS" <<'PY'
import json, sys
import numpy as np
out, iteration, duration, server_cpu, wall = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
truth = {}
times = []
with open(out + "/truth.csv") as f:
    next(f)
    for line in f:
        rid, t = line.rstrip("\n").split(",")
        t = float(t)
        truth.setdefault(rid, []).append(t)
        times.append(t)
times = np.sort(np.array(times))
import glob
# (time 0 of the run that recorded it, record): one run, or each shard's.
records = []
for directory in sorted(glob.glob(out + "/run/shards/*/")) or [out + "/run/"]:
    zero = json.load(open(directory + "run.json"))["run_start_monotonic_s"]
    records += [(zero, json.loads(l)) for l in open(directory + "requests.jsonl")]
start = min(zero for zero, _ in records)
summary = json.load(open(out + "/run/summary.json"))

# Steady state: from one stream lifetime after the first emission to the last send.
lifetime = max(len(v) for v in truth.values()) * iteration
lo, hi = times[0] + lifetime, start + duration
steady = times[(times >= lo) & (times < hi)]
tokens_per_s = len(steady) / (hi - lo)
spans = np.array([(v[0], v[-1]) for v in truth.values()])
probe = np.linspace(lo, hi, 50)
streams = [int(((spans[:, 0] <= t) & (spans[:, 1] >= t)).sum()) for t in probe]

# Emission schedule: each stream gets one token per iteration, so consecutive emissions of one
# stream are planned exactly one iteration apart; the gap's deviation is the server's timing error
# (the write burst of an iteration, and any late timer).
gap = np.concatenate([np.diff(v) for v in truth.values() if len(v) > 1 and lo <= v[0] and v[-1] < hi]) * 1e3

# Client receive minus server emission, per token: the server numbers requests in arrival order
# (cmpl-1, cmpl-2, ...), the client sends them in plan order, 1/rate apart.
ordered = sorted(((zero, r) for zero, r in records if r["sent_s"] is not None), key=lambda p: p[0] + p[1]["sent_s"])
errors, mismatched = [], 0
for i, (zero, r) in enumerate(ordered):
    emitted = truth.get("cmpl-%d" % (i + 1))
    got = [zero + t for t, n in zip(r["chunk_times_s"], r["chunk_tokens"]) for _ in range(n)]
    if not emitted or len(emitted) != len(got):
        mismatched += 1
        continue
    e = np.array(got) - np.array(emitted)
    if e.min() < 0:
        mismatched += 1
        continue
    errors.append(e)
errors = np.concatenate(errors) * 1e3 if errors else np.array([np.nan])
pct = lambda a, q: round(float(np.percentile(a, q)), 3)
result = {
    "shards": int(sys.argv[6]), "requests": len(records), "ok": summary["ok"], "errors": summary["errors"],
    "tokens_emitted": int(len(times)), "steady_window_s": round(hi - lo, 2),
    "tokens_per_s_steady": round(tokens_per_s), "offered_tokens_per_s": round(np.median(streams) / iteration),
    "concurrent_streams": {"min": min(streams), "median": int(np.median(streams)), "max": max(streams)},
    "iteration_ms_planned": iteration * 1e3,
    "stream_token_gap_ms": {"gaps": int(gap.size), "p1": pct(gap, 1), "p50": pct(gap, 50), "p99": pct(gap, 99),
                            "max": round(float(gap.max()), 3)},
    "gap_minus_iteration_ms": {"p50": pct(np.abs(gap - iteration * 1e3), 50),
                               "p99": pct(np.abs(gap - iteration * 1e3), 99)},
    "client_minus_emission_ms": {"tokens": int(errors.size), "p50": pct(errors, 50), "p99": pct(errors, 99),
                                 "max": round(float(np.nanmax(errors)), 3), "requests_unmatched": mismatched},
    "server_cpu_s": round(server_cpu, 2), "load_wall_s": round(wall, 2),
    "server_cpu_share_of_core0": round(server_cpu / wall, 3),
    "server_cpu_us_per_token": round(server_cpu / len(times) * 1e6, 2),
    "client": {k: summary["client"][k] for k in ("lag", "timer_lateness", "trustworthy")},
}
json.dump(result, open(out + "/result.json", "w"), indent=1)
print(json.dumps(result, indent=1))
PY
echo "results in $OUT"
