#!/usr/bin/env bash
# Benchmarks that print figures (never timed tests).
# Usage: bash bench/run.sh [metrics|fuzz|accuracy|timestamps|realtime_default|pairing|spread|quickstart_windows|controls|endurance|sim_throughput|shards|
#        caching_gain|sessions_agreement|real_server_prefix|real_server_sessions ...] (default: metrics fuzz accuracy timestamps)
# Outputs go to bench/out/ (ignored by git). Figures are copied into docs/BENCHMARKS.md by hand,
# with the date and machine printed here.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
swift build -c release --product metron-bench >/dev/null
swift build -c release --product metron >/dev/null
bin=.build/release
echo "# $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

# Runs a command on a records file with its binary copy moved away: the JSON lines alone.
without_binary_copy() {
    local f=$1
    shift
    local status=0
    mv "${f%.jsonl}.bin" "$f.aside"
    "$@" "$f" || status=$?
    mv "$f.aside" "${f%.jsonl}.bin"
    return $status
}

metrics() {
    echo "## metrics: 500-token requests, every metric of METRICS.md"
    local big=$out/records-100k.jsonl small=$out/records-10k.jsonl
    [ -s "$big" ] && [ -s "${big%.jsonl}.bin" ] || $bin/metron-bench gen "$big" 100000 500
    [ -s "$small" ] && [ -s "${small%.jsonl}.bin" ] || $bin/metron-bench gen "$small" 10000 500
    # Same algorithm side by side: numpy/Python on the first 2,000 records, Swift on the same ones.
    python3 bench/metrics_numpy.py "$big" 2000
    $bin/metron-bench compute "$big" 2000
    $bin/metron-bench compute "$big" 20000
    # Streamed from a file (two passes, every metric): peak memory must not grow with the file.
    # First as a run leaves it (with its binary copy), then the JSON lines alone.
    local f
    for f in "$small" "$big"; do
        $bin/metron-bench summary "$f"
        without_binary_copy "$f" $bin/metron-bench summary
    done
    # The reader alone: one pass, no metrics, with the copy and without.
    $bin/metron-bench summary --read-only "$big"
    without_binary_copy "$big" $bin/metron-bench summary --read-only
    ls -l "$big" "${big%.jsonl}.bin" | awk '{printf "file %s bytes=%d\n", $9, $5}'
}

fuzz() {
    echo "## fuzz: the test suite's seeded fuzzers at ${METRON_FUZZ_ITERATIONS:=100000} iterations each"
    swift build --build-tests >/dev/null
    METRON_FUZZ_ITERATIONS=$METRON_FUZZ_ITERATIONS swift test --skip-build --filter MetronFuzzTests 2>&1 \
        | grep -E "error|Executed .* tests" | tail -1
}

timestamps() {
    echo "## timestamps: client timestamp error of metron and of an aiohttp client, both at normal priority, 256 and 1,024 streams"
    bash bench/timestamp_error.sh "$bin/metron" 256 1024
}

realtime_default() {
    echo "## realtime_default: metron's timestamp error with its default priority (real-time where allowed) against --no-realtime, alternately, twice"
    for _ in 1 2; do
        METRON_FLAGS=" " bash bench/timestamp_error.sh "$bin/metron" 256 1024
        METRON_FLAGS=--no-realtime bash bench/timestamp_error.sh "$bin/metron" 256 1024
    done
}

endurance() {
    echo "## endurance: metron run for ${DURATION:-600} s at about 1,000 concurrent streams against serve-sim"
    bash bench/endurance.sh "$bin/metron"
}

sim_throughput() {
    echo "## sim_throughput: serve-sim on core 0 with --truth-log, metron run on core 1, about 1,000 streams"
    bash bench/sim_throughput.sh "$bin/metron"
}

accuracy() {
    echo "## accuracy: capacity search vs stored ground truths (bench/accuracy/), fitted at budgets 6 and 12 and bisect, ${METRON_ACCURACY_SEEDS:=30} seeds"
    # Truths missing from bench/accuracy/truths.json are measured first (METRON_ACCURACY_RECOMPUTE=1: all of them).
    $bin/metron-bench accuracy --seeds "$METRON_ACCURACY_SEEDS" --budgets 6,12 ${METRON_ACCURACY_RECOMPUTE:+--recompute-truths} \
        | tee "$out/accuracy.txt" | sed -n '/^## configurations/,/^search:/p;/^## summary/,$p'
}

pairing() {
    echo "## pairing: how often the ranking calls identical systems, and systems 10 % apart, different; ${METRON_PAIRING_SEEDS:=30} seeds"
    $bin/metron-bench pairing --seeds "$METRON_PAIRING_SEEDS" --budgets 6,12 | tee "$out/pairing.txt"
}

spread() {
    echo "## spread: how much 60 s probes disagree near capacity, against binomial counts and the episodes of misses"
    for system in h100-vllm h100-sarathi; do
        $bin/metron-bench spread --system "$system" --rates "$([ $system = h100-vllm ] && echo 8,10,10.5,11,12,14 || echo 16,17,18,19,20)" \
            --probes 100 | tee "$out/spread-$system.txt"
    done
}

quickstart_windows() {
    echo "## quickstart_windows: the quickstart in virtual time over 24 seeds, probe windows varied (warmup_s:duration_s:probe_budget)"
    python3 bench/quickstart_windows.py "$PWD/$bin/metron" "$out/quickstart-windows" --seeds 24 \
        2:-:10 3:12:10 5:15:10 5:15:8 5:20:10 | tee "$out/quickstart-windows.jsonl"
}

