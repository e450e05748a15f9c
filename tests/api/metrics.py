#!/usr/bin/env python3
"""The metrics file on the local /dev/kvm: exact counts and the periodic write.

1. Exact counts. A VM configured through the API runs tests/guests/blk_poll.S
   (a CPL-3 guest driving a virtio-blk disk over virtio-mmio by polling) with
   an ops rate limiter of 2 requests per 100 ms on the disk. The guest's I/O
   is known: GET_ID, a 512-byte read of sector 0, two 16 KiB writes, a flush,
   a 32 KiB read and a read past the end (answered IOERR); then it resets the
   machine through the i8042 and hearth exits 0, writing a last metrics line.
   That line holds exactly those counts for the drive ("block_disk0" and the
   "block" sum), throttled events and time from the rate limiter, one i8042
   reset, a UART write count equal to the bytes the guest printed, and as many
   port-output exits as the guest's UART bytes plus its one i8042 command
   (the only ports it writes from user space), per vCPU and in total.
2. The periodic write. A counting guest (tests/guests/counter.S, a '.' on
   the UART every 2^14 steps) runs with HEARTH_METRICS_PERIOD_MS=200: lines
   appear without any FlushMetrics, about 200 ms apart, their counters
   growing; FlushMetrics adds one at once, whose api_server.requests counts
   the requests made; SIGTERM ends hearth with one more line.

Usage: metrics.py HEARTH BLK_POLL_BZIMAGE COUNTER_BZIMAGE. Exit 77 (skip)
without /dev/kvm.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_client import request, wait_socket  # noqa: E402

DEADLINE = 60.0
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def lines(path):
    try:
        with open(path) as f:
            return [json.loads(x) for x in f.read().splitlines() if x.strip()]
    except FileNotFoundError:
        return []


def start(hearth, sock, out, env=None):
    proc = subprocess.Popen([hearth, "run", "--api-sock", sock], stdin=subprocess.DEVNULL,
                            stdout=out, stderr=subprocess.PIPE, env=env)
    if not wait_socket(sock, proc):
        proc.kill()
        raise SystemExit("FAIL: hearth's API socket did not come up: "
                         + proc.communicate()[1].decode(errors="replace"))
    return proc


def put(sock, path, body, counter):
    status, data = request(sock, "PUT", path, json.dumps(body))
    counter[0] += 1
    check(status == 204, "PUT %s -> %d %s" % (path, status, data.decode(errors="replace")))


def exact_counts(hearth, guest, d):
    print("=== 1. blk_poll through the API: exact counts in the last line")
    sock, mpath, out = os.path.join(d, "a.sock"), os.path.join(d, "a.metrics"), \
        os.path.join(d, "a.out")
    img = os.path.join(d, "disk.img")
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    n = [1]  # wait_socket's GET /version
    with open(out, "wb") as o:
        proc = start(hearth, sock, o)
        put(sock, "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}, n)
        put(sock, "/boot-source", {"kernel_image_path": guest}, n)
        put(sock, "/drives/disk0", {"drive_id": "disk0", "path_on_host": img,
                                    "is_root_device": False,
                                    "rate_limiter": {"ops": {"size": 2, "refill_time": 100}}}, n)
        put(sock, "/metrics", {"metrics_path": mpath}, n)
        t0 = time.monotonic()
        put(sock, "/actions", {"action_type": "InstanceStart"}, n)
        try:
            rc = proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        wall_us = (time.monotonic() - t0) * 1e6
        err = proc.stderr.read().decode(errors="replace")
    printed = open(out, "rb").read()
    check(rc == 0, "hearth exited 0 after the guest's reset (got %s)" % rc)
    check(b"BLK-OK" in printed, "the guest printed BLK-OK")
    ls = lines(mpath)
    check(len(ls) >= 1, "the metrics file has a line (written at exit)")
    if not ls or rc != 0:
        print(printed.decode(errors="replace"), err)
        return
    m = ls[-1]
    print(json.dumps(m, indent=1))
    b = m.get("block_disk0", {})
    want = {"get_id_count": 1, "read_count": 2, "read_bytes": 512 + 32768, "write_count": 2,
            "write_bytes": 32768, "flush_count": 1, "invalid_reqs_count": 1, "io_errors": 0,
            "unsupported_count": 0, "discard_count": 0, "guest_errors": 0}
    for k, v in want.items():
        check(b.get(k) == v, "block_disk0.%s == %d (got %s)" % (k, v, b.get(k)))
    check(m.get("block") == b, "the block sum equals its only drive")
    thr = b.get("rate_limiter_throttled_events", 0)
    thr_us = b.get("rate_limiter_throttled_time_us", 0)
    check(thr >= 1, "the ops limiter held requests (%d events)" % thr)
    # 7 requests, 2 at once, 2 more per 100 ms: at least ~200 ms held in all.
    # Each hold waits for a token, 50 ms to refill one: the first alone takes ~50 ms.
    check(40000 <= thr_us <= wall_us,
          "throttled time %d us between 40 ms and the run's %d us" % (thr_us, wall_us))
    u, k = m.get("uart", {}), m.get("i8042", {})
    check(u.get("write_count") == len(printed),
          "uart.write_count %s == the %d bytes the guest printed" % (u.get("write_count"),
                                                                    len(printed)))
    check(u.get("output_dropped_bytes") == 0,
          "uart.output_dropped_bytes 0 for a file that took everything (got %s)"
          % u.get("output_dropped_bytes"))
    check(k.get("reset_count") == 1, "i8042.reset_count == 1 (got %s)" % k.get("reset_count"))
    v0, v = m.get("vcpu_0", {}), m.get("vcpu", {})
    check(v0 == v, "the vcpu sum equals its only vCPU")
    check(v.get("exit_io_out") == len(printed) + k.get("command_count", -1),
          "exit_io_out %s == UART bytes %d + i8042 commands %s"
          % (v.get("exit_io_out"), len(printed), k.get("command_count")))
    check(v.get("exit_mmio_read", 0) > 0 and v.get("exit_mmio_write", 0) > 0,
          "MMIO exits counted (read %s, write %s)" % (v.get("exit_mmio_read"),
                                                     v.get("exit_mmio_write")))
    parts = ["exit_io_in", "exit_io_out", "exit_mmio_read", "exit_mmio_write", "exit_hlt",
             "exit_intr", "exit_shutdown", "exit_system_event", "exit_internal_error",
             "exit_fail_entry", "exit_other"]
    check(sum(v.get(p, 0) for p in parts) == v.get("exits_to_vmm"),
          "exits by reason add up to exits_to_vmm (%s)" % v.get("exits_to_vmm"))
    check(v.get("failures") == 0, "no vCPU failures")
    check(m.get("api_server", {}).get("requests") == n[0],
          "api_server.requests == the %d requests made" % n[0])


def periodic(hearth, guest, d):
    print("=== 2. the periodic write (HEARTH_METRICS_PERIOD_MS=200), FlushMetrics, SIGTERM")
    sock, mpath = os.path.join(d, "b.sock"), os.path.join(d, "b.metrics")
    env = dict(os.environ, HEARTH_METRICS_PERIOD_MS="200")
    n = [1]  # wait_socket's GET /version
    proc = start(hearth, sock, subprocess.DEVNULL, env)
    try:
        put(sock, "/machine-config", {"vcpu_count": 1, "mem_size_mib": 32}, n)
        put(sock, "/boot-source", {"kernel_image_path": guest}, n)
        put(sock, "/metrics", {"metrics_path": mpath}, n)
        put(sock, "/actions", {"action_type": "InstanceStart"}, n)
        deadline = time.monotonic() + DEADLINE
        while len(lines(mpath)) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        ls = lines(mpath)
        check(len(ls) >= 3, "three lines written without FlushMetrics (%d)" % len(ls))
        if len(ls) >= 3:
            ts = [x["utc_timestamp_ms"] for x in ls[:3]]
            # A late handler makes one gap longer and the next shorter: two periods in all.
            check(300 <= ts[2] - ts[0] <= 10000,
                  "two periods of 200 ms between the first and third lines: %d ms"
                  % (ts[2] - ts[0]))
            outs = [x["vcpu"]["exit_io_out"] for x in ls[:3]]
            check(outs == sorted(outs), "the guest's port-output exits never shrink: %s" % outs)
        first = lines(mpath)[0]["vcpu"]["exit_io_out"] if lines(mpath) else 0
        while True:  # the guest's output goes on: its exits grow (bounded)
            before = len(lines(mpath))
            put(sock, "/actions", {"action_type": "FlushMetrics"}, n)
            ls = lines(mpath)
            check(len(ls) > before, "FlushMetrics wrote a line at once")
            if not ls or ls[-1]["vcpu"]["exit_io_out"] > first or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if ls:
            check(ls[-1]["vcpu"]["exit_io_out"] > first,
                  "the guest's port-output exits grew: %d then %d"
                  % (first, ls[-1]["vcpu"]["exit_io_out"]))
            check(ls[-1]["api_server"]["requests"] == n[0],
                  "api_server.requests == %d (got %s)" % (n[0], ls[-1]["api_server"]["requests"]))
        before = len(ls)
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            rc = None
        # The counting guest ignores the power button: hearth stops it hard (status 6).
        check(rc in (0, 6), "SIGTERM ends hearth (status %s)" % rc)
        check(len(lines(mpath)) > before, "a last line written at exit")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is missing or not accessible")
        return 77
    hearth, blk_poll, counter = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as d:
        exact_counts(hearth, blk_poll, d)
        periodic(hearth, counter, d)
    if failures:
        print("FAILED: %d check(s)" % len(failures))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
