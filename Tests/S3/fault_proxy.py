#!/usr/bin/env python3
"""An HTTP proxy in front of a local S3 server that fails a share of requests, for tests.

usage: fault_proxy.py LISTEN_PORT UPSTREAM_PORT FAIL_RATE SEED

Each request, with probability FAIL_RATE, gets one of: HTTP 500 InternalError, HTTP 503 SlowDown,
or its connection closed without any response. The rest are forwarded unchanged (headers, body,
signature) to 127.0.0.1:UPSTREAM_PORT and the reply passed back. Counts are printed on exit.

With FAULT_PROXY_ENDLESS_LISTING=1 in the environment, every ListObjectsV2 reply says it is
truncated and gives the same continuation token, as a hostile or broken server could.
"""
import http.client
import http.server
import os
import random
import re
import signal
import sys
import threading

endless_listing = os.environ.get("FAULT_PROXY_ENDLESS_LISTING") == "1"

listen, upstream, rate, seed = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
lock = threading.Lock()
counts = {"forwarded": 0, "500": 0, "503": 0, "dropped": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with lock:
            roll = rng.random()
            fault = None
            if roll < rate:
                fault = rng.choice(["500", "503", "dropped"])
                counts[fault] += 1
            else:
                counts["forwarded"] += 1
        if fault == "dropped":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault:
            code, name = (500, "InternalError") if fault == "500" else (503, "SlowDown")
            payload = f"<Error><Code>{name}</Code><Message>injected</Message></Error>".encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items()}
        path = self.path
        if endless_listing:
            path = re.sub(r"&?continuation-token=[^&]*", "", path)  # the first page, again and again
        conn.request(self.command, path, body=body if body or self.command in ("PUT", "POST") else None, headers=headers)
        reply = conn.getresponse()
        data = reply.read()
        if endless_listing and self.command == "GET" and "list-type=2" in self.path and reply.status == 200:
            text = re.sub(rb"<IsTruncated>\w+</IsTruncated>", b"", data)
            text = re.sub(rb"<NextContinuationToken>.*?</NextContinuationToken>", b"", text)
            data = text.replace(b"</ListBucketResult>",
                                b"<IsTruncated>true</IsTruncated><NextContinuationToken>again</NextContinuationToken></ListBucketResult>")
        self.send_response(reply.status)
        for k, v in reply.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def report(*_):
    print(counts, flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, report)
server = http.server.ThreadingHTTPServer(("127.0.0.1", listen), Handler)
server.daemon_threads = True
print("ready", flush=True)
server.serve_forever()
