#!/usr/bin/env python3
"""Generated bad input against a waiting `hearth run --api-sock`.

Starts hearth without a kernel, gives it a valid configuration, then sends
several hundred bad requests: malformed JSON, type confusion, huge numbers,
long strings, missing and unknown fields, bad paths, wrong methods, values
out of range and host paths that do not exist. Every answer must be a 4xx
with a JSON {"fault_message": "..."}; hearth must not crash, and GET
/vm/config must be unchanged afterwards. A few malformed HTTP requests
must leave the server running.

Usage: bad_input.py HEARTH KERNEL
Exit 0 on success, 1 on failure.
"""
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile

from api_client import request, wait_socket

MIN_CASES = 200


def raw(sock, data):
    """Sends raw bytes; returns what came back (possibly nothing: the server
    may keep a connection it cannot parse until its own timeout)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(sock)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out
    except OSError:
        return b""
    finally:
        s.close()


def cases(tmp, kernel):
    """Yields (method, path, body) triples that must all be refused."""
    img = os.path.join(tmp, "disk.img")
    good = {
        "/machine-config": {"vcpu_count": 2, "mem_size_mib": 64},
        "/boot-source": {"kernel_image_path": kernel, "boot_args": "console=ttyS0"},
        "/drives/d1": {"drive_id": "d1", "path_on_host": img, "is_root_device": False},
        "/network-interfaces/n1": {"iface_id": "n1", "host_dev_name": "tap-bad0"},
        "/logger": {"level": "Info"},
        "/metrics": {"metrics_path": os.path.join(tmp, "m")},
        "/actions": {"action_type": "FlushMetrics"},
        "/vm": {"state": "Paused"},
        "/entropy": {},
        "/serial": {"serial_out_path": os.path.join(tmp, "serial.out")},
    }
    method = {p: ("PATCH" if p == "/vm" else "PUT") for p in good}

    # Malformed JSON, on every endpoint that takes a body.
    malformed = [
        "", "{", "}", "[", "{\"a\"", "{\"a\":}", "{,}", "{\"vcpu_count\": 1,}",
        "nul", "tru", "{'a': 1}", "{\"a\": 1} x", "{\"a\": 1}}", "\"just a string\"",
        "[]", "[1, 2]", "42", "null", "{\"a\": NaN}", "{\"a\": Infinity}",
        "{\"a\": 01}", "{\"a\": \"\\x41\"}", "\xff\xfe{}", "{\"a\": \"\\ud800\"}",
        "{\"a\": \"\x00\"}", "[" * 2000 + "]" * 2000, "{\"a\":" * 500 + "1" + "}" * 500,
        "/* comment */ {}", "{\"a\": 1 // comment\n}", "{\"a\": .5}",
    ]
    for p in good:
        for m in malformed:
            yield method[p], p, m

    # Type confusion: each field of each body with values of other types.
    values = ["x", 1, -1, 1.5, True, [], {}, [1], {"a": 1}]
    for p, body in good.items():
        for field, v0 in body.items():
            for v in values:
                if type(v) is type(v0):
                    continue
                if isinstance(v0, int) and not isinstance(v0, bool) and isinstance(v, bool):
                    pass  # a boolean for an integer is still wrong
                b = dict(body)
                b[field] = v
                yield method[p], p, json.dumps(b)

    # Unknown fields, and missing required ones.
    for p, body in good.items():
        for extra in ["unknown", "", "x" * 300, "VCPU_COUNT", "vcpu count"]:
            b = dict(body)
            b[extra] = 1
            yield method[p], p, json.dumps(b)
    optional = {"boot_args", "level", "serial_out_path"}
    for p, body in good.items():
        for field in body:
            if field in optional:
                continue
            b = dict(body)
            del b[field]
            yield method[p], p, json.dumps(b)
    yield "PUT", "/drives/d1", json.dumps({"drive_id": "d1", "is_root_device": False})
    yield "PUT", "/network-interfaces/n1", json.dumps({"iface_id": "n1"})

    # Huge and out-of-range numbers.
    for n in ["0", "33", "-1", "4294967297", "9223372036854775807", "9223372036854775808",
              "18446744073709551615", "18446744073709551616", "1e3", "1E400",
              "99999999999999999999999999999999999999", "-9223372036854775809"]:
        yield "PUT", "/machine-config", '{"vcpu_count": %s, "mem_size_mib": 64}' % n
    for n in ["0", "7", "-1", "4194305", "18446744073709551615", "1e30",
              "123456789012345678901234567890"]:
        yield "PUT", "/machine-config", '{"vcpu_count": 1, "mem_size_mib": %s}' % n
    for n in ["-1", "9223372036854775808", "18446744073709551616", "1.0", "\"5\""]:
        for key in ["size", "refill_time", "one_time_burst"]:
            bucket = {"size": 100, "refill_time": 100}
            bucket_s = json.dumps(bucket)[:-1] + ', "%s": %s}' % (key, n)
            if key != "one_time_burst":
                bucket_s = bucket_s.replace('"%s": 100, ' % key, "").replace(
                    ', "%s": 100' % key, "")
            body = json.dumps(good["/drives/d1"])[:-1] + ', "rate_limiter": {"bandwidth": %s}}' % bucket_s
            yield "PUT", "/drives/d1", body

    # Values of the right type that hearth refuses.
    d = good["/drives/d1"]
    refused = [
        ("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 64, "smt": True}),
        ("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 64, "cpu_template": "T2"}),
        ("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 64, "cpu_template": "Z9"}),
        ("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 64, "huge_pages": "2M"}),
        ("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 64, "huge_pages": "none"}),
        ("PATCH", "/machine-config", {"vcpu_count": 0}),
        ("PATCH", "/machine-config", {"smt": True}),
        ("PUT", "/boot-source", {"kernel_image_path": "/nonexistent/vmlinuz"}),
        ("PUT", "/boot-source", {"kernel_image_path": tmp}),
        ("PUT", "/boot-source", {"kernel_image_path": ""}),
        ("PUT", "/boot-source", {"kernel_image_path": "/" + "a" * 5000}),
        ("PUT", "/boot-source", {"kernel_image_path": img}),  # not a kernel
        ("PUT", "/boot-source", {"kernel_image_path": kernel, "initrd_path": "/nonexistent"}),
        ("PUT", "/boot-source", {"kernel_image_path": kernel, "boot_args": "x" * 5000}),
        ("PUT", "/drives/d1", dict(d, path_on_host="/nonexistent/disk.img")),
        ("PUT", "/drives/d1", dict(d, path_on_host=tmp)),
        ("PUT", "/drives/d1", dict(d, path_on_host="")),
        ("PUT", "/drives/d1", dict(d, drive_id="d2")),
        ("PUT", "/drives/d1", dict(d, cache_type="None")),
        ("PUT", "/drives/d1", dict(d, cache_type="unsafe")),
        ("PUT", "/drives/d1", dict(d, io_engine="Uring")),
        ("PUT", "/drives/d1", dict(d, socket="/tmp/vhost.sock")),
        ("PUT", "/drives/d1", dict(d, partuuid="zz-not-hex")),
        ("PUT", "/drives/d1", dict(d, partuuid="")),
        ("PUT", "/drives/d1", dict(d, rate_limiter={"bandwidth": {"size": 1}})),
        ("PUT", "/drives/d1", dict(d, rate_limiter={"iops": {"size": 1, "refill_time": 1}})),
        ("PUT", "/drives/d1", dict(d, rate_limiter={"ops": {"size": 1, "refill_time": 1,
                                                            "burst": 1}})),
        ("PUT", "/drives/root2", {"drive_id": "root2", "path_on_host": img,
                                  "is_root_device": True}),  # a second root device
        ("PATCH", "/drives/d1", {"drive_id": "d1"}),  # before start
        ("PATCH", "/drives/d1", {"drive_id": "d1", "rate_limiter": {"ops": {"size": 1,
                                                                          "refill_time": 1}}}),
        ("PUT", "/drives/" + "x" * 65, {"drive_id": "x" * 65, "path_on_host": img,
                                         "is_root_device": False}),
        ("PUT", "/drives/a.b", {"drive_id": "a.b", "path_on_host": img,
                                "is_root_device": False}),
        ("PUT", "/network-interfaces/n1", {"iface_id": "n1", "host_dev_name": ""}),
        ("PUT", "/network-interfaces/n1", {"iface_id": "n1", "host_dev_name": "x" * 16}),
        ("PUT", "/network-interfaces/n1", {"iface_id": "n1", "host_dev_name": "a/b"}),
        ("PUT", "/network-interfaces/n1", {"iface_id": "n2", "host_dev_name": "tap0"}),
        ("PUT", "/network-interfaces/n1", {"iface_id": "n1", "host_dev_name": "tap0",
                                           "guest_mac": "01:00:00:00:00:01"}),
        ("PUT", "/network-interfaces/n1", {"iface_id": "n1", "host_dev_name": "tap0",
                                           "guest_mac": "00:00:00:00:00:00"}),
        ("PUT", "/network-interfaces/n1", {"iface_id": "n1", "host_dev_name": "tap0",
                                           "guest_mac": "52:54:00:12:34"}),
        ("PUT", "/network-interfaces/n1", {"iface_id": "n1", "host_dev_name": "tap0",
                                           "guest_mac": "52:54:00:12:34:zz"}),
        ("PUT", "/network-interfaces/n1", {"iface_id": "n1", "host_dev_name": "tap0",
                                           "mtu": 1500}),
        ("PUT", "/network-interfaces/n1", {"iface_id": "n1", "host_dev_name": "tap0",
                                           "rx_rate_limiter": {"ops": {"size": 1,
                                                                       "refill_time": 1}}}),
        ("PATCH", "/network-interfaces/n1", {"iface_id": "n1"}),
        ("PUT", "/logger", {"level": "Loud"}),
        ("PUT", "/logger", {"log_path": "/nonexistent/dir/log"}),
        ("PUT", "/logger", {"log_path": ""}),
        ("PUT", "/metrics", {"metrics_path": "/nonexistent/dir/metrics"}),
        ("PUT", "/metrics", {"metrics_path": os.path.join(tmp, "m"), "properties": {"a": 1}}),
        ("PUT", "/serial", {"serial_out_path": "/nonexistent/dir/serial"}),
        ("PUT", "/serial", {"serial_out_path": "x",
                            "rate_limiter": {"size": 1, "refill_time": 1}}),
        ("PUT", "/entropy", {"rate_limiter": {"bandwidth": {"size": 1, "refill_time": 1}}}),
        ("PUT", "/actions", {"action_type": "Reboot"}),
        ("PUT", "/actions", {"action_type": "instancestart"}),
        ("PUT", "/actions", {"action_type": "SendCtrlAltDel"}),  # not running
        ("PUT", "/actions", {"action_type": "FlushMetrics"}),  # no metrics configured
        ("PATCH", "/vm", {"state": "Paused"}),  # not running
        ("PATCH", "/vm", {"state": "Resumed"}),
        ("PATCH", "/vm", {"state": "Stopped"}),
    ]
    for m, p, b in refused:
        yield m, p, json.dumps(b)
    yield "PUT", "/machine-config", '{"vcpu_count": 1, "vcpu_count": "x", "mem_size_mib": 64}'
    yield "PUT", "/machine-config", '{"vcpu_count": 2.0, "mem_size_mib": 64}'
    yield "PUT", "/boot-source", '{"kernel_image_path": "%s\\u0000x"}' % kernel

    # Long strings and bodies.
    yield "PUT", "/machine-config", json.dumps({"vcpu_count": 1, "mem_size_mib": 64,
                                                "cpu_template": "x" * 60000})
    yield "PUT", "/machine-config", json.dumps({"vcpu_count": 1, "mem_size_mib": 64,
                                                "pad": "x" * 70000})  # over the cap
    yield "PUT", "/boot-source", "{" + " " * (1 << 20) + "}"  # 1 MiB
    yield "PUT", "/logger", json.dumps({"module": "m" * 1000})

    # Bad paths and wrong methods.
    for p in ["/drives", "/drives/", "/drives/a/b", "/drives/%2e%2e", "/drives/a%00b",
              "/network-interfaces/", "/machine-config/", "//", "/../etc/passwd",
              "/nonexistent", "/VERSION", "/vm/config/x", "/actions/x", "/" + "a" * 3000,
              "/snapshot/create", "/snapshot/load", "/mmds", "/mmds/config", "/balloon",
              "/balloon/statistics", "/vsock", "/cpu-config", "/hotplug/memory",
              "/pmem/p1"]:
        yield "PUT", p, "{}"
    for m, p in [("GET", "/actions"), ("GET", "/boot-source"), ("GET", "/drives/d1"),
                 ("DELETE", "/"), ("DELETE", "/machine-config"), ("DELETE", "/drives/d1"),
                 ("POST", "/actions"), ("POST", "/machine-config"), ("PUT", "/"),
                 ("PUT", "/version"), ("PUT", "/vm/config"), ("PATCH", "/"),
                 ("PATCH", "/boot-source"), ("PUT", "/vm"), ("OPTIONS", "/"),
                 ("GET", "/mmds"), ("GET", "/balloon"), ("GET", "/vm")]:
        yield m, p, "{}"
        yield m, p, None


def main():
    hearth, kernel = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="hearth-api-bad.")
    sock = os.path.join(tmp, "api.sock")
    with open(os.path.join(tmp, "disk.img"), "wb") as f:
        f.truncate(1 << 20)
    err = open(os.path.join(tmp, "err"), "w+")
    proc = subprocess.Popen([hearth, "run", "--api-sock", sock], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=err)
    failures = []
    try:
        if not wait_socket(sock, proc):
            print("FAIL: hearth did not create its socket")
            return 1

        setup = [
            ("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 64,
                                        "track_dirty_pages": True}),
            ("PUT", "/boot-source", {"kernel_image_path": kernel, "boot_args": "console=ttyS0"}),
            ("PUT", "/drives/root", {"drive_id": "root", "path_on_host": os.path.join(tmp, "disk.img"),
                                     "is_root_device": True, "is_read_only": True,
                                     "cache_type": "Writeback", "io_engine": "Async",
                                     "rate_limiter": {"bandwidth": {"size": 1000, "refill_time": 10,
                                                                    "one_time_burst": 5}}}),
            ("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "tap0",
                                                 "guest_mac": "52:54:00:12:34:56",
                                                 "tx_rate_limiter": {"bandwidth": {
                                                     "size": 100000, "refill_time": 1000}}}),
            ("PUT", "/entropy", {}),
        ]
        for m, p, b in setup:
            status, data = request(sock, m, p, json.dumps(b))
            if status != 204:
                failures.append("setup %s %s: %d %r" % (m, p, status, data[:200]))
        _, before = request(sock, "GET", "/vm/config")
        print("configuration before:", before.decode())

        n = 0
        for m, p, b in cases(tmp, kernel):
            n += 1
            try:
                status, data = request(sock, m, p, b)
            except (OSError, http.client.HTTPException) as e:
                failures.append("case %d %s %s: %s" % (n, m, p, e))
                if proc.poll() is not None:
                    break
                continue
            ok = 400 <= status < 500
            try:
                fm = json.loads(data).get("fault_message")
                ok = ok and isinstance(fm, str) and fm != ""
            except (ValueError, AttributeError):
                ok = False
            short = (b if isinstance(b, str) else repr(b))[:80]
            if not ok:
                failures.append("case %d %s %s %r: %d %r" % (n, m, p, short, status, data[:200]))
            elif n % 25 == 0:
                print("case %d %s %s %r -> %d %s" % (n, m, p, short, status, data[:120].decode()))

        # Malformed HTTP: the server must survive it (answers are MHD's own).
        for blob in [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"\x00" * 100,
                     b"PUT /actions HTTP/1.1\r\nContent-Length: -5\r\n\r\n{}",
                     b"PUT /actions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"zz\r\n{}\r\n0\r\n\r\n",
                     b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 100000 + b"\r\n\r\n",
                     b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 5000 + b"\r\n"]:
            raw(sock, blob)

        if proc.poll() is not None:
            failures.append("hearth exited (status %s) during the bad input" % proc.returncode)
        else:
            _, after = request(sock, "GET", "/vm/config")
            if after != before:
                failures.append("GET /vm/config changed:\n before %s\n after  %s" %
                                (before.decode(), after.decode()))
            status, data = request(sock, "GET", "/")
            if status != 200 or b'"Not started"' not in data:
                failures.append("GET / afterwards: %d %r" % (status, data))
        print("%d bad requests sent" % n)
        if n < MIN_CASES:
            failures.append("only %d cases generated, fewer than %d" % (n, MIN_CASES))
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.returncode not in (0, None) and not failures:
            failures.append("hearth exited %d after SIGTERM" % proc.returncode)
        err.seek(0)
        log = err.read()
        err.close()
        if os.path.exists(sock):
            failures.append("the socket was left behind")
        subprocess.run(["rm", "-rf", tmp])
    if failures:
        for f in failures:
            print("FAIL:", f)
        print("--- hearth stderr:\n" + log[-4000:])
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
