#!/usr/bin/env python3
"""Loopback HTTP server for the fetch-script tests (tests/test_fetch.sh); not part of geocorr.

Serves the files under ROOT with HTTP Range support (python's http.server ignores Range, and
resuming a download needs it), on 127.0.0.1 and a free port that it writes to --port-file.
Every request is logged to --log as "PATH START SENT" (START: first byte asked for, SENT: bytes sent).
--drop PATH:BYTES makes the first request for PATH that starts at byte 0 announce the whole file and
then close the connection after BYTES bytes, as a network failure mid-download would.

    python3 tools/fetch_test_server.py ROOT --port-file F --log L [--drop PATH:BYTES ...]
"""
import argparse
import http.server
import os
import re
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--drop", action="append", default=[], help="PATH:BYTES")
    args = ap.parse_args()
    root = os.path.realpath(args.root)
    drops = {}
    for d in args.drop:
        path, n = d.rsplit(":", 1)
        drops["/" + path.lstrip("/")] = int(n)
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def record(self, start, sent):
            with lock, open(args.log, "a") as f:
                f.write(f"{self.path} {start} {sent}\n")

        def do_GET(self):
            rel = self.path.split("?", 1)[0]
            full = os.path.realpath(os.path.join(root, rel.lstrip("/")))
            if not full.startswith(root + os.sep) or not os.path.isfile(full):
                self.send_error(404)
                self.record(-1, 0)
                return
            size = os.path.getsize(full)
            start, end = 0, size - 1
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if m:
                start = int(m.group(1))
                if m.group(2):
                    end = min(end, int(m.group(2)))
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    self.record(start, 0)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            else:
                self.send_response(200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()
            limit = end - start + 1
            with lock:
                drop = drops.pop(rel, None) if start == 0 else None
            if drop is not None:
                limit = min(limit, drop)
            with open(full, "rb") as f:
                f.seek(start)
                data = f.read(limit)
            self.wfile.write(data)
            self.wfile.flush()
            self.record(start, len(data))
            if drop is not None:
                self.close_connection = True

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