controls() {
    echo "## controls: whether the plan's realised features explain how probes near capacity scatter (control variates)"
    $bin/metron-bench controls --probes "${METRON_CONTROLS_PROBES:-60}" | tee "$out/controls.txt"
}

shards() {
    echo "## shards: one client against two shards of the same load (serve-sim with --truth-log on core 0, every client on core 1)"
    for n in 1 2; do
        SHARDS=$n STREAMS=${STREAMS:-1000} ITERATION_S=${ITERATION_S:-0.02} bash bench/sim_throughput.sh "$bin/metron" \
            | python3 -c 'import json, sys; t = sys.stdin.read(); r = json.loads(t[t.index("{"):t.rindex("}") + 1]); print(json.dumps({k: r[k] for k in ("shards", "requests", "ok", "concurrent_streams", "tokens_per_s_steady", "client_minus_emission_ms", "client")}))'
    done
}

caching_gain() {
    echo "## caching_gain: the simulator's capacity with 90 % of prompts sharing one of 4 prefixes of 1,024 tokens, prefix caching on against off (virtual time)"
    rm -rf "$out/caching-gain"
    $bin/metron sweep sweeps/caching-gain.yaml --simulate --results "$out/caching-gain" --no-plots \
        | tee "$out/caching-gain.txt" | sed -n '/^SIMULATED/,$p'
    cat "$out/caching-gain/caching-gain-simulated/capacity.csv"
}

sessions_agreement() {
    echo "## sessions_agreement: sweeps/sessions-sim.yaml in virtual time and over HTTP against the simulator"
    rm -rf "$out/sessions"
    $bin/metron sweep sweeps/sessions-sim.yaml --simulate --results "$out/sessions" --no-plots > "$out/sessions-virtual.txt"
    $bin/metron sweep sweeps/sessions-sim.yaml --results "$out/sessions" --no-plots > "$out/sessions-http.txt"
    for mode in sessions-sim-simulated sessions-sim; do
        for capacity in "$out/sessions/$mode"/*/*/*/capacity.json; do
            python3 - "$capacity" "$mode" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
slo = sys.argv[1].split("/")[-2]
valid = [p for p in d["probes"] if p["valid"]]
print(f"{sys.argv[2]:24} {slo:13} max {d.get('max_qps')} sessions/s, interval [{d.get('ci_low')}, {d.get('ci_high')}], "
      f"undetermined: {d.get('undetermined')}, {d.get('requests_per_session')} requests per session, "
      f"{len(d['probes'])} probes ({len(valid)} valid)")
PY
        done
    done
}

# LLAMA_SERVER and LLAMA_MODEL, built by bench/llama_server.sh (outside the repo) when not given.
llama_paths() {
    if [ -z "${LLAMA_SERVER:-}" ] || [ -z "${LLAMA_MODEL:-}" ]; then eval "$(bash bench/llama_server.sh)"; fi
}

real_server_prefix() {
    echo "## real_server_prefix: llama-server, 4 shared prefixes of 1,024 tokens in 0 % and 90 % of prompts, a fresh server each"
    llama_paths
    local port=18181
    for fraction in 0 0.9; do
        "$LLAMA_SERVER" -m "$LLAMA_MODEL" --alias tiny --host 127.0.0.1 --port $port -c 16384 -np 8 -t 1 --metrics \
            > "$out/llama-server-$fraction.log" 2>&1 &
        local server=$!
        for _ in $(seq 60); do curl -sf localhost:$port/health >/dev/null && break; sleep 1; done
        rm -rf "$out/prefix-$fraction"
        $bin/metron run --url http://127.0.0.1:$port --model tiny --rate 1 --duration 60 --prompt-length uniform:1200:1900 \
            --output-length fixed:16 --shared-prefix 4:1024:$fraction --out "$out/prefix-$fraction" > "$out/prefix-$fraction.txt"
        kill $server; wait $server 2>/dev/null || true
        python3 - "$out/prefix-$fraction/requests.jsonl" "$fraction" <<'PY'
import json, statistics, sys
ok = [r for r in map(json.loads, open(sys.argv[1])) if r["status"] == "ok"]
ttft = [r["chunk_times_s"][0] - r["sent_s"] for r in ok if r["chunk_times_s"]]
prompt = sum(r.get("prompt_tokens") or 0 for r in ok)
cached = sum(r.get("cached_prompt_tokens") or 0 for r in ok)
print(f"fraction {sys.argv[2]}: {len(ok)} requests, prompt tokens {prompt}, cached {cached} ({cached / prompt:.1%}), "
      f"TTFT mean {statistics.mean(ttft) * 1000:.0f} ms, median {statistics.median(ttft) * 1000:.0f} ms")
PY
    done
}

real_server_sessions() {
    echo "## real_server_sessions: llama-server, sessions of 3 turns (think time 1 s) at 0.5 sessions/s, per turn index"
    llama_paths
    local port=18182
    "$LLAMA_SERVER" -m "$LLAMA_MODEL" --alias tiny --host 127.0.0.1 --port $port -c 16384 -np 8 -t 1 --metrics \
        > "$out/llama-server-sessions.log" 2>&1 &
    local server=$!
    for _ in $(seq 60); do curl -sf localhost:$port/health >/dev/null && break; sleep 1; done
    rm -rf "$out/sessions-real"
    $bin/metron run --url http://127.0.0.1:$port --model tiny --api chat --rate 0.5 --duration 60 --prompt-length uniform:150:300 \
        --output-length fixed:16 --turns 3 --think-time exponential:1 --out "$out/sessions-real" | tee "$out/sessions-real.txt"
    kill $server; wait $server 2>/dev/null || true
}

sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(metrics fuzz accuracy timestamps)
for s in "${sections[@]}"; do "$s"; done
