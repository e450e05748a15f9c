#!/usr/bin/env python3
"""Full snapshot and restore through the control API on the local /dev/kvm.

A CPL-3 guest (tests/guests/pattern.S, 2 vCPUs) fills its memory with a
known pattern and then verifies it pass after pass, printing "pass N". It
is paused and snapshotted through the API (a snapshot of a running VM is
refused), hearth is killed, and a fresh hearth process is first given bad
snapshots (bit flips and truncations of the state file, a wrong format
version, a checksum-valid file with a bad field or another CPU model, a
memory file of the wrong size and one of another snapshot): each is refused with 400 and a
fault_message, and the process survives them. Then the good snapshot is
loaded with resume_vm in a fresh process: the guest verifies its memory and counts on from
the pass after the last one printed before the snapshot. `hearth snapshot
verify` accepts the good files and refuses the same corruptions (and a
corrupted memory file) with one line and exit status 1.

A second VM runs tests/guests/blk_poll.S in its bench mode (4 KiB reads
from a virtio-blk disk over virtio-mmio, one at a time, polling the used
ring): snapshotted in the middle of its reads and restored in a fresh
process (paused, then resumed), it finishes them ("BENCH-END", "BLK-OK") and resets the machine
(hearth exits 0): the disk's queue positions came through.

A third VM runs the pattern guest with --transport pci and a disk and an
entropy device on virtio-pci (the guest does not use them): its snapshot
holds the PCI host and one virtio-pci section per device, verifies, and
restored in a fresh process the guest counts on; the restored VM is
snapshotted again and that snapshot verifies too.

A fourth VM (the pattern guest, track_dirty_pages) gets a Full snapshot,
runs on (its pass counter and stack change), then a Diff and a second Full
at the same point: the Diff's memory file is sparse and refused until
rebased; `hearth snapshot rebase` merges it onto a copy of the first
Full's, which then equals the second Full's memory (SHA-256), verifies
with the Diff's state file, and restores a guest that counts on.

A VM loaded from the second Full with enable_diff_snapshots keeps
tracking dirty pages: its Diff, rebased onto a copy of the memory file it
was loaded from, equals a Full taken at the same point; one loaded without
it refuses a Diff; a VM booted with --config-file whose machine-config has
track_dirty_pages takes a Diff.

blk_poll in its bench mode, with track_dirty_pages, shows hearth's own
dirty bitmap at work: its bench buffer is written only by the disk (the
vCPU never stores there, so KVM's dirty log cannot see it). Between a
Full and a Diff the disk reads other sectors into it: the Diff's memory
file holds that page with the sector last read (the read count from
FlushMetrics says which), and rebased onto the Full it equals a second
Full at the same point; without that page it would not.

Usage: snapshot.py HEARTH PATTERN_BZIMAGE BLK_POLL_BZIMAGE. Exit 77 (skip)
without /dev/kvm.
"""
import hashlib
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_client import request, wait_socket  # noqa: E402

HEADER_SIZE = 88  # struct snap_header
SECTION_HDR = 16  # struct snap_section_hdr
DEADLINE = 60.0  # seconds: a hung guest fails the test instead of hanging the suite

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


class Hearth:
    """One hearth process with an API socket; the guest's serial output comes through a pipe."""

    def __init__(self, hearth, workdir, name, extra=()):
        self.sock = os.path.join(workdir, name + ".sock")
        self.err = open(os.path.join(workdir, name + ".err"), "w+b")
        self.proc = subprocess.Popen([hearth, "run", "--api-sock", self.sock, "-v"] + list(extra),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.err)
        self.out = b""
        if not wait_socket(self.sock, self.proc):
            raise SystemExit("FAIL: hearth's API socket did not come up")

    def api(self, method, path, body=None):
        status, data = request(self.sock, method, path,
                               None if body is None else json.dumps(body))
        return status, data

    def read_available(self, timeout):
        """Reads what the guest printed, waiting at most timeout seconds for something."""
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if r:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            self.out += chunk
            return len(chunk) > 0
        return False

    def wait_for(self, pattern, start=0):
        """Reads output until regex pattern matches after offset start; the match or None."""
        deadline = time.monotonic() + DEADLINE
        while True:
            m = re.compile(pattern).search(self.out, start)
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0 or (not self.read_available(left) and self.proc.poll() is not None):
                return None

    def drain(self):
        """Takes whatever output is already in the pipe (the VM is paused or gone)."""
        while self.read_available(0):
            pass

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.err.seek(0)
        return self.err.read().decode(errors="replace")


