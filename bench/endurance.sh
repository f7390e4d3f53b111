#!/usr/bin/env bash
# Endurance: `metron run` for DURATION seconds (default 600) at about STREAMS (default 1,000)
# concurrent streams against `metron serve-sim` on 127.0.0.1. Samples the client's resident memory
# (VmRSS of /proc/PID/status) at the start, every SAMPLE seconds (default 30) and at the end, and
# checks that every scheduled request has exactly one record.
# Run from the package root after `swift build -c release --product metron`:
#   bench/endurance.sh [path/to/metron]
# Results: bench/out/endurance-<time>/ (rss.csv, summary.json, requests.jsonl, result.json).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BIN=${1:-.build/release/metron}
DURATION=${DURATION:-600}
SAMPLE=${SAMPLE:-30}
STREAMS=${STREAMS:-1000}
OUTPUT_TOKENS=${OUTPUT_TOKENS:-50}
PROMPT_TOKENS=${PROMPT_TOKENS:-64}
ITERATION_S=${ITERATION_S:-0.2}   # the simulator's per-iteration overhead: sets the token pace
OUT=bench/out/endurance-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"

# A deployment whose batch never fills: every stream runs from its arrival to its end, one token per
# iteration of about ITERATION_S seconds (Llama-3-8B on one H100, chunked prefill, batch up to 4,096).
cat > "$OUT/sim.json" <<JSON
{"hardware": "H100", "model": "llama-3-8b", "tensor_parallel": 1,
 "scheduler": {"kind": "sarathi", "max_batch_size": 4096, "token_budget": 16384},
 "efficiency": {"iteration_overhead_s": $ITERATION_S}, "seed": 1}
JSON

"$BIN" serve-sim --config "$OUT/sim.json" --port 0 > "$OUT/server.log" 2> "$OUT/server.err" &
server_pid=$!
client_pid=""
cleanup() {
    [ -n "$client_pid" ] && kill "$client_pid" 2>/dev/null || true
    kill "$server_pid" 2>/dev/null || true
}
trap cleanup EXIT
url=$(serve_sim_url "$OUT/server.log" "$OUT/server.err")

# One stream lives about OUTPUT_TOKENS iterations (the first token comes at the end of the iteration
# that takes its prompt): rate = STREAMS / lifetime keeps STREAMS open.
# An iteration of ~1,000 decodes took about the overhead plus 70 ms here (roofline time and the late
# timer of a busy loop); ITERATION_EXTRA_S adjusts the estimate.
iteration=$(python3 -c "print($ITERATION_S + ${ITERATION_EXTRA_S:-0.07})")
rate=$(python3 -c "print(round($STREAMS / ($OUTPUT_TOKENS * $iteration), 2))")
echo "# endurance: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, server $url, rate $rate req/s for $DURATION s"

"$BIN" run --url "$url" --model llama-3-8b --rate "$rate" --duration "$DURATION" --arrival poisson \
    --prompt-length "$PROMPT_TOKENS" --output-length "$OUTPUT_TOKENS" --tokens-per-word 1 --seed 1 \
    --timeout 120 --out "$OUT/run" > "$OUT/client.log" 2> "$OUT/client.err" &
client_pid=$!
echo "elapsed_s,vmrss_kb,running,waiting" > "$OUT/rss.csv"
sample() {
    local rss running waiting
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$client_pid/status" 2>/dev/null || true)
    [ -n "$rss" ] || return 0
    running=$(curl -s "$url/metrics" | awk '/^vllm:num_requests_running/ {print $2}' || true)
    waiting=$(curl -s "$url/metrics" | awk '/^vllm:num_requests_waiting/ {print $2}' || true)
    echo "$1,$rss,${running:-},${waiting:-}" | tee -a "$OUT/rss.csv"
}
start=$(date +%s.%N)
sleep 2                      # past start-up and the timer calibration: the "start" sample
sample 2
next=$SAMPLE
while kill -0 "$client_pid" 2>/dev/null; do
    now=$(python3 -c "print(int($(date +%s.%N) - $start))")
    if [ "$now" -ge "$next" ]; then
        sample "$now"
        next=$(( next + SAMPLE ))
    fi
    # Records are appended to requests.jsonl as requests finish: memory should follow open streams only.
    sleep 1
done
wait "$client_pid" || { echo "metron run failed" >&2; cat "$OUT/client.err" >&2; exit 1; }
client_pid=""
/usr/bin/env python3 - "$OUT" <<'PY'
import json, re, sys
out = sys.argv[1]
err = open(out + "/client.err").read()
planned = int(re.search(r"metron run: (\d+) requests", err).group(1))
ids, status, tokens = [], {}, 0
for line in open(out + "/run/requests.jsonl"):
    r = json.loads(line)
    ids.append(r["id"])
    status[r["status"]] = status.get(r["status"], 0) + 1
    tokens += sum(r.get("chunk_tokens") or [])
summary = json.load(open(out + "/run/summary.json"))
rows = [l.strip().split(",") for l in open(out + "/rss.csv")][1:]
rss = [(float(t), int(kb)) for t, kb, *_ in rows]
running = [int(float(r[2])) for r in rows if len(r) > 2 and r[2]]
result = {
    "planned": planned, "records": len(ids), "unique_ids": len(set(ids)),
    "every_request_once": sorted(ids) == list(range(planned)),
    "status": status, "errors": summary.get("errors"), "output_tokens": tokens,
    "target_rate": summary.get("target_rate"), "achieved_rate": summary.get("achieved_rate"),
    "running_streams_sampled": {"min": min(running[1:-1] or running or [0]), "max": max(running or [0])},
    "rss_start_mib": round(rss[0][1] / 1024, 1), "rss_end_mib": round(rss[-1][1] / 1024, 1),
    "rss_max_mib": round(max(kb for _, kb in rss) / 1024, 1),
    "rss_growth_mib": round((rss[-1][1] - rss[0][1]) / 1024, 1),
    "rss_growth_bytes_per_request": round((rss[-1][1] - rss[0][1]) * 1024 / max(1, len(ids))),
    # Once all streams are open (the first sample at or after 60 s) to the end: what grows with time.
    "rss_steady_from_s": next((t for t, _ in rss if t >= 60), None),
    "rss_steady_growth_mib": next((round((rss[-1][1] - kb) / 1024, 1) for t, kb in rss if t >= 60), None),
    "rss_steady_growth_percent": next((round((rss[-1][1] - kb) * 100 / kb, 1) for t, kb in rss if t >= 60), None),
    # What the records would take if they were held until the end (they are not: streamed to the file).
    "records_in_memory_estimate_mib": round((tokens * 16 + len(ids) * 200) / 2**20, 1),
    "client": summary.get("client"),
}
json.dump(result, open(out + "/result.json", "w"), indent=1)
print(json.dumps(result, indent=1))
PY
echo "results in $OUT"
