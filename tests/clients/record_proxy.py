#!/usr/bin/env python3
"""A loopback HTTP proxy that records what a client asks `hearth serve` and what it answers.

usage: record_proxy.py UPSTREAM_URL LOG_FILE   (prints `listening on http://127.0.0.1:PORT`)

Each request is passed through unchanged (streamed answers stream on, chunk by chunk).
LOG_FILE gets a line `> #N METHOD PATH BYTES | …` when request N arrives (for a JSON body:
its model, max_tokens, message/input and tool counts, thinking) and a line `< #N STATUS
BYTES SECONDS …` when its answer ends; an answer that is not a 2xx has its body (trimmed)
logged too, so a client that gives up says exactly what the server refused. With
RECORD_BODIES=DIR set, each request's body and its whole answer are kept there too
(N.request.json, N.answer). Standard library only.
"""

import http.client
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

UPSTREAM = urlsplit(sys.argv[1])
BODIES = os.environ.get("RECORD_BODIES")
LOG = sys.argv[2]
LOCK = threading.Lock()
COUNT = [0]
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
       "accept-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def summary(body):
    """What matters of a request body, in a few fields."""
    try:
        value = json.loads(body)
    except ValueError:
        return f"non-JSON body of {len(body)} bytes"
    if not isinstance(value, dict):
        return "a JSON body that is not an object"
    parts = []
    for key in ("model", "max_tokens", "max_output_tokens", "stream"):
        if key in value:
            parts.append(f"{key}={json.dumps(value[key])}")
    for key in ("messages", "input", "tools"):
        if isinstance(value.get(key), list):
            parts.append(f"{key}={len(value[key])}")
    if "thinking" in value:
        parts.append(f"thinking={json.dumps(value['thinking'])}")
    if "reasoning" in value:
        parts.append(f"reasoning={json.dumps(value['reasoning'])}")
    return " ".join(parts)


def record(line):
    with LOCK, open(LOG, "a", encoding="utf-8") as f:
        f.write(line + "\n")


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def relay(self):
        started = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with LOCK:
            COUNT[0] += 1
            n = COUNT[0]
        line = f"> #{n} {self.command} {self.path} {len(body)}B"
        if body:
            line += " | " + summary(body)
        record(line)
        if BODIES and body:
            with open(os.path.join(BODIES, f"{n}.request.json"), "wb") as f:
                f.write(body)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        upstream = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=1800)
        try:
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            answer = upstream.getresponse()
        except OSError as e:
            record(f"< #{n} upstream failed: {e}")
            self.send_error(502, f"upstream failed: {e}")
            return
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        chunked = self.command != "HEAD"
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        kept = b""
        bytes_out = 0
        try:
            while chunked:
                data = answer.read1(65536)
                if not data:
                    break
                bytes_out += len(data)
                if answer.status >= 300 and len(kept) < 4000:
                    kept += data
                if BODIES:
                    with open(os.path.join(BODIES, f"{n}.answer"), "ab") as f:
                        f.write(data)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            ended = "ok"
        except OSError as e:
            ended = f"client went away ({e.__class__.__name__})"
        finally:
            upstream.close()
        line = f"< #{n} {answer.status} {bytes_out}B {time.monotonic() - started:.1f}s {ended}"
        if answer.status >= 300:
            line += " | answer: " + kept[:2000].decode("utf-8", "replace")
        record(line)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = relay


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
