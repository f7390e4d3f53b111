#!/usr/bin/env bash
# Streamed chunks per second through one engine thread: bench/stream_server.py sends content
# events with no gaps, many per write, and Metron reads them. Run from the package root after
# `swift build -c release`:  bench/throughput.sh [path/to/metron]
# Prints chunks, seconds, chunks/s and the metron process's CPU seconds (all threads).
set -euo pipefail
BIN=${1:-.build/release/metron}
PORT=${PORT:-8124}
STREAMS=${STREAMS:-64}
CHUNKS=${CHUNKS:-20000}     # content chunks per request
OUT=bench/out/throughput-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
python3 bench/stream_server.py --port "$PORT" --events-per-write "${EVENTS_PER_WRITE:-200}" --gap 0 --ttft 0 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
sleep 1
# All streams start within 0.1 s and stay open while they stream.
/usr/bin/time -f "%U %S" -o "$OUT/cpu.txt" "$BIN" run --url "http://127.0.0.1:$PORT" --model m \
    --rate "$(( STREAMS * 10 ))" --duration 0.1 --arrival constant --prompt-length 16 \
    --output-length "$CHUNKS" --tokens-per-word 1 --out "$OUT/run" > "$OUT/metron.log" 2>&1
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
records = [json.loads(l) for l in open(out + "/run/requests.jsonl")]
ok = [r for r in records if r["status"] == "ok"]
chunks = sum(len(r["chunk_times_s"]) for r in ok)
first = min(r["sent_s"] for r in ok)
last = max(r["chunk_times_s"][-1] for r in ok)
user, system = map(float, open(out + "/cpu.txt").read().split()[-2:])
print(json.dumps({"requests": len(records), "ok": len(ok), "chunks": chunks, "seconds": round(last - first, 3),
                  "chunks_per_s": round(chunks / (last - first)), "cpu_s": round(user + system, 3),
                  "chunks_per_cpu_s": round(chunks / (user + system))}))
PY
