#!/usr/bin/env python3
# Sends N streamed completions at once to one node (as its region's users) and counts what came back: statuses,
# 429s with Retry-After, the regions that served, streams that ended with [DONE], and each served request's measured
# TTFT against the router's estimate (x-gorgo-estimated-ttft-ms), both as the client measured it and as the front door
# did (x-gorgo-ttft-ms, which leaves out the client's own connection and event-loop time). No dependencies.
# Usage: python3 benchmarks/burst.py PORT N MAX_TOKENS [CSV]   (e.g. 8080 5760 200 against `gorgo up`); CSV, when
# given, receives one row per served request: when it was sent, who served it, the measured TTFTs and the estimate.
import asyncio, csv, json, sys, time, collections
HOST, PORT = '127.0.0.1', int(sys.argv[1]); N = int(sys.argv[2]); TOKENS = int(sys.argv[3])
body = json.dumps({"model": "llama-3-8b", "prompt": "burst " * 200, "max_tokens": TOKENS, "stream": True}).encode()
req = (f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nx-gorgo-client-region: us-east\r\nConnection: close\r\n\r\n").encode() + body
statuses = collections.Counter(); regions = collections.Counter(); retry_after = 0; ends = collections.Counter()
ratios = []  # served requests: measured TTFT / the router's x-gorgo-estimated-ttft-ms
ttfts, estimates = [], []  # served requests: measured TTFT and the estimate, ms
after = []  # the same ratio without the front-door wait both include: (TTFT - waited) / (estimate - waited)
ingress = []  # as `after`, with the TTFT the front door measured: (x-gorgo-ttft-ms - waited) / (estimate - waited)
ingress_ttfts = []  # x-gorgo-ttft-ms, ms
rows = []  # served requests, for the CSV
async def one(i):
    global retry_after
    try:
        r, w = await asyncio.open_connection(HOST, PORT)
        start = time.monotonic()
        w.write(req); await w.drain()
        head = await r.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n"); status = int(lines[0].split()[1]); statuses[status] += 1
        hdr = {l.split(":",1)[0].lower(): l.split(":",1)[1].strip() for l in lines[1:] if ":" in l}
        if status == 429 and 'retry-after' in hdr: retry_after += 1
        data = b""
        if status == 200:
            regions[hdr.get('x-gorgo-region')] += 1
            while b"data: {" not in data:
                chunk = await r.read(4096)
                if not chunk:
                    break
                data += chunk
            ttft = (time.monotonic() - start) * 1000
            header = hdr.get('x-gorgo-estimated-ttft-ms', 'nan')
            estimate = float(header.split(';')[0])
            waited = float(header.split('waited=')[1].split(';')[0]) if 'waited=' in header else 0.0
            if estimate > 0:
                ratios.append(ttft / estimate); ttfts.append(ttft); estimates.append(estimate)
            if estimate - waited > 0:
                after.append((ttft - waited) / (estimate - waited))
                if 'x-gorgo-ttft-ms' in hdr:
                    measured = float(hdr['x-gorgo-ttft-ms']); ingress_ttfts.append(measured)
                    ingress.append((measured - waited) / (estimate - waited))
                    rows.append({"sent_s": round(start - T0, 3), "region": hdr.get('x-gorgo-region'), "replica": hdr.get('x-gorgo-replica'),
                                 "client_ttft_ms": round(ttft, 1), "ingress_ttft_ms": measured, "estimate": header})
        data += await r.read()
        if status == 200: ends['done' if b'[DONE]' in data else 'no-done'] += 1
        w.close()
    except Exception as e:
        statuses['error:' + type(e).__name__] += 1
T0 = time.monotonic()
async def main():
    t = time.time()
    await asyncio.gather(*(one(i) for i in range(N)))
    ratios.sort()
    ttfts.sort(); estimates.sort(); after.sort(); ingress.sort(); ingress_ttfts.sort()
    q = lambda p, xs=ratios: round(xs[min(len(xs) - 1, int(p * len(xs)))], 2) if xs else None
    print(json.dumps({"sent": N, "statuses": statuses, "429_with_retry_after": retry_after, "served_by_region": regions, "ends": ends,
                      "ttft_over_estimate": {"p10": q(0.1), "p50": q(0.5), "p90": q(0.9), "within_2x": round(sum(0.5 <= x <= 2 for x in ratios) / max(1, len(ratios)), 3)},
                      "after_front_door_over_model": {"p10": q(0.1, after), "p50": q(0.5, after), "p90": q(0.9, after), "within_2x": round(sum(0.5 <= x <= 2 for x in after) / max(1, len(after)), 3)},
                      "ingress_after_front_door_over_model": {"p10": q(0.1, ingress), "p50": q(0.5, ingress), "p90": q(0.9, ingress), "within_2x": round(sum(0.5 <= x <= 2 for x in ingress) / max(1, len(ingress)), 3)},
                      "ttft_ms": {"p10": q(0.1, ttfts), "p50": q(0.5, ttfts), "p90": q(0.9, ttfts)},
                      "ingress_ttft_ms": {"p10": q(0.1, ingress_ttfts), "p50": q(0.5, ingress_ttfts), "p90": q(0.9, ingress_ttfts)},
                      "estimate_ms": {"p10": q(0.1, estimates), "p50": q(0.5, estimates), "p90": q(0.9, estimates)},
                      "seconds": round(time.time()-t,1)}, default=str))
asyncio.run(main())
if len(sys.argv) > 4:
    with open(sys.argv[4], "w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=["sent_s", "region", "replica", "client_ttft_ms", "ingress_ttft_ms", "estimate"])
        out.writeheader(); out.writerows(sorted(rows, key=lambda r: r["sent_s"]))