def passes(out):
    return [int(x, 16) for x in re.findall(rb"pass ([0-9a-f]{16})", out)]


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def resum(data):
    """The state file data with its SHA-256 trailer recomputed."""
    body = data[:-32]
    return body + hashlib.sha256(body).digest()


def verify(hearth, state, mem):
    p = subprocess.run([hearth, "snapshot", "verify", state, mem], capture_output=True)
    return p.returncode, p.stderr.decode(errors="replace").strip()


def kill_all(*procs):
    """Kills what is still running; its log is shown when a check failed."""
    for h in procs:
        if h:
            err = h.kill()
            if failures:
                sys.stdout.write(err[-2000:])


def configure(h, what, guest, img):
    """Boot source, 1 vCPU and 64 MiB, and img as a disk that is not the root device."""
    check(h.api("PUT", "/boot-source", {"kernel_image_path": guest})[0] == 204, what + ": boot")
    check(h.api("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64})[0] == 204,
          what + ": machine config")
    st, body = h.api("PUT", "/drives/disk0", {"drive_id": "disk0", "path_on_host": img,
                                               "is_root_device": False})
    check(st == 204, "%s: drive %s" % (what, body))


def start_and_snapshot(h, what, ready, pause_what, state, mem):
    """Starts the VM, waits for regex ready, pauses it and writes a snapshot."""
    check(h.api("PUT", "/actions", {"action_type": "InstanceStart"})[0] == 204, what + ": start")
    check(h.wait_for(ready) is not None, "%s: the guest runs (%s)" % (what, ready))
    check(h.api("PATCH", "/vm", {"state": "Paused"})[0] == 204, "%s: %s" % (what, pause_what))
    st, body = h.api("PUT", "/snapshot/create", {"snapshot_path": state, "mem_file_path": mem})
    check(st == 204, "%s: create %d %s" % (what, st, body))
    h.drain()


def disk_scenario(hearth, guest, work):
    """blk_poll snapshotted mid-I/O and restored: it finishes its reads."""
    img = os.path.join(work, "disk.img")
    state, mem = os.path.join(work, "blk.state"), os.path.join(work, "blk.mem")
    with open(img, "wb") as f:  # sector 0: "BLKBENCH" and the read count
        f.write(b"BLKBENCH" + struct.pack("<Q", 5000))
        f.write(os.urandom((1 << 20) + 4096 - 16))
        f.truncate(16 << 20)
    a = Hearth(hearth, work, "blk-a")
    b = None
    try:
        configure(a, "disk", guest, img)
        start_and_snapshot(a, "disk", rb"BENCH-START", "pause mid-I/O", state, mem)
        check(b"BENCH-END" not in a.out, "disk: snapshotted before the reads ended")
        a.kill()
        a = None
        b = Hearth(hearth, work, "blk-b")
        st, body = b.api("PUT", "/snapshot/load", {"snapshot_path": state, "mem_file_path": mem})
        check(st == 204, "disk: load (paused) %d %s" % (st, body))
        st, body = b.api("GET", "/")
        check(st == 200 and json.loads(body).get("state") == "Paused",
              "disk: the loaded VM is paused: %s" % body)
        b.read_available(0.2)
        check(b.out == b"", "disk: and prints nothing: %r" % b.out)
        check(b.api("PATCH", "/vm", {"state": "Resumed"})[0] == 204, "disk: resume")
        check(b.wait_for(rb"BENCH-END\s*BLK-OK") is not None,
              "disk: the restored guest finishes its reads: %r" % b.out[-80:])
        try:
            status = b.proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            status = None
        check(status == 0, "disk: the guest resets, hearth exits 0 (%s)" % status)
    finally:
        kill_all(a, b)


def section_types(data):
    """The section types of a state file, in order."""
    types, off = [], HEADER_SIZE
    for _ in range(struct.unpack_from("<I", data, 80)[0]):
        typ, _, length = struct.unpack_from("<IIQ", data, off)
        types.append(typ)
        off += SECTION_HDR + ((length + 7) & ~7)
    return types


def pci_scenario(hearth, guest, work):
    """The pattern guest with virtio-pci devices, snapshotted and restored."""
    img = os.path.join(work, "pci-disk.img")
    state, mem = os.path.join(work, "pci.state"), os.path.join(work, "pci.mem")
    state2, mem2 = os.path.join(work, "pci2.state"), os.path.join(work, "pci2.mem")
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    a = Hearth(hearth, work, "pci-a", ["--transport", "pci"])
    b = None
    try:
        configure(a, "pci", guest, img)
        check(a.api("PUT", "/entropy", {})[0] == 204, "pci: entropy device")
        start_and_snapshot(a, "pci", rb"pass 0000000000000002", "pause", state, mem)
        before = passes(a.out)
        err = a.kill()
        a = None
        check("virtio-pci at 00:" in err, "pci: the devices were on virtio-pci")
        types = section_types(open(state, "rb").read())
        check(types.count(40) == 1 and types.count(31) == 2 and types.count(30) == 2,
              "pci: the PCI host and two virtio-pci sections: %s" % types)
        rc, msg = verify(hearth, state, mem)
        check(rc == 0, "pci: the snapshot verifies (%d %s)" % (rc, msg))
        b = Hearth(hearth, work, "pci-b")
        # A checksum-valid state whose queue 0 names an MSI-X vector past the table.
        data = bytearray(open(state, "rb").read())
        off = HEADER_SIZE
        for typ in types:
            length = struct.unpack_from("<Q", data, off + 8)[0]
            if typ == 31:
                struct.pack_into("<H", data, off + SECTION_HDR + 12, 0x7fff)
                break
            off += SECTION_HDR + ((length + 7) & ~7)
        bad = os.path.join(work, "pci-bad.state")
        write(bad, resum(bytes(data)))
        st, body = b.api("PUT", "/snapshot/load", {"snapshot_path": bad, "mem_file_path": mem})
        check(st == 400 and b"inconsistent" in body,
              "pci: a vector past the MSI-X table is refused: %d %s" % (st, body))
        st, body = b.api("PUT", "/snapshot/load", {"snapshot_path": state, "mem_file_path": mem,
                                                   "resume_vm": True})
        check(st == 204, "pci: load %d %s" % (st, body))
        check(b.wait_for(rb"pass ([0-9a-f]{16})\n(.|\n)*pass ([0-9a-f]{16})\n") is not None,
              "pci: the restored guest runs on")
        after = passes(b.out)
        check(bool(before) and bool(after) and after[0] == before[-1] + 1,
              "pci: it counts on (%s after %s)" % (after[:1], before[-1:]))
        check(b"PATTERN-BAD" not in b.out, "pci: its memory is intact")
        check(b.api("PATCH", "/vm", {"state": "Paused"})[0] == 204, "pci: the restored VM pauses")
        st, body = b.api("PUT", "/snapshot/create", {"snapshot_path": state2,
                                                     "mem_file_path": mem2})
        check(st == 204, "pci: the restored VM is snapshotted again %d %s" % (st, body))
        rc, msg = verify(hearth, state2, mem2)
        check(rc == 0, "pci: that snapshot verifies (%d %s)" % (rc, msg))
        err = b.kill()
        b = None
        check("Sanitizer" not in err, "pci: no sanitizer report")
    finally:
        kill_all(a, b)


def ram_sha256(path):
    """SHA-256 of a memory file's guest RAM (without its trailer)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        left = os.path.getsize(path) - 4096
        while left:
            chunk = f.read(min(left, 1 << 20))
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def diff_scenario(hearth, guest, work):
    """Full, the guest runs on, Diff and Full at one point; rebase equals the Full."""
    full, full_mem = os.path.join(work, "d-full.state"), os.path.join(work, "d-full.mem")
    diff, diff_mem = os.path.join(work, "d-diff.state"), os.path.join(work, "d-diff.mem")
    full2, full2_mem = os.path.join(work, "d-full2.state"), os.path.join(work, "d-full2.mem")
    merged = os.path.join(work, "d-merged.mem")
    a = Hearth(hearth, work, "diff-a")
    b = None
    try:
        check(a.api("PUT", "/boot-source", {"kernel_image_path": guest})[0] == 204, "diff: boot")
        check(a.api("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64,
                                               "track_dirty_pages": True})[0] == 204,
              "diff: machine config with track_dirty_pages")
        start_and_snapshot(a, "diff", rb"pass 0000000000000002", "pause", full, full_mem)
        check(a.api("PATCH", "/vm", {"state": "Resumed"})[0] == 204, "diff: resume")
        check(a.wait_for(rb"pass 0000000000000005") is not None, "diff: the guest runs on")
        check(a.api("PATCH", "/vm", {"state": "Paused"})[0] == 204, "diff: pause again")
        st, body = a.api("PUT", "/snapshot/create", {"snapshot_path": diff,
                                                     "mem_file_path": diff_mem,
                                                     "snapshot_type": "Diff"})
        check(st == 204, "diff: Diff snapshot %d %s" % (st, body))
        st, body = a.api("PUT", "/snapshot/create", {"snapshot_path": full2,
                                                     "mem_file_path": full2_mem})
        check(st == 204, "diff: a Full at the same point %d %s" % (st, body))
        a.drain()
        last = passes(a.out)[-1]
        a.kill()
        a = None
        size = os.path.getsize(full_mem)
        check(os.path.getsize(diff_mem) == size, "diff: the Diff's memory file has full size")
        blocks = os.stat(diff_mem).st_blocks * 512
        check(0 < blocks < os.stat(full_mem).st_blocks * 512 // 8,
              "diff: and holds few pages (%d bytes, the Full %d)"
              % (blocks, os.stat(full_mem).st_blocks * 512))
        rc, msg = verify(hearth, diff, diff_mem)
        check(rc == 1 and "rebase" in msg, "diff: an unmerged Diff is refused: %s" % msg)
        shutil.copyfile(full_mem, merged)
        p = subprocess.run([hearth, "snapshot", "rebase", diff_mem, merged], capture_output=True)
        check(p.returncode == 0, "diff: rebase %d %s" % (p.returncode, p.stderr))
        check(ram_sha256(merged) == ram_sha256(full2_mem),
              "diff: the rebased memory equals the Full taken at the same point")
        check(ram_sha256(merged) != ram_sha256(full_mem), "diff: and differs from its base")
        rc, msg = verify(hearth, diff, merged)
        check(rc == 0, "diff: the Diff's state file verifies with it (%d %s)" % (rc, msg))
        p = subprocess.run([hearth, "snapshot", "rebase", full_mem, merged], capture_output=True)
        check(p.returncode == 1 and b"not a diff" in p.stderr,
              "diff: rebasing a Full is refused: %s" % p.stderr)
        p = subprocess.run([hearth, "snapshot", "rebase", diff_mem, diff_mem],
                           capture_output=True)
        check(p.returncode == 1 and b"itself a diff" in p.stderr,
              "diff: rebasing onto a diff is refused: %s" % p.stderr)
        b = Hearth(hearth, work, "diff-b")
        st, body = b.api("PUT", "/snapshot/load", {"snapshot_path": diff,
                                                   "mem_file_path": merged, "resume_vm": True})
        check(st == 204, "diff: load the rebased snapshot %d %s" % (st, body))
        check(b.wait_for(rb"pass ([0-9a-f]{16})\n") is not None, "diff: the guest runs on")
        after = passes(b.out)
        check(bool(after) and after[0] == last + 1,
              "diff: it counts on (%s after %d)" % (after[:1], last))
        check(b"PATTERN-BAD" not in b.out, "diff: its memory is intact")
    finally:
        kill_all(a, b)


BBUF = 0x420000  # blk_poll's bench buffer: only the disk writes it (tests/guests/blk_poll.S)


def device_dirty_scenario(hearth, guest, work):
    """A Diff holds the pages hearth's disk wrote into guest memory (the vCPU never writes
    them, so KVM's dirty log does not see them): hearth's own dirty bitmap at work."""
    img = os.path.join(work, "dd.img")
    metrics = os.path.join(work, "dd.metrics")
    f1, f1_mem = os.path.join(work, "dd-f1.state"), os.path.join(work, "dd-f1.mem")
    d, d_mem = os.path.join(work, "dd-d.state"), os.path.join(work, "dd-d.mem")
    f2, f2_mem = os.path.join(work, "dd-f2.state"), os.path.join(work, "dd-f2.mem")
    merged = os.path.join(work, "dd-merged.mem")
    disk = b"BLKBENCH" + struct.pack("<Q", 1 << 40) + os.urandom((1 << 20) + 4096 - 16)
    write(img, disk)
    a = Hearth(hearth, work, "dd-a")

    def reads():
        """Pauses the VM and returns the disk's completed reads (FlushMetrics)."""
        check(a.api("PATCH", "/vm", {"state": "Paused"})[0] == 204, "device dirty: pause")
        check(a.api("PUT", "/actions", {"action_type": "FlushMetrics"})[0] == 204,
              "device dirty: FlushMetrics")
        with open(metrics) as m:
            return json.loads(m.read().splitlines()[-1])["block_disk0"]["read_count"]

    def bbuf_now(read_count):
        """The bench buffer after read_count reads: sector 0, then 4 KiB reads of sectors
        8 + 8 * (i % 256)."""
        if read_count < 2:
            return bytes(4096)  # not read into yet
        off = (8 + 8 * ((read_count - 2) % 256)) * 512
        return disk[off:off + 4096]

    def page(path, gpa):
        with open(path, "rb") as m:
            m.seek(gpa)
            return m.read(4096)

    try:
        check(a.api("PUT", "/boot-source", {"kernel_image_path": guest})[0] == 204,
              "device dirty: boot")
        check(a.api("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64,
                                               "track_dirty_pages": True})[0] == 204,
              "device dirty: machine config with track_dirty_pages")
        check(a.api("PUT", "/drives/disk0", {"drive_id": "disk0", "path_on_host": img,
                                             "is_root_device": False})[0] == 204,
              "device dirty: drive")
        check(a.api("PUT", "/metrics", {"metrics_path": metrics})[0] == 204,
              "device dirty: metrics")
        check(a.api("PUT", "/actions", {"action_type": "InstanceStart"})[0] == 204,
              "device dirty: start")
        check(a.wait_for(rb"BENCH-START") is not None, "device dirty: the guest reads")
        r1 = reads()
        st, body = a.api("PUT", "/snapshot/create", {"snapshot_path": f1, "mem_file_path": f1_mem})
        check(st == 204, "device dirty: Full %d %s" % (st, body))
        r2 = r1
        deadline = time.monotonic() + DEADLINE
        while (r2 < r1 + 300 or (r2 - r1) % 256 == 0) and time.monotonic() < deadline:
            check(a.api("PATCH", "/vm", {"state": "Resumed"})[0] == 204, "device dirty: resume")
            time.sleep(0.05)  # not synchronization: the loop waits for the read count
            r2 = reads()
        check(r2 >= r1 + 300, "device dirty: reads went on (%d then %d)" % (r1, r2))
        st, body = a.api("PUT", "/snapshot/create", {"snapshot_path": d, "mem_file_path": d_mem,
                                                     "snapshot_type": "Diff"})
        check(st == 204, "device dirty: Diff %d %s" % (st, body))
        st, body = a.api("PUT", "/snapshot/create", {"snapshot_path": f2, "mem_file_path": f2_mem})
        check(st == 204, "device dirty: Full at the same point %d %s" % (st, body))
        a.kill()
        a = None
        check(page(f1_mem, BBUF) == bbuf_now(r1),
              "device dirty: the first Full's buffer as %d reads left it" % r1)
        check(page(f2_mem, BBUF) == bbuf_now(r2) != bbuf_now(r1),
              "device dirty: the second Full's buffer holds read %d's, another sector" % (r2 - 2))
        check(page(d_mem, BBUF) == bbuf_now(r2),
              "device dirty: the Diff holds the page only the disk wrote")
        shutil.copyfile(f1_mem, merged)
        p = subprocess.run([hearth, "snapshot", "rebase", d_mem, merged], capture_output=True)
        check(p.returncode == 0, "device dirty: rebase %d %s" % (p.returncode, p.stderr))
        check(ram_sha256(merged) == ram_sha256(f2_mem),
              "device dirty: rebased onto the first Full it equals the second")
    finally:
        kill_all(a)


