#!/usr/bin/env bash
# Client timestamp error of Metron's engine and of an asyncio/aiohttp client against the same
# server (bench/stream_server.py, which logs its own send time of every chunk), at 1, 64, 256 and
# 1024 concurrent streams. Run from the package root after `swift build -c release`:
#   bench/timestamp_error.sh [path/to/metron] [streams...]
# Both clients run at normal priority (metron with --no-realtime): METRON_FLAGS replaces metron's
# priority flag (METRON_FLAGS=--realtime), and PYTHON_PREFIX="chrt -f 50" runs the Python client under
# the same real-time priority. SERVER_PREFIX="nice -n 19" runs the server below both clients, as if it
# ran on a machine of its own.
# Results: bench/out/timestamp-error-<time>/results.jsonl (one line per client and stream count).
set -euo pipefail
BIN=${1:-.build/release/metron}
shift || true
STREAMS=${*:-1 64 256 1024}
PORT=${PORT:-8123}
GAP=${GAP:-0.1}          # seconds between chunks of one stream
TOKENS=${TOKENS:-30}     # chunks per request: each request streams for about TOKENS x GAP seconds
OUT=bench/out/timestamp-error-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
python3 -c "import aiohttp" 2>/dev/null || { echo "needs aiohttp: METRON_BENCH=1 bash scripts/setup.sh (make bench runs it)" >&2; exit 1; }

server_pid=""
start_server() {
    ${SERVER_PREFIX:-} python3 bench/stream_server.py --port "$PORT" --gap "$GAP" --ttft 0.05 --truth-log "$1" &
    server_pid=$!
    for _ in $(seq 50); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT)).close()" 2>/dev/null && return
        sleep 0.1
    done
    echo "server did not start" >&2; exit 1
}
stop_server() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; }
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true' EXIT

for n in $STREAMS; do
    # A constant rate that keeps about n streams open: n / (seconds one request streams).
    life=$(python3 -c "print(0.05 + ($TOKENS - 1) * $GAP)")
    rate=$(python3 -c "print($n / $life)")
    duration=$(python3 -c "print(max(3 * $life, 2 * $life + 3 / $rate))")

    start_server "$OUT/truth-metron-$n.jsonl"
    "$BIN" run --url "http://127.0.0.1:$PORT" --model m --rate "$rate" --duration "$duration" \
        --arrival constant --prompt-length 40 --output-length "$TOKENS" --tokens-per-word 1 \
        --out "$OUT/metron-$n" ${METRON_FLAGS:---no-realtime} > "$OUT/metron-$n.log" 2>&1
    stop_server
    python3 bench/timestamp_error.py --truth "$OUT/truth-metron-$n.jsonl" --metron "$OUT/metron-$n" \
        --label "metron streams=$n" | tee -a "$OUT/results.jsonl"

    start_server "$OUT/truth-python-$n.jsonl"
    ${PYTHON_PREFIX:-} python3 bench/aiohttp_client.py --url "http://127.0.0.1:$PORT/v1/completions" --rate "$rate" \
        --duration "$duration" --output-tokens "$TOKENS" --out "$OUT/python-$n.jsonl"
    stop_server
    python3 bench/timestamp_error.py --truth "$OUT/truth-python-$n.jsonl" --python "$OUT/python-$n.jsonl" \
        --label "aiohttp streams=$n" | tee -a "$OUT/results.jsonl"
done
echo "results in $OUT/results.jsonl"
