#!/usr/bin/env python3
"""Scale-out through an existing router: two `hearth serve` replicas behind SMG.

usage: smg_router.py HEARTH SMG MODEL

Starts two replicas of `hearth serve` on loopback (each with a prefix cache of its own,
in memory and on disk) and `smg launch --policy cache_aware` in front of them, then
checks: both replicas register (SMG lists the model and routes to them); requests that
share a long prefix stick to one replica and, after the first, report cached prompt
tokens; requests of a second prefix are served too; and after one replica is killed,
requests through SMG still succeed. Prints `smg_router: N passed, 0 failed` at the end.
Every wait is bounded.
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request(method, path, json.dumps(body) if body is not None else None,
              {"content-type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def wait_for(what, check, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"timed out after {seconds} s waiting for {what}")


def served_chats(port):
    """Chat completions this replica answered 200, from its /metrics."""
    _, text = request(port, "GET", "/metrics")
    total = 0.0
    for line in text.decode().splitlines():
        if line.startswith("hearth_requests_total{") and 'endpoint="POST /v1/chat/completions"' in line \
                and 'status="200"' in line:
            total += float(line.split()[-1])
    return int(total)


def main():
    hearth, smg, model = sys.argv[1:4]
    tmp = tempfile.mkdtemp(prefix="hearth-smg-")
    procs = []
    passed, failed = 0, []

    def check(name, ok, detail=""):
        nonlocal passed
        if ok:
            passed += 1
            print(f"ok: {name}")
        else:
            failed.append(f"{name}: {detail}")
            print(f"FAILED: {name}: {detail}")

    try:
        ports = [free_port(), free_port()]
        for i, port in enumerate(ports):
            log = open(os.path.join(tmp, f"replica{i}.log"), "w")
            procs.append(subprocess.Popen(
                [hearth, "serve", "--model", model, "--listen", f"127.0.0.1:{port}",
                 "--ctx", "2048", "--kv-cache-dir", os.path.join(tmp, f"kv{i}"),
                 "--usage-ledger", os.path.join(tmp, f"usage{i}.jsonl")],
                stdout=subprocess.DEVNULL, stderr=log, env=dict(os.environ, HF_HUB_OFFLINE="1")))
        for port in ports:
            wait_for(f"replica :{port} healthy", lambda p=port: request(p, "GET", "/health")[0] == 200, 120)
        _, models = request(ports[0], "GET", "/v1/models")
        model_id = json.loads(models)["data"][0]["id"]
        check("a replica lists its model as owned by hearth",
              json.loads(models)["data"][0].get("owned_by") == "hearth", models[:200])
        status, loads = request(ports[0], "GET", "/v1/loads")
        check("GET /v1/loads answers SGLang's shape",
              status == 200 and json.loads(loads)["loads"][0]["num_running_reqs"] == 0, loads[:200])

        router_port = free_port()
        router_log = open(os.path.join(tmp, "smg.log"), "w")
        procs.append(subprocess.Popen(
            # Its metrics listener too stays on loopback, on a free port.
            [smg, "launch", "--host", "127.0.0.1", "--port", str(router_port),
             "--prometheus-host", "127.0.0.1", "--prometheus-port", str(free_port()),
             "--policy", "cache_aware", "--worker-urls",
             f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}"],
            stdout=router_log, stderr=subprocess.STDOUT))

        router = procs[-1]

        def listed():
            if router.poll() is not None:
                tail = "".join(open(os.path.join(tmp, "smg.log")).readlines()[-5:])
                raise SystemExit(f"smg exited with {router.returncode}:\n{tail}")
            status, body = request(router_port, "GET", "/v1/models")
            return status == 200 and model_id in body.decode()
        wait_for("SMG to list the replicas' model", listed, 120)
        check("both replicas register with SMG", True)

        def chat(system, user):
            body = {"model": model_id, "max_tokens": 4, "temperature": 0,
                    "messages": [{"role": "system", "content": system},
                                 {"role": "user", "content": user}]}
            status, data = request(router_port, "POST", "/v1/chat/completions", body, timeout=120)
            return status, (json.loads(data) if status == 200 else data[:300])

        prefixes = ["Team alpha house rules: answer in one line. " * 3,
                    "Beta squad, reply briefly! " * 4]
        for n, prefix in enumerate(prefixes):
            before = [served_chats(p) for p in ports]
            cached = []
            for i in range(4):
                status, answer = chat(prefix, f"question {n}.{i}")
                if status != 200:
                    check(f"prefix {n}: request {i} through SMG", False, f"status {status}: {answer}")
                    break
                cached.append(answer["usage"]["prompt_tokens_details"]["cached_tokens"])
            after = [served_chats(p) for p in ports]
            got = [a - b for a, b in zip(after, before)]
            check(f"prefix {n}: its 4 requests stick to one replica", sorted(got) == [0, 4], f"per replica {got}")
            check(f"prefix {n}: repeats are read from that replica's cache",
                  len(cached) == 4 and all(c > 0 for c in cached[1:]), f"cached tokens {cached}")

        # One replica goes away: requests through SMG still succeed on the other.
        victim = procs[0] if served_chats(ports[0]) > 0 else procs[1]
        victim.kill()
        victim.wait(timeout=30)
        outcomes = []
        for i in range(6):
            status, _ = chat(prefixes[i % 2], f"after the loss {i}")
            outcomes.append(status)
        check("with one replica killed, requests through SMG succeed",
              all(s == 200 for s in outcomes), f"statuses {outcomes}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
    print(f"smg_router: {passed} passed, {len(failed)} failed")
    if failed:
        for name in ("smg.log", "replica0.log", "replica1.log"):
            path = os.path.join(tmp, name)
            if os.path.exists(path):
                print(f"== {name} (last lines)")
                print("".join(open(path).readlines()[-15:]))
        sys.exit(1)


if __name__ == "__main__":
    main()