def restored_diff_scenario(hearth, guest, work):
    """A VM loaded with track_dirty_pages takes Diffs: rebased onto the loaded base they
    equal a Full at the same point. A VM booted from a configuration file with
    machine-config track_dirty_pages takes one too; one loaded without it is refused."""
    base, base_mem = os.path.join(work, "d-full2.state"), os.path.join(work, "d-full2.mem")
    diff, diff_mem = os.path.join(work, "r-diff.state"), os.path.join(work, "r-diff.mem")
    full, full_mem = os.path.join(work, "r-full.state"), os.path.join(work, "r-full.mem")
    merged = os.path.join(work, "r-merged.mem")
    a = b = c = None
    try:
        a = Hearth(hearth, work, "rdiff-a")
        st, body = a.api("PUT", "/snapshot/load", {"snapshot_path": base,
                                                   "mem_file_path": base_mem,
                                                   "enable_diff_snapshots": True,
                                                   "resume_vm": True})
        check(st == 204, "restored diff: load with enable_diff_snapshots %d %s" % (st, body))
        st, body = a.api("GET", "/machine-config")
        check(b'"track_dirty_pages":true' in body, "restored diff: machine-config says so")
        m = a.wait_for(rb"pass ([0-9a-f]{16})\n")
        first = int(m.group(1), 16) if m else 0
        check(a.wait_for(rb"pass %016x" % (first + 2)) is not None,
              "restored diff: the guest runs on")
        check(a.api("PATCH", "/vm", {"state": "Paused"})[0] == 204, "restored diff: pause")
        st, body = a.api("PUT", "/snapshot/create", {"snapshot_path": diff,
                                                     "mem_file_path": diff_mem,
                                                     "snapshot_type": "Diff"})
        check(st == 204, "restored diff: a Diff of the restored VM %d %s" % (st, body))
        st, body = a.api("PUT", "/snapshot/create", {"snapshot_path": full,
                                                     "mem_file_path": full_mem})
        check(st == 204, "restored diff: a Full at the same point %d %s" % (st, body))
        a.kill()
        a = None
        blocks = os.stat(diff_mem).st_blocks * 512
        check(0 < blocks < os.stat(full_mem).st_blocks * 512 // 8,
              "restored diff: the Diff holds few pages (%d bytes)" % blocks)
        shutil.copyfile(base_mem, merged)
        p = subprocess.run([hearth, "snapshot", "rebase", diff_mem, merged], capture_output=True)
        check(p.returncode == 0, "restored diff: rebase %d %s" % (p.returncode, p.stderr))
        check(ram_sha256(merged) == ram_sha256(full_mem),
              "restored diff: rebased onto the loaded base it equals the Full")
        check(ram_sha256(merged) != ram_sha256(base_mem), "restored diff: and differs from it")
        rc, msg = verify(hearth, diff, merged)
        check(rc == 0, "restored diff: its state file verifies with it (%d %s)" % (rc, msg))

        b = Hearth(hearth, work, "rdiff-b")
        st, body = b.api("PUT", "/snapshot/load", {"snapshot_path": base,
                                                   "mem_file_path": base_mem})
        check(st == 204, "restored diff: load without tracking %d %s" % (st, body))
        st, body = b.api("PUT", "/snapshot/create", {"snapshot_path": diff + "2",
                                                     "mem_file_path": diff_mem + "2",
                                                     "snapshot_type": "Diff"})
        check(st == 400 and b"track_dirty_pages" in body,
              "restored diff: a Diff without tracking is refused: %s" % body)
        b.kill()
        b = None

        doc = os.path.join(work, "r-config.json")
        with open(doc, "w") as f:
            json.dump({"boot-source": {"kernel_image_path": guest},
                       "machine-config": {"vcpu_count": 1, "mem_size_mib": 64,
                                          "track_dirty_pages": True}}, f)
        c = Hearth(hearth, work, "rdiff-c", ["--config-file", doc])
        check(c.wait_for(rb"pass 0000000000000001") is not None,
              "config file: the guest runs")
        check(c.api("PATCH", "/vm", {"state": "Paused"})[0] == 204, "config file: pause")
        st, body = c.api("PUT", "/snapshot/create", {"snapshot_path": diff + "3",
                                                     "mem_file_path": diff_mem + "3",
                                                     "snapshot_type": "Diff"})
        check(st == 204, "config file: track_dirty_pages gives a Diff %d %s" % (st, body))
    finally:
        kill_all(a, b, c)


