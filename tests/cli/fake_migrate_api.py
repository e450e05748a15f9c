#!/usr/bin/env python3
"""A stand-in for a source hearth's API socket that plays one migration
scenario, so `hearth migrate` can be tested without a migration engine.

Usage: fake_migrate_api.py SOCKET SCENARIO LOG

Prints "ready" on stdout once SOCKET listens. Every request is appended to
LOG as one line: "METHOD PATH BODY". Scenarios:

  complete  setup, three pre-copy passes, stop_copy, ready, completed; the
            server goes away after "completed" was read (as the contract says)
  throttle  like complete, with throttling from the third pass on
  failed    two passes, then "failed" with an error
  refuse    PUT /migrate answers 400 {"fault_message": ...}
  vanish    two passes, then the socket goes away without "completed"
  sigint    pre-copy forever; on the 3rd GET the server sends SIGINT to its
            client (SO_PEERCRED); PUT /migrate/cancel makes it "cancelled"
  notfound  GET /migrate answers 404 (an API without the endpoint)
  garbage   GET /migrate answers 200 with a body that is not JSON
"""
import http.server
import json
import os
import signal
import socket
import socketserver
import struct
import sys

GIB = 1 << 30


class Server(socketserver.UnixStreamServer):
    allow_reuse_address = True

    def __init__(self, path, scenario, log):
        self.scenario = scenario
        self.log = log
        self.gets = 0
        self.started = False
        self.cancelled = False
        super().__init__(path, Handler)


def status(state, pass_, sent, remaining, **extra):
    body = {
        "state": state, "pass": pass_, "total_bytes": GIB, "bytes_sent": sent,
        "remaining_bytes": remaining, "dirty_rate_bps": 50_000_000,
        "bandwidth_bps": 900_000_000, "expected_downtime_ms": remaining // 900_000,
        "throttle_percent": 0,
    }
    body.update(extra)
    return body


def script(scenario):
    """The GET /migrate answers in order; the last one repeats."""
    steps = [status("setup", 0, 0, GIB)]
    for i in range(1, 6):
        steps.append(status("precopy", 1, i * GIB // 6, GIB - i * GIB // 6))
    steps.append(status("precopy", 2, GIB + (64 << 20), 32 << 20))
    throttle = 30 if scenario == "throttle" else 0
    steps.append(status("precopy", 3, GIB + (96 << 20), 4 << 20, throttle_percent=throttle))
    if scenario == "failed":
        return steps[:7] + [status("failed", 2, GIB + (64 << 20), 32 << 20,
                                   error="destination closed the connection")]
    steps.append(status("stop_copy", 4, GIB + (100 << 20), 0, throttle_percent=throttle))
    steps.append(status("ready", 4, GIB + (101 << 20), 0, throttle_percent=throttle))
    steps.append(status("completed", 4, GIB + (101 << 20), 0, throttle_percent=throttle,
                        downtime_ms=7, total_time_ms=1234))
    return steps


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, body):
        with open(self.server.log, "a") as f:
            f.write(f"{self.command} {self.path} {body}\n")

    def reply(self, code, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        self.send_response(code)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n).decode() if n else ""

    def do_PUT(self):
        body = self.read_body()
        self.record(body)
        srv = self.server
        if self.path == "/migrate":
            if srv.scenario == "refuse":
                self.reply(400, {"fault_message": "a migration is already in progress"})
                return
            srv.started = True
            self.reply(204)
        elif self.path == "/migrate/cancel":
            if not srv.started or srv.cancelled:
                self.reply(400, {"fault_message": "no migration in progress"})
                return
            srv.cancelled = True
            self.reply(204)
        else:
            self.reply(400, {"fault_message": f"no such path {self.path}"})

    def do_GET(self):
        self.record("")
        srv = self.server
        if self.path != "/migrate" or srv.scenario == "notfound":
            self.reply(404, {"fault_message": f"invalid request: GET {self.path}"})
            return
        if srv.scenario == "garbage":
            self.reply(200, raw=b"this is not json")
            return
        srv.gets += 1
        if srv.scenario == "sigint":
            if srv.cancelled:
                self.reply(200, status("cancelled", 1, GIB // 3, GIB,
                                       error="cancelled through the API"))
                return
            if srv.gets == 3:
                cred = self.connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                  struct.calcsize("3i"))
                pid = struct.unpack("3i", cred)[0]
                os.kill(pid, signal.SIGINT)
            self.reply(200, status("precopy", 1, GIB // 3, GIB))
            return
        steps = script(srv.scenario)
        if srv.scenario == "vanish" and srv.gets > 7:
            # Gone without a word, as a crashed source would be.
            self.connection.close()
            os.unlink(srv.server_address)
            os._exit(0)
        step = steps[min(srv.gets, len(steps)) - 1]
        self.reply(200, step)
        if step["state"] == "completed":
            self.connection.close()
            os.unlink(srv.server_address)
            os._exit(0)


def main():
    path, scenario, log = sys.argv[1:4]
    if os.path.exists(path):
        os.unlink(path)
    srv = Server(path, scenario, log)
    print("ready", flush=True)
    try:
        srv.serve_forever()
    finally:
        if os.path.exists(path):
            os.unlink(path)


if __name__ == "__main__":
    main()
