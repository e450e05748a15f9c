#!/usr/bin/env python3
"""Live migration on the local /dev/kvm: the final stop, paused VMs, overrides.

Cases (each a pair of hearth processes over loopback, see migration.py):
  - the destination reads the untrusted stream on a thread under the
    migration seccomp filter (its "migration-in" thread, seen while it
    waits for the commit), and its vCPU thread exists by then, filtered and
    parked (the commit only resumes it), with no guest code run;
  - the final stop holds the devices: with HEARTH_TEST_MIGRATION_INPUT the
    source's event loop gets input (a device-like source) right after the
    vCPUs stop for the last pass. A completed migration never serves it on
    the source (the guest is the destination's); a migration that fails
    after "ready" serves it once the guest resumes, not before (the line
    names the migration's state when it was served: "failed"), and
    PATCH /vm (resume or pause) is refused meanwhile;
  - a VM the user paused before the migration arrives paused (GET / on the
    destination's API says "Paused") and runs once resumed there;
  - per-host disk overrides: `hearth run --incoming` with --disk by id= and
    by position, and an API-started destination with PUT /migrate/incoming
    "drives": a guest reading its disk in a loop (blk_poll's bench mode)
    goes on reading after arrival, from the override image (the
    destination holds it open and locked, and never opens the source's);
  - bad overrides: a missing image is refused before listening (--disk:
    exit 2 with one line; PUT /migrate/incoming: 400), and an unknown
    drive_id makes the destination refuse the VM before any memory is sent
    while the source keeps running.

Usage: migration_more.py HEARTH DIRTY_BZIMAGE BLK_POLL_BZIMAGE. Exit 77 (skip)
without /dev/kvm.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from migration import (Proc, check, counts_on, kvm_usable, migrate, request,  # noqa: E402
                       scratch_disk, start_dest, start_source, summary, wait_socket, wait_state,
                       write_locks)


def final_stop_holds_devices(hearth, guest, tmp, disk):
    env = {'HEARTH_TEST_MIGRATION_INPUT': '1'}
    # Completed: the input queued after the pause is never served here.
    dst, port = start_dest(hearth, tmp, 'hold-ok-dst')
    src = start_source(hearth, guest, tmp, 'hold-ok-src', disk, 20000, env=env)
    try:
        check(migrate(src, port, max_downtime_ms=50)[0] == 204, 'hold: PUT /migrate answers 204')
        st = wait_state(src, ('completed', 'failed', 'cancelled'))
        check(st.get('state') == 'completed', 'hold: completed (%s)' % st)
        check(src.p.wait(timeout=20) == 0, 'hold: the source exits 0')
        text = src.text()
        check('test input queued after the pause' in text,
              'hold: input arrived after the final pause')
        check('test input delivered' not in text,
              'hold: a committed source never served it')
        counts_on(dst, src.word, 'hold: the guest counts on at the destination')
    finally:
        src.kill()
        dst.kill()

    # Failed after "ready": the input is served once the guest resumes, not before.
    dst, port = start_dest(hearth, tmp, 'hold-fail-dst')
    env = dict(env, HEARTH_TEST_MIGRATION_HOLD_READY='1')
    src = start_source(hearth, guest, tmp, 'hold-fail-src', disk, 20000, env=env)
    try:
        check(migrate(src, port)[0] == 204, 'hold/fail: PUT /migrate answers 204')
        check(dst.wait_for(r'ready, waiting for the commit', 'ready') is not None,
              'hold/fail: the destination is ready')
        check(src.wait_for(r'test input queued after the pause', 'queued') is not None,
              'hold/fail: input arrived after the final pause')
        # The destination waits for the commit on its filtered receiving thread.
        modes = thread_seccomp(dst.p.pid)
        check(modes.get('migration-in') == '2',
              'the destination reads the stream under a seccomp filter (%s)' % modes)
        # Its vCPU thread exists already, filtered and parked: the commit only resumes it.
        check(modes.get('vcpu0') == '2',
              'the destination\'s vCPU thread waits, filtered, before the commit (%s)' % modes)
        check(dst.count(src.word) == -1, 'hold/fail: no guest code ran on the destination')
        check('test input delivered' not in src.text(),
              'hold/fail: not served while the destination holds the VM')
        for state in ('Resumed', 'Paused'):
            st, body = request(src.sock, 'PATCH', '/vm', json.dumps({'state': state}))
            check(st == 400 and b'last phase' in body,
                  'hold/fail: PATCH /vm %s refused meanwhile (%s %s)' % (state, st, body))
        dst.p.kill()
        st = wait_state(src, ('completed', 'failed', 'cancelled'))
        check(st.get('state') == 'failed', 'hold/fail: failed (%s)' % st.get('state'))
        m = src.wait_for(r'test input delivered \(migration (\w+)\)', 'delivered')
        check(m is not None and m.group(1) == 'failed',
              'hold/fail: served after the failure (%s)' % (m and m.group(1)))
        check(src.text().count('test input delivered') == 1, 'hold/fail: served once')
        counts_on(src, src.word, 'hold/fail: the source\'s guest counts on')
    finally:
        src.kill()
        dst.kill()


def thread_seccomp(pid):
    """{thread name: Seccomp mode from its status} of process pid."""
    out = {}
    for t in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/comm' % (pid, t)) as f:
                name = f.read().strip()
            with open('/proc/%d/task/%s/status' % (pid, t)) as f:
                mode = [l.split()[1] for l in f if l.startswith('Seccomp:')]
            out[name] = mode[0] if mode else '?'
        except OSError:
            pass
    return out


def paused_arrives_paused(hearth, guest, tmp, disk):
    sock = os.path.join(tmp, 'paused-dst.sock')
    dst, port = start_dest(hearth, tmp, 'paused-dst', extra=['--api-sock', sock])
    src = start_source(hearth, guest, tmp, 'paused-src', disk, 0)
    try:
        st, body = request(src.sock, 'PATCH', '/vm', json.dumps({'state': 'Paused'}))
        check(st == 204, 'paused: PATCH /vm Paused answers 204 (%s %s)' % (st, body))
        count = src.count(src.word)
        check(migrate(src, port)[0] == 204, 'paused: PUT /migrate answers 204')
        st = wait_state(src, ('completed', 'failed', 'cancelled'))
        check(st.get('state') == 'completed', 'paused: completed (%s)' % st)
        check(dst.wait_for(r'paused on the source: it stays paused', 'paused') is not None,
              'paused: the destination says it stays paused')
        check(wait_socket(sock, dst.p), 'paused: the destination\'s API answers')
        st, body = request(sock, 'GET', '/')
        state = json.loads(body).get('state') if st == 200 else body
        check(state == 'Paused', 'paused: GET / on the destination says Paused (%s)' % state)
        check(dst.count(src.word) <= count, 'paused: the guest did not run on arrival')
        st, body = request(sock, 'PATCH', '/vm', json.dumps({'state': 'Resumed'}))
        check(st == 204, 'paused: PATCH /vm Resumed on the destination answers 204')
        counts_on(dst, src.word, 'paused: once resumed the guest counts on')
    finally:
        src.kill()
        dst.kill()


def bench_image(path, reads):
    with open(path, 'wb') as f:
        f.write(b'BLKBENCH' + struct.pack('<Q', reads))
        f.truncate(8 << 20)


def open_paths(pid):
    d = '/proc/%d/fd' % pid
    out = set()
    for n in os.listdir(d):
        try:
            out.add(os.readlink(os.path.join(d, n)))
        except OSError:
            pass
    return out


def start_reader(hearth, blk, tmp, name, disk):
    """A source whose guest reads its disk (id data) in a loop."""
    sock = os.path.join(tmp, name + '.sock')
    s = Proc([hearth, 'run', '--kernel', blk, '--memory', '64', '--cpus', '1',
              '--transport', 'mmio', '--disk', 'path=%s,id=data' % disk, '--api-sock', sock],
             tmp, name)
    wait_socket(sock, s.p)
    if not s.wait_for(r'BENCH-START', 'reading', source='out'):
        raise RuntimeError('%s: the guest does not read: %s' % (name, s.out()[-300:]))
    s.sock = sock
    return s


def override_case(hearth, blk, tmp, what, dst_args=None, api_drives=None):
    a = os.path.join(tmp, what.replace(' ', '_') + '-a.img')
    b = os.path.join(tmp, what.replace(' ', '_') + '-b.img')
    bench_image(a, 40000)
    shutil.copyfile(a, b)
    if api_drives is None:
        dst, port = start_dest(hearth, tmp, what + '-dst',
                               extra=[x.replace('B', b) for x in dst_args])
    else:
        sock = os.path.join(tmp, 'ovr-api.sock')
        dst = Proc([hearth, 'run', '--api-sock', sock], tmp, what + '-dst')
        wait_socket(sock, dst.p)
        body = {'listen': 'tcp:127.0.0.1:0',
                'drives': [dict(d, path_on_host=d['path_on_host'].replace('B', b))
                           for d in api_drives]}
        st, resp = request(sock, 'PUT', '/migrate/incoming', json.dumps(body))
        check(st == 204, what + ': PUT /migrate/incoming answers 204 (%s %s)' % (st, resp))
        m = dst.wait_for(r'listening on 127\.0\.0\.1:(\d+)', 'listening')
        port = int(m.group(1))
    src = start_reader(hearth, blk, tmp, what + '-src', a)
    try:
        check(write_locks(a) == 1 and write_locks(b) == 0, what + ': the source locks its image')
        check(migrate(src, port)[0] == 204, what + ': PUT /migrate answers 204')
        st = wait_state(src, ('completed', 'failed', 'cancelled'))
        check(st.get('state') == 'completed', what + ': completed (%s)' % st)
        # The guest still reads (tens of thousands of reads take seconds).
        paths = open_paths(dst.p.pid) if dst.p.poll() is None else set()
        check(b in paths and a not in paths,
              what + ': the destination has the override image open, not the source\'s')
        src.p.wait(timeout=20)
        check(write_locks(b) == 1 and write_locks(a) == 0,
              what + ': the override image is locked, the source\'s is not')
        check(dst.wait_for(r'BENCH-END\s+BLK-OK', 'reads', source='out') is not None,
              what + ': the guest\'s reads go on and succeed at the destination')
        check(dst.p.wait(timeout=30) == 0, what + ': the guest ends there (exit 0)')
    finally:
        src.kill()
        dst.kill()


def bad_overrides(hearth, guest, blk, tmp, disk):
    # --disk naming a missing image: refused before listening.
    p = subprocess.run([hearth, 'run', '--incoming', 'tcp:127.0.0.1:0', '--disk',
                        'path=' + os.path.join(tmp, 'missing.img')],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    lines = p.stderr.strip().splitlines()
    check(p.returncode == 2 and len(lines) == 1 and 'missing.img' in lines[0] and
          'listening' not in p.stderr,
          'bad --disk: exit 2 with one line before listening (%s, %s)' % (p.returncode, lines))

    # PUT /migrate/incoming naming a missing image: 400, and nothing listens.
    sock = os.path.join(tmp, 'bad-api.sock')
    dst = Proc([hearth, 'run', '--api-sock', sock], tmp, 'bad-api-dst')
    try:
        wait_socket(sock, dst.p)
        body = {'listen': 'tcp:127.0.0.1:0',
                'drives': [{'drive_id': 'data', 'path_on_host': tmp + '/missing.img'}]}
        st, resp = request(sock, 'PUT', '/migrate/incoming', json.dumps(body))
        msg = json.loads(resp).get('fault_message', '') if resp else ''
        check(st == 400 and 'missing.img' in msg,
              'bad drives: PUT /migrate/incoming answers 400 (%s %s)' % (st, msg))
        check('listening' not in dst.text(), 'bad drives: the destination does not listen')

        # An unknown drive_id: the VM is refused before any memory moves.
        body['drives'][0] = {'drive_id': 'nosuch', 'path_on_host': disk}
        st, resp = request(sock, 'PUT', '/migrate/incoming', json.dumps(body))
        check(st == 204, 'unknown drive_id: PUT /migrate/incoming answers 204 (%s)' % resp)
        m = dst.wait_for(r'listening on 127\.0\.0\.1:(\d+)', 'listening')
        src = start_source(hearth, guest, tmp, 'bad-api-src', disk, 20000)
        try:
            check(migrate(src, int(m.group(1)))[0] == 204, 'unknown drive_id: PUT /migrate')
            st = wait_state(src, ('completed', 'failed', 'cancelled'))
            check(st.get('state') == 'failed' and 'no such disk' in st.get('error', '') and
                  st.get('pass', 0) == 0 and st.get('bytes_sent', 1) < 1 << 20,
                  'unknown drive_id: refused before any memory is sent (%s)' % st)
            check(src.p.poll() is None, 'unknown drive_id: the source keeps running')
            counts_on(src, src.word, 'unknown drive_id: the source\'s guest counts on')
        finally:
            src.kill()
    finally:
        dst.kill()


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    hearth, guest, blk = sys.argv[1:4]
    if not kvm_usable():
        return 77
    with tempfile.TemporaryDirectory(prefix='hearth-mig2-') as tmp:
        disk = scratch_disk(tmp)
        final_stop_holds_devices(hearth, guest, tmp, disk)
        paused_arrives_paused(hearth, guest, tmp, disk)
        override_case(hearth, blk, tmp, 'override by id', dst_args=['--disk', 'path=B,id=data'])
        override_case(hearth, blk, tmp, 'override by position', dst_args=['--disk', 'path=B'])
        override_case(hearth, blk, tmp, 'override by API',
                      api_drives=[{'drive_id': 'data', 'path_on_host': 'B'}])
        bad_overrides(hearth, guest, blk, tmp, disk)
    return summary()


if __name__ == '__main__':
    sys.exit(main())