def main():
    hearth, guest, blk_guest = sys.argv[1], sys.argv[2], sys.argv[3]
    if not (os.access("/dev/kvm", os.R_OK | os.W_OK)):
        print("SKIP: /dev/kvm is missing or not accessible")
        return 77
    work = tempfile.mkdtemp(prefix="hearth-snap-")
    state, mem = os.path.join(work, "vm.state"), os.path.join(work, "vm.mem")
    state2, mem2 = os.path.join(work, "other.state"), os.path.join(work, "other.mem")
    a = b = None
    try:
        # ---- the running VM, snapshotted -------------------------------------------
        a = Hearth(hearth, work, "a")
        check(a.api("PUT", "/boot-source", {"kernel_image_path": guest})[0] == 204, "boot source")
        check(a.api("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 64})[0] == 204,
              "machine config")
        st, body = a.api("PUT", "/snapshot/create",
                         {"snapshot_path": state, "mem_file_path": mem})
        check(st == 400 and b"fault_message" in body, "create before start refused: %s" % body)
        check(a.api("PUT", "/actions", {"action_type": "InstanceStart"})[0] == 204, "start")
        check(a.wait_for(rb"pass 0000000000000003") is not None, "the guest verifies its memory")
        st, body = a.api("PUT", "/snapshot/create",
                         {"snapshot_path": state, "mem_file_path": mem})
        check(st == 400 and b"paused" in body, "create while running refused: %s" % body)
        check(not os.path.exists(state), "nothing written for a refused create")
        check(a.api("PATCH", "/vm", {"state": "Paused"})[0] == 204, "pause")
        for body in ({"snapshot_path": state, "mem_file_path": mem, "snapshot_type": "Diff"},
                     {"snapshot_path": state, "mem_file_path": mem, "snapshot_type": "Half"},
                     {"snapshot_path": state},
                     {"snapshot_path": state, "mem_file_path": mem, "extra": 1},
                     {"snapshot_path": "/nonexistent-dir/x", "mem_file_path": mem}):
            st, ans = a.api("PUT", "/snapshot/create", body)
            check(st == 400 and b"fault_message" in ans, "bad create %s: %d %s" % (body, st, ans))
        st, body = a.api("PUT", "/snapshot/create",
                         {"snapshot_path": state, "mem_file_path": mem, "snapshot_type": "Full"})
        check(st == 204, "create on the paused VM: %d %s" % (st, body))
        st, body = a.api("PUT", "/snapshot/create",
                         {"snapshot_path": state2, "mem_file_path": mem2})
        check(st == 204, "a second snapshot: %d %s" % (st, body))
        a.drain()
        before = passes(a.out)
        check(len(before) >= 3, "passes before the snapshot: %s" % before[-3:])
        last = before[-1] if before else 0
        st, body = a.api("PUT", "/snapshot/load",
                         {"snapshot_path": state, "mem_file_path": mem})
        check(st == 400, "load into a started VM refused: %s" % body)
        a.kill()
        a = None

        size = os.path.getsize(mem)
        check(size == 64 * 2**20 + 4096, "memory file: 64 MiB and the trailer (%d)" % size)
        check(os.stat(mem).st_blocks * 512 < size, "zero pages are holes in the memory file")
        rc, msg = verify(hearth, state, mem)
        check(rc == 0, "hearth snapshot verify accepts the snapshot (%d %s)" % (rc, msg))

        # ---- bad snapshots: refused, the process stays usable ------------------------
        data = open(state, "rb").read()
        bad = os.path.join(work, "bad.state")
        bad_mem = os.path.join(work, "bad.mem")
        b = Hearth(hearth, work, "b")

        def refused(state_file, mem_file, what, want=None, api=True):
            rc, msg = verify(hearth, state_file, mem_file)
            ok = rc == 1 and msg.count("\n") == 0 and msg.startswith("hearth: snapshot verify:")
            if want:
                ok = ok and want in msg
            check(ok, "verify refuses %s: %s" % (what, msg))
            if api:
                st, body = b.api("PUT", "/snapshot/load",
                                 {"snapshot_path": state_file,
                                  "mem_backend": {"backend_type": "File",
                                                  "backend_path": mem_file},
                                  "resume_vm": True})
                ok = st == 400 and b"fault_message" in body
                if want:
                    ok = ok and want.encode() in body
                check(ok, "load refuses %s: %d %s" % (what, st, body[:200]))

        offsets = sorted(set([0, 8, 12, 16, 24, 40, 56, 84, HEADER_SIZE, HEADER_SIZE + 4,
                              HEADER_SIZE + 8] +
                             [int(i * (len(data) - 1) / 47) for i in range(48)] +
                             [len(data) - 32, len(data) - 1]))
        for n, off in enumerate(offsets):
            flipped = bytearray(data)
            flipped[off] ^= 1 << (n % 8)
            write(bad, bytes(flipped))
            refused(bad, mem, "a bit flip at offset %d" % off, api=n % 4 == 0)
        for n, length in enumerate(sorted(set([0, 1, 7, 8, 64, HEADER_SIZE - 1, HEADER_SIZE,
                                               HEADER_SIZE + 32, len(data) // 3, len(data) // 2,
                                               len(data) - 33, len(data) - 32,
                                               len(data) - 1]))):
            write(bad, data[:length])
            refused(bad, mem, "truncation to %d bytes" % length, api=n % 3 == 0)
        write(bad, data + b"\0" * 8)
        refused(bad, mem, "8 bytes appended")
        wrong = bytearray(data)
        struct.pack_into("<I", wrong, 8, 2)
        write(bad, resum(bytes(wrong)))
        refused(bad, mem, "format version 2", want="version 2")
        wrong = bytearray(data)
        struct.pack_into("<I", wrong, HEADER_SIZE + SECTION_HDR + 72, 0)  # machine.ncpus
        write(bad, resum(bytes(wrong)))
        refused(bad, mem, "0 vCPUs with a valid checksum", want="0 vCPUs")
        wrong = bytearray(data)
        struct.pack_into("<I", wrong, HEADER_SIZE, 99)  # the first section's type
        write(bad, resum(bytes(wrong)))
        refused(bad, mem, "an unknown first section", want="machine")
        # A CPU the host cannot give: the saved CPUID's first entry (leaf 0) changed.
        wrong = bytearray(data)
        mlen = struct.unpack_from("<Q", wrong, HEADER_SIZE + 8)[0]
        cpuid = HEADER_SIZE + SECTION_HDR + ((mlen + 7) & ~7)
        check(struct.unpack_from("<I", wrong, cpuid)[0] == 2, "the second section is the CPUID")
        leaf0 = cpuid + SECTION_HDR
        struct.pack_into("<I", wrong, leaf0 + 16, struct.unpack_from("<I", wrong, leaf0 + 16)[0] ^ 1)
        write(bad, resum(bytes(wrong)))
        st, body = b.api("PUT", "/snapshot/load", {"snapshot_path": bad, "mem_file_path": mem})
        check(st == 400 and b"the host CPU differs: CPUID leaf 0 subleaf 0 EBX" in body,
              "load refuses another CPU model, naming the register: %s" % body)
        shutil.copyfile(mem, bad_mem)
        os.truncate(bad_mem, size - 4096)
        refused(state, bad_mem, "a memory file 4 KiB short", want="memory file is")
        os.truncate(bad_mem, size + 4096)
        refused(state, bad_mem, "a memory file 4 KiB long", want="memory file is")
        refused(state, mem2, "the memory file of another snapshot", want="another snapshot")
        refused(state2, mem, "the state file of another snapshot", want="another snapshot")
        refused(state, os.path.join(work, "missing.mem"), "a missing memory file")
        refused(os.path.join(work, "missing.state"), mem, "a missing state file")
        shutil.copyfile(mem, bad_mem)
        with open(bad_mem, "r+b") as f:
            f.seek(32 * 2**20)
            byte = f.read(1)
            f.seek(32 * 2**20)
            f.write(bytes([byte[0] ^ 0x10]))
        refused(state, bad_mem, "a corrupted memory file", want="memory checksum", api=False)
        for body in ({"snapshot_path": state},
                     {"snapshot_path": state, "mem_file_path": mem,
                      "mem_backend": {"backend_type": "File", "backend_path": mem}},
                     {"snapshot_path": state,
                      "mem_backend": {"backend_type": "Uffd", "backend_path": mem}},
                     {"snapshot_path": state, "mem_file_path": mem, "resume_vm": "yes"},
                     {"snapshot_path": state, "mem_file_path": mem, "network_overrides": []},
                     {"snapshot_path": state, "mem_file_path": mem, "what": 1}):
            st, ans = b.api("PUT", "/snapshot/load", body)
            check(st == 400 and b"fault_message" in ans, "bad load %s: %d %s" % (body, st, ans))
        check(b.proc.poll() is None, "hearth survived the bad snapshots")
        check(b.api("GET", "/")[0] == 200, "and still answers")
        # It ends normally (a sanitizer build checks for leaks then).
        b.proc.send_signal(signal.SIGTERM)
        try:
            status = b.proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            status = None
        err = b.kill()
        check(status == 0 and "Sanitizer" not in err,
              "after them it exits 0 on SIGTERM, no sanitizer report (%s)" % status)
        b = Hearth(hearth, work, "c")

        # ---- the good snapshot, in a fresh process --------------------------------------
        st, body = b.api("PUT", "/snapshot/load",
                         {"snapshot_path": state,
                          "mem_backend": {"backend_type": "File", "backend_path": mem},
                          "resume_vm": True})
        check(st == 204, "load the snapshot with resume_vm: %d %s" % (st, body))
        m = b.wait_for(rb"pass ([0-9a-f]{16})\n(.|\n)*pass ([0-9a-f]{16})\n")
        after = passes(b.out)
        check(m is not None and len(after) >= 2,
              "the restored guest verifies its memory again: %s" % after[:3])
        check(bool(after) and after[0] == last + 1,
              "it counts on: pass %d after %d" % (after[0] if after else -1, last))
        check(b"PATTERN-BAD" not in b.out and b"pattern: filling" not in b.out,
              "no pattern error and no new boot: %r" % b.out[:120])
        st, body = b.api("GET", "/")
        check(st == 200 and json.loads(body).get("state") == "Running", "state Running: %s" % body)
        st, body = b.api("PUT", "/snapshot/load",
                         {"snapshot_path": state, "mem_file_path": mem})
        check(st == 400, "a second load refused: %s" % body)
        check(b.api("PATCH", "/vm", {"state": "Paused"})[0] == 204, "the restored VM pauses")
        check(b.api("PUT", "/snapshot/create",
                    {"snapshot_path": state2, "mem_file_path": mem2})[0] == 204,
              "and is snapshotted again")
        rc, msg = verify(hearth, state2, mem2)
        check(rc == 0, "that snapshot verifies (%d %s)" % (rc, msg))
        err = b.kill()
        b = None
        check("AddressSanitizer" not in err and "LeakSanitizer" not in err,
              "no sanitizer report")
        disk_scenario(hearth, blk_guest, work)
        pci_scenario(hearth, guest, work)
        diff_scenario(hearth, guest, work)
        restored_diff_scenario(hearth, guest, work)
        device_dirty_scenario(hearth, blk_guest, work)
    finally:
        for h in (a, b):
            if h:
                sys.stdout.write(h.kill()[-2000:])
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
