#!/usr/bin/env python3
# Sends N streamed completions at once to one node (as its region's users) and counts what came back: statuses,
# 429s with Retry-After, the regions that served, and streams that ended with [DONE]. No dependencies.
# Usage: python3 benchmarks/burst.py PORT N MAX_TOKENS   (e.g. 8080 5760 200 against `gorgo up`)
import asyncio, json, sys, time, collections
HOST, PORT = '127.0.0.1', int(sys.argv[1]); N = int(sys.argv[2]); TOKENS = int(sys.argv[3])
body = json.dumps({"model": "llama-3-8b", "prompt": "burst " * 200, "max_tokens": TOKENS, "stream": True}).encode()
req = (f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nx-gorgo-client-region: us-east\r\nConnection: close\r\n\r\n").encode() + body
statuses = collections.Counter(); regions = collections.Counter(); retry_after = 0; ends = collections.Counter()
async def one(i):
    global retry_after
    try:
        r, w = await asyncio.open_connection(HOST, PORT)
        w.write(req); await w.drain()
        head = await r.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n"); status = int(lines[0].split()[1]); statuses[status] += 1
        hdr = {l.split(":",1)[0].lower(): l.split(":",1)[1].strip() for l in lines[1:] if ":" in l}
        if status == 429 and 'retry-after' in hdr: retry_after += 1
        if status == 200: regions[hdr.get('x-gorgo-region')] += 1
        data = await r.read()
        if status == 200: ends['done' if b'[DONE]' in data else 'no-done'] += 1
        w.close()
    except Exception as e:
        statuses['error:' + type(e).__name__] += 1
async def main():
    t = time.time()
    await asyncio.gather(*(one(i) for i in range(N)))
    print(json.dumps({"sent": N, "statuses": statuses, "429_with_retry_after": retry_after, "served_by_region": regions, "ends": ends, "seconds": round(time.time()-t,1)}, default=str))
asyncio.run(main())
