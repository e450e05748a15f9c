#!/usr/bin/env python3
"""Live migration between two hearth processes over loopback, on the local /dev/kvm.

The guest is tests/guests/dirty.S: idle (it counts in a register and
prints "tick N") or dirtying one page after the other of a 32 MiB region
at a chosen pace (it prints "sweep N" after each sweep). The source runs
with a disk image (the guest does not use it) so that its lock can be
watched, and with HEARTH_TEST_MIGRATION_HASH set both sides print the
SHA-256 of guest RAM: the source when its vCPUs have stopped, the
destination of what it received, before the guest runs there.

Cases:
  - a dirtying guest and an idle one migrate: GET /migrate says
    "completed" with a downtime, the two checksums are equal, the source
    exits 0, the destination's guest goes on counting from where the
    source's was, and its disk is then locked by the destination only;
  - a guest that dirties memory faster than the link converges: its vCPUs
    are throttled after some passes (throttle_percent, a log line) and it
    migrates;
  - faults, each leaving the source's guest running (its count goes on),
    GET /migrate "failed" or "cancelled" with a reason, the disk locked by
    the source only (never by two processes): the destination killed
    during the first pass, during the iterative phase and after "ready"
    before "commit"; the connection cut (a proxy closes it); a cancel
    through the API; a destination that refuses the VM (a --disk override
    for a drive the VM lacks);
  - corrupted and truncated streams (a real stream recorded by the proxy,
    then cut short or with bytes flipped), and a stream of another version,
    are refused by a destination that exits 1 with one line, never by a
    signal.

Usage: migration.py HEARTH DIRTY_BZIMAGE [CORPUS_DIR]. With CORPUS_DIR, the
recorded stream is also written there (the fuzz target's seed). Exit 77
(skip) without /dev/kvm.
"""
import json
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'api'))
from api_client import request, wait_socket  # noqa: E402

DEADLINE = 60.0
failures = []


def check(cond, what):
    print(('ok    ' if cond else 'FAIL  ') + what, flush=True)
    if not cond:
        failures.append(what)


