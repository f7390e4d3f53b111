#!/usr/bin/env python3
"""An open-loop asyncio/aiohttp streaming client of the kind the field's Python tools use, for
comparison with Metron's engine on the same server in the same session.

Requests go out at a constant rate (no cap on requests in flight). Each SSE line is stamped with
time.monotonic() as soon as aiohttp hands it over, before JSON parsing: the most favourable
placement for a Python client. Writes one JSON line per request: id, sent, chunk_times
(CLOCK_MONOTONIC seconds).
"""
import argparse, asyncio, json, time
import aiohttp

PROSE = ("the river town woke slowly on market days before the sun cleared the hills " * 40).split()

async def one(session, url, rid, at, args, out):
    delay = at - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
    body = {"model": args.model, "prompt": f"Request {rid}: " + " ".join(PROSE[:args.prompt_words]),
            "max_tokens": args.output_tokens, "stream": True, "stream_options": {"include_usage": True}}
    sent = time.monotonic()
    times, error = [], None
    try:
        async with session.post(url, json=body) as resp:
            async for line in resp.content:
                t = time.monotonic()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                chunk = json.loads(data)
                if chunk.get("choices") and chunk["choices"][0].get("text"):
                    times.append(t)
    except Exception as e:  # recorded, never dropped
        error = repr(e)
    out.append({"id": rid, "scheduled": at, "sent": sent, "chunk_times": times, "error": error})

async def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True, help="full endpoint URL, e.g. http://127.0.0.1:8123/v1/completions")
    p.add_argument("--model", default="m")
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--prompt-words", type=int, default=32)
    p.add_argument("--output-tokens", type=int, default=50)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    out = []
    count = int(args.rate * args.duration)
    start = time.monotonic() + 0.2
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(one(session, args.url, i, start + i / args.rate, args, out) for i in range(count)))
    with open(args.out, "w") as f:
        for r in sorted(out, key=lambda r: r["id"]):
            f.write(json.dumps(r) + "\n")

if __name__ == "__main__":
    asyncio.run(main())
