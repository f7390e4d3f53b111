#!/usr/bin/env python3
"""A minimal OpenAI-style streaming server for benchmarks: asyncio, raw HTTP/1.1, chunked SSE.

Each request streams `max_tokens` completion chunks `--gap` seconds apart and, with
`--truth-log FILE`, appends one JSON line per request with the monotonic send time of every
chunk (time.monotonic(), the same CLOCK_MONOTONIC the clients use), so client timestamps can be
compared with the true send times. Not a model: it only produces bytes on a schedule.
"""
import argparse, asyncio, json, time

def sse(obj):
    data = ("data: " + json.dumps(obj, separators=(",", ":")) + "\n\n").encode()
    return b"%x\r\n%s\r\n" % (len(data), data)

async def handle(reader, writer, args, log):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = json.loads(await reader.readexactly(length)) if length else {}
            tokens = int(body.get("max_tokens", 16))
            prompt = body.get("prompt") or " ".join(m.get("content", "") for m in body.get("messages", []))
            tag = str(prompt)[:24]
            # A stand-in tokenizer: 1.3 tokens per word plus one, so calibration has something to fit.
            prompt_tokens = round(1.3 * len(str(prompt).split())) + 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            await writer.drain()
            sends = []
            start = time.monotonic()
            if args.events_per_write > 1:
                # Throughput mode: no gaps, many events per write, no truth log.
                block = CONTENT * args.events_per_write
                for _ in range(tokens // args.events_per_write):
                    writer.write(block)
                    await writer.drain()
                tokens = (tokens // args.events_per_write) * args.events_per_write
            for i in range(tokens if args.events_per_write <= 1 else 0):
                target = start + args.ttft + i * args.gap
                delay = target - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                sends.append(time.monotonic())
                writer.write(sse({"choices": [{"index": 0, "text": " tok"}]}))
                await writer.drain()
            writer.write(sse({"choices": [], "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": tokens}}))
            writer.write(sse_done())
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            if log is not None:
                log.write(json.dumps({"tag": tag, "send_times": sends}) + "\n")
    except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
        pass
    finally:
        writer.close()

CONTENT = None

def sse_done():
    data = b"data: [DONE]\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)

async def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=8123)
    p.add_argument("--gap", type=float, default=0.02, help="seconds between chunks")
    p.add_argument("--ttft", type=float, default=0.05, help="seconds before the first chunk")
    p.add_argument("--truth-log")
    p.add_argument("--events-per-write", type=int, default=1,
                   help="above 1: stream with no gaps, this many events per write (throughput mode)")
    args = p.parse_args()
    global CONTENT
    CONTENT = sse({"choices": [{"index": 0, "text": " tok"}]})
    log = open(args.truth_log, "w", buffering=1) if args.truth_log else None
    server = await asyncio.start_server(lambda r, w: handle(r, w, args, log), "127.0.0.1", args.port, backlog=4096)
    async with server:
        await server.serve_forever()

if __name__ == "__main__":
    asyncio.run(main())
