#!/usr/bin/env python3
"""Holds N concurrent /api/chat SSE streams against a running relhost-sim.

Usage: streams.py BASE_URL OPS_TOKEN [STREAMS=5000] [USERS=50] [HOLD_S=15]

Signs up USERS users (each with one thread), opens STREAMS HTTP/1.1
connections, each posting one chat message and reading its event stream,
then after HOLD_S seconds reads the sim's snapshot (admission in-flight,
bulkhead leases) and prints how many streams are open at that moment.
The sim should run with long streams, e.g. SIM_CHAT_TOKENS=30
SIM_CHAT_TOKEN_GAP_MS=1000, so that every stream is still open then.
"""
import asyncio
import json
import sys
import time
import urllib.request
from urllib.parse import urlparse


def post(url, body, token=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


async def stream(host, port, token, thread, state):
    body = json.dumps({"threadId": thread, "message": "hold"}).encode()
    head = (
        f"POST /api/chat HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(head + body)
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            state["non_200"] += 1
            writer.close()
            return
        state["open"] += 1
        state["peak"] = max(state["peak"], state["open"])
        while True:
            line = await reader.readline()
            if not line:
                break
            if line.startswith(b"event: token"):
                state["tokens"] += 1
            elif line.startswith(b"event: done"):
                state["done"] += 1
                break
        state["open"] -= 1
        writer.close()
    except Exception as e:  # noqa: BLE001 - counted, not raised
        state["errors"] += 1
        state["last_error"] = repr(e)


async def main():
    base, ops = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
    users = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    hold = float(sys.argv[5]) if len(sys.argv) > 5 else 15
    u = urlparse(base)
    creds = []
    tag = int(time.time())
    for i in range(users):
        r = post(f"{base}/api/auth/sign-up/email", {"email": f"s{tag}-{i}@bench.invalid", "password": "password-123"})
        t = post(f"{base}/api/threads", {}, r["token"])
        creds.append((r["token"], t["threadId"]))
    state = dict(open=0, peak=0, tokens=0, done=0, errors=0, non_200=0, last_error=None)
    started = time.time()
    tasks = []
    for i in range(n):
        tok, th = creds[i % users]
        tasks.append(asyncio.create_task(stream(u.hostname, u.port, tok, th, state)))
        if i % 250 == 249:
            await asyncio.sleep(0.05)
    ramp = time.time() - started
    await asyncio.sleep(max(0.0, hold - ramp))
    req = urllib.request.Request(f"{base}/api/ops/reliability-snapshot?minutes=5")
    req.add_header("authorization", f"Bearer {ops}")
    snap = json.loads(urllib.request.urlopen(req, timeout=10).read())
    inflight = snap["admission"]["global_inflight"]
    leases = [b["in_use"] for b in snap["bulkheads"]]
    print(json.dumps({"streams": n, "open_now": state["open"], "peak_open": state["peak"],
                      "server_inflight": inflight, "server_bulkhead_in_use": leases,
                      "ramp_s": round(ramp, 2), "errors": state["errors"], "non_200": state["non_200"],
                      "last_error": state["last_error"]}), flush=True)
    await asyncio.gather(*tasks)
    print(json.dumps({"done": state["done"], "tokens": state["tokens"], "errors": state["errors"],
                      "non_200": state["non_200"], "elapsed_s": round(time.time() - started, 1)}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