class Proc:
    """A hearth process whose stderr and serial output are watched."""

    def __init__(self, args, tmp, name, env=None):
        self.serial = os.path.join(tmp, name + '.serial')
        self.errpath = os.path.join(tmp, name + '.err')
        e = dict(os.environ)
        e['HEARTH_TEST_MIGRATION_HASH'] = '1'
        e.update(env or {})
        self.err = open(self.errpath, 'w')
        self.p = subprocess.Popen(args + ['--serial', 'file:' + self.serial],
                                  stdin=subprocess.DEVNULL, stdout=self.err,
                                  stderr=self.err, env=e)

    def text(self):
        with open(self.errpath) as f:
            return f.read()

    def out(self):
        try:
            with open(self.serial, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def wait_for(self, pattern, what, source='err', timeout=DEADLINE):
        end = time.time() + timeout
        while time.time() < end:
            m = re.search(pattern, self.text() if source == 'err' else self.out())
            if m:
                return m
            if self.p.poll() is not None:
                m = re.search(pattern, self.text() if source == 'err' else self.out())
                return m
            time.sleep(0.02)
        return None

    def count(self, word):
        v = re.findall(word + r' ([0-9a-f]{16})', self.out())
        return int(v[-1], 16) if v else -1

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.err.close()


def write_locks(path):
    """Processes holding a write lock on path's inode, from /proc/locks (OFD locks show pid -1)."""
    st = os.stat(path)
    dev = '%02x:%02x:%d' % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    n = 0
    with open('/proc/locks') as f:
        for line in f:
            if dev in line and 'WRITE' in line and '->' not in line:
                n += 1
    return n


def start_dest(hearth, tmp, name, env=None, extra=None):
    d = Proc([hearth, 'run', '--incoming', 'tcp:127.0.0.1:0'] + (extra or []), tmp, name, env)
    m = d.wait_for(r'listening on 127\.0\.0\.1:(\d+)', 'listening', timeout=20)
    if not m:
        d.kill()
        raise RuntimeError('%s: no listening line: %s' % (name, d.text()))
    return d, int(m.group(1))


def start_source(hearth, guest, tmp, name, disk, pace, mem='128', env=None, extra=None):
    sock = os.path.join(tmp, name + '.sock')
    s = Proc([hearth, 'run', '--kernel', guest, '--memory', mem, '--cpus', '1',
              '--cmdline', str(pace), '--disk', 'path=' + disk, '--api-sock', sock] +
             (extra or []), tmp, name, env)
    wait_socket(sock, s.p)
    word = 'tick' if pace == 0 else 'sweep'
    if not s.wait_for(word + r' [0-9a-f]{16}', 'counting', source='out'):
        raise RuntimeError('%s: the guest does not count (hearth %s): serial %r, stderr %r' %
                           (name, 'exited with %s' % s.p.returncode if s.p.poll() is not None
                            else 'still runs', s.out()[-300:], s.text()[-600:]))
    s.sock = sock
    s.word = word
    return s


def migrate(src, port, **kw):
    body = {'destination': 'tcp:127.0.0.1:%d' % port}
    body.update(kw)
    return request(src.sock, 'PUT', '/migrate', json.dumps(body))


def status(src):
    st, body = request(src.sock, 'GET', '/migrate')
    return json.loads(body) if st == 200 else {}


def wait_state(src, states, timeout=DEADLINE, watch=None):
    end = time.time() + timeout
    last = {}
    while time.time() < end:
        try:
            last = status(src)
        except OSError:
            return last
        if watch:
            watch(last)
        if last.get('state') in states:
            return last
        time.sleep(0.01)
    return last


def counts_on(proc, word, what):
    """The guest in proc goes on counting: its count grows."""
    a = proc.count(word)
    end = time.time() + 20
    while time.time() < end and proc.count(word) <= a:
        time.sleep(0.02)
    check(proc.count(word) > a, what)


class Proxy:
    """A TCP forwarder between the source and the destination that records
    what the source sends and can cut the connection after some bytes."""

    def __init__(self, port, cut_after=None):
        self.dport = port
        self.cut_after = cut_after
        self.record = bytearray()
        self.ls = socket.socket()
        self.ls.bind(('127.0.0.1', 0))
        self.ls.listen(1)
        self.port = self.ls.getsockname()[1]
        self.cut = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        a, _ = self.ls.accept()
        b = socket.create_connection(('127.0.0.1', self.dport))
        socks = [a, b]
        try:
            while True:
                r, _, _ = select.select(socks, [], [], 30)
                if not r:
                    break
                for s in r:
                    data = s.recv(1 << 20)
                    if not data:
                        raise EOFError
                    if s is a:
                        self.record += data
                        b.sendall(data)
                    else:
                        a.sendall(data)
                    if self.cut_after is not None and len(self.record) >= self.cut_after:
                        self.cut = True
                        raise EOFError
        except (EOFError, OSError):
            pass
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.ls.close()


def hashes(src, dst):
    a = re.search(r'source RAM sha256 ([0-9a-f]{64})', src.text())
    b = re.search(r'received RAM sha256 ([0-9a-f]{64})', dst.text())
    return a and a.group(1), b and b.group(1)


def good_migration(hearth, guest, tmp, disk, pace, mem, what, corpus=None, src_args=None, **kw):
    dst, port = start_dest(hearth, tmp, what + '-dst')
    src = start_source(hearth, guest, tmp, what + '-src', disk, pace, mem, extra=src_args)
    proxy = Proxy(port)
    try:
        before = src.count(src.word)
        check(migrate(src, proxy.port, **kw)[0] == 204, what + ': PUT /migrate answers 204')
        locks = []
        st = wait_state(src, ('completed', 'failed', 'cancelled'),
                        watch=lambda s: locks.append(write_locks(disk)))
        check(st.get('state') == 'completed', what + ': GET /migrate says completed (%s)' % st)
        check(max(locks or [0]) <= 1, what + ': the disk was never locked by two processes')
        check('downtime_ms' in st and st.get('total_time_ms', 0) > 0,
              what + ': downtime %s ms, total %s ms' % (st.get('downtime_ms'),
                                                       st.get('total_time_ms')))
        check(src.p.wait(timeout=20) == 0, what + ': the source exits 0 after the commit')
        m = re.search(r'downtime [\d.]+ ms: .*destination ready [\d.]+ ms \(disks synced '
                      r'meanwhile in [\d.]+ ms\), disks flushed [\d.]+ ms', src.text())
        check(m, what + ': the source says where the downtime went, its disks synced while '
              'the destination loaded (%s)' % (m and m.group(0)))
        check(re.search(r'received VM \S+ \(\d+ bytes in \d+ ms, downtime \d+ ms\)', dst.text()),
              what + ': the destination reports the arrival')
        a, b = hashes(src, dst)
        check(a and a == b, what + ': guest RAM checksums match (%s, %s)' % (a, b))
        dst.wait_for(src.word + r' [0-9a-f]{16}', 'counting', source='out')
        first = re.findall(src.word + r' ([0-9a-f]{16})', dst.out())
        check(first and int(first[0], 16) >= before,
              what + ': the destination goes on from the source\'s count (%d -> %s)'
              % (before, first[:1]))
        counts_on(dst, src.word, what + ': the guest keeps counting on the destination')
        check(write_locks(disk) == 1, what + ': the destination holds the disk lock')
        if corpus:
            with open(os.path.join(corpus, 'stream'), 'wb') as f:
                f.write(proxy.record)
        return bytes(proxy.record), st
    finally:
        src.kill()
        dst.kill()


def fault_case(hearth, guest, tmp, disk, what, dst_env=None, src_env=None, pace=20000,
               dst_extra=None, cut_after=None, action=None, expect='failed', **kw):
    dst, port = start_dest(hearth, tmp, what + '-dst', dst_env, dst_extra)
    src = start_source(hearth, guest, tmp, what + '-src', disk, pace, env=src_env)
    proxy = Proxy(port, cut_after)
    try:
        check(migrate(src, proxy.port, **kw)[0] == 204, what + ': PUT /migrate answers 204')
        if action:
            action(src, dst)
        locks = []
        st = wait_state(src, ('completed', 'failed', 'cancelled'),
                        watch=lambda s: locks.append(write_locks(disk)))
        check(st.get('state') == expect and st.get('error'),
              what + ': GET /migrate says %s: %s' % (st.get('state'), st.get('error')))
        check(max(locks or [0]) <= 1 and write_locks(disk) == 1,
              what + ': the disk stays locked by the source alone')
        check(src.p.poll() is None, what + ': the source keeps running')
        counts_on(src, src.word, what + ': the source\'s guest keeps counting')
        rc = dst.p.wait(timeout=30)
        check(rc != 0, what + ': the destination exits non-zero (%s)' % rc)
        return st, dst
    finally:
        src.kill()
        dst.kill()


def bad_stream(hearth, tmp, data, what):
    """Feed data to a fresh destination: it refuses without crashing."""
    dst, port = start_dest(hearth, tmp, 'bad')
    try:
        c = socket.create_connection(('127.0.0.1', port))
        try:
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            while c.recv(65536):
                pass
        except OSError:
            pass
        c.close()
        rc = dst.p.wait(timeout=30)
        line = [l for l in dst.text().splitlines() if 'migration failed' in l]
        check(rc == 1 and len(line) == 1, what + ': refused with exit 1 and one line (%s, %s)'
              % (rc, line[:1]))
        return dst.text()
    finally:
        dst.kill()


def kvm_usable():
    """Whether /dev/kvm opens; says SKIP otherwise."""
    try:
        os.close(os.open('/dev/kvm', os.O_RDWR))
        return True
    except OSError:
        print('SKIP: /dev/kvm cannot be opened')
        return False


def scratch_disk(tmp):
    """An 8 MiB image in tmp (the guests do not read it: its lock is watched)."""
    disk = os.path.join(tmp, 'disk.img')
    with open(disk, 'wb') as f:
        f.truncate(8 << 20)
    return disk


def summary():
    """Print the outcome; the exit status."""
    if failures:
        print('%d failure(s)' % len(failures))
        return 1
    print('all passed')
    return 0


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    hearth, guest = sys.argv[1], sys.argv[2]
    corpus = sys.argv[3] if len(sys.argv) > 3 else None
    if not kvm_usable():
        return 77
    with tempfile.TemporaryDirectory(prefix='hearth-mig-') as tmp:
        disk = scratch_disk(tmp)

        # The dirty ring where the host has it: ~800 MB/s of pages fill a
        # vCPU's 4096 entries in milliseconds, so the vCPU harvests its own.
        stream, _ = good_migration(hearth, guest, tmp, disk, 20000, '128', 'dirtying',
                                   corpus=corpus, src_args=['-v'], max_downtime_ms=50)
        text = open(os.path.join(tmp, 'dirtying-src.err')).read()
        if "KVM's dirty ring" in text:
            check('its dirty ring filled up' in text,
                  'dirtying: the dirty ring filled up and the vCPU harvested it')
        else:
            check('no dirty ring' in text, 'dirtying: the source says why it has no ring')
        good_migration(hearth, guest, tmp, disk, 20000, '128', 'dirtying, bitmap',
                       src_args=['--dirty-log', 'bitmap', '-v'], max_downtime_ms=50)
        check("KVM's dirty bitmap (--dirty-log bitmap)" in
              open(os.path.join(tmp, 'dirtying, bitmap-src.err')).read(),
              'dirtying, bitmap: the source uses the bitmap')
        good_migration(hearth, guest, tmp, disk, 0, '256', 'idle 256 MiB', max_downtime_ms=5)

        # A guest too fast for the link: throttled, then it converges.
        seen = []
        dst, port = start_dest(hearth, tmp, 'throttle-dst')
        # 1 MiB dirtied over and over, a link of 1 MB/s.
        src = start_source(hearth, guest, tmp, 'throttle-src', disk, '1 256')
        try:
            migrate(src, port, max_downtime_ms=20, max_bandwidth_mbps=8)
            st = wait_state(src, ('completed', 'failed'), timeout=120,
                            watch=lambda s: seen.append(s.get('throttle_percent', 0)))
            check(max(seen or [0]) > 0, 'throttle: throttle_percent rose (%s)' % max(seen or [0]))
            check('throttled' in src.text(), 'throttle: the source says so')
            check(st.get('state') == 'completed', 'throttle: it migrates (%s)' % st.get('state'))
        finally:
            src.kill()
            dst.kill()

        fault_case(hearth, guest, tmp, disk, 'killed in the first pass',
                   dst_env={'HEARTH_TEST_MIGRATION_KILL_AT_PASS': '0'})
        fault_case(hearth, guest, tmp, disk, 'killed while iterating',
                   dst_env={'HEARTH_TEST_MIGRATION_KILL_AT_PASS': '2'},
                   src_env={'HEARTH_TEST_MIGRATION_SLOW': '1'}, max_downtime_ms=1)

        def kill_after_ready(src, dst):
            dst.wait_for(r'ready, waiting for the commit', 'ready')
            check(write_locks(disk) == 1, 'after ready: only the source holds the disk')
            dst.p.kill()
        fault_case(hearth, guest, tmp, disk, 'killed after ready',
                   src_env={'HEARTH_TEST_MIGRATION_HOLD_READY': '1'}, action=kill_after_ready)
        fault_case(hearth, guest, tmp, disk, 'connection cut', cut_after=20 << 20,
                   max_bandwidth_mbps=800)

        def cancel(src, dst):
            wait_state(src, ('precopy',))
            st, body = request(src.sock, 'PUT', '/migrate/cancel', '')
            check(st == 204, 'cancel: PUT /migrate/cancel answers 204 (%s %s)' % (st, body))
        fault_case(hearth, guest, tmp, disk, 'cancelled', action=cancel, expect='cancelled',
                   max_bandwidth_mbps=40)
        st, dst = fault_case(hearth, guest, tmp, disk, 'refused',
                             dst_extra=['--disk', 'path=%s,id=nosuch' % disk])
        check('refused' in st.get('error', '') and 'no such disk' in st.get('error', ''),
              'refused: the source reports the destination\'s reason')

        # Streams the destination must refuse.
        hello = struct.pack('<IIQ8sII', 1, 0, 16, b'HRTHMIG1', 99, 0)
        text = bad_stream(hearth, tmp, hello, 'version 99')
        check('version 99 is not supported' in text, 'version 99: the reason names the version')
        rnd = random.Random(5)
        for i in range(6):
            cut = rnd.randrange(1, len(stream))
            bad_stream(hearth, tmp, stream[:cut], 'truncated at %d' % cut)
        for i in range(6):
            b = bytearray(stream[:min(len(stream), 4 << 20)])
            # Flip bytes in the first records' headers and payloads.
            for _ in range(4):
                b[rnd.randrange(0, min(len(b), 200000))] ^= 1 << rnd.randrange(8)
            bad_stream(hearth, tmp, bytes(b), 'corrupted stream %d' % i)
    return summary()


if __name__ == '__main__':
    sys.exit(main())
