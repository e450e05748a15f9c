#!/usr/bin/env python3
"""Live migration over TLS 1.3 (--tls-psk, --tls-cert/--tls-key/--tls-ca) between two
hearth processes over loopback, on the local /dev/kvm (helpers from migration.py).

Cases:
  - a plain migration through the recording proxy: the stream carries the
    HELLO magic and the guest's own bytes (the control for what follows);
  - PSK: the migration completes, guest RAM checksums match, the guest
    counts on at the destination, and the recorded stream holds neither
    the HELLO magic nor the guest's bytes;
  - a wrong key: it fails before the commit, GET /migrate says "failed"
    with a reason naming TLS, the source's guest counts on, the
    destination exits 1 with one line naming TLS;
  - a TLS source against a plain destination, a plain source against a
    TLS destination: both fail cleanly with one line on each side;
  - certificates (a CA and two certificates made with openssl): the
    migration completes; a source certificate from another CA is refused
    by the destination (GnuTLS's client does not even send it; openssl's
    s_client, which does, is refused by the certificate check), and a
    destination certificate from another CA by the source.

Usage: migration_tls.py HEARTH DIRTY_BZIMAGE. Exit 77 (skip) without /dev/kvm.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from migration import (Proc, Proxy, check, counts_on, fault_case, hashes,  # noqa: E402
                       kvm_usable, migrate, scratch_disk, start_dest, start_source, summary,
                       wait_state)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'api'))
from api_client import request, wait_socket  # noqa: E402

# What guest RAM holds (the guest's messages) and the stream's greeting.
GUEST_BYTES = (b'tick \x00', b'sweep \x00')
MAGIC = b'HRTHMIG1'


def fresh_disk(tmp, what):
    """An image of its own for each case: a killed hearth's lock may outlive it briefly."""
    d = os.path.join(tmp, re.sub(r'[^A-Za-z0-9]+', '_', what))
    os.mkdir(d)
    return scratch_disk(d)


def write_secret(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(text)


def psk_file(tmp, name, key_hex, identity='hearth'):
    path = os.path.join(tmp, name)
    write_secret(path, '%s:%s\n' % (identity, key_hex))
    return path


def openssl(*args):
    subprocess.run(['openssl'] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_ca(tmp, name):
    key, crt = os.path.join(tmp, name + '.key'), os.path.join(tmp, name + '.crt')
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
            '-keyout', key, '-out', crt, '-days', '2', '-subj', '/CN=' + name,
            '-addext', 'basicConstraints=critical,CA:TRUE',
            '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    return key, crt


def make_cert(tmp, name, ca):
    key, csr = os.path.join(tmp, name + '.key'), os.path.join(tmp, name + '.csr')
    crt, ext = os.path.join(tmp, name + '.crt'), os.path.join(tmp, name + '.ext')
    with open(ext, 'w') as f:
        f.write('basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n'
                'extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1\n')
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
            '-keyout', key, '-out', csr, '-subj', '/CN=' + name)
    openssl('x509', '-req', '-in', csr, '-CA', ca[1], '-CAkey', ca[0], '-CAcreateserial',
            '-out', crt, '-days', '2', '-extfile', ext)
    os.chmod(key, 0o600)
    return crt, key


def tls_args(psk=None, cert=None, ca=None):
    """The destination's options and the source's PUT /migrate fields."""
    if psk:
        return ['--tls-psk', psk], {'tls_psk_file': psk}
    return (['--tls-cert', cert[0], '--tls-key', cert[1], '--tls-ca', ca],
            {'tls_cert_file': cert[0], 'tls_key_file': cert[1], 'tls_ca_file': ca})


def api_dest(hearth, tmp, what, psk, world):
    """A destination told to wait by PUT /migrate/incoming with tls_psk_file."""
    sock = os.path.join(tmp, what + '.sock')
    dst = Proc([hearth, 'run', '--api-sock', sock], tmp, what)
    wait_socket(sock, dst.p)
    body = {'listen': 'tcp:127.0.0.1:0', 'tls_psk_file': world}
    st, resp = request(sock, 'PUT', '/migrate/incoming', json.dumps(body))
    check(st == 400 and b'others may read' in resp and 'listening' not in dst.text(),
          what + ': a world-readable key: 400 before listening (%s %s)' % (st, resp))
    body['tls_psk_file'] = psk
    st, resp = request(sock, 'PUT', '/migrate/incoming', json.dumps(body))
    check(st == 204, what + ': PUT /migrate/incoming with the key answers 204 (%s)' % resp)
    m = dst.wait_for(r'listening on 127\.0\.0\.1:(\d+)', 'listening')
    if not m:
        dst.kill()
        raise RuntimeError('%s: no listening line: %s' % (what, dst.text()))
    return dst, int(m.group(1))


def recorded_migration(hearth, guest, tmp, what, dst_extra, body, dest=None):
    """A dirtying guest migrates through the recording proxy; the stream it sent."""
    dst, port = dest if dest else start_dest(hearth, tmp, what + '-dst', extra=dst_extra)
    src = start_source(hearth, guest, tmp, what + '-src', fresh_disk(tmp, what), 20000)
    proxy = Proxy(port)
    try:
        before = src.count(src.word)
        st, ans = migrate(src, proxy.port, max_downtime_ms=50, **body)
        check(st == 204, what + ': PUT /migrate answers 204 (%s %s)' % (st, ans))
        st = wait_state(src, ('completed', 'failed', 'cancelled'))
        check(st.get('state') == 'completed', what + ': GET /migrate says completed (%s)' % st)
        check(src.p.wait(timeout=20) == 0, what + ': the source exits 0 after the commit')
        a, b = hashes(src, dst)
        check(a and a == b, what + ': guest RAM checksums match (%s, %s)' % (a, b))
        dst.wait_for(src.word + r' [0-9a-f]{16}', 'counting', source='out')
        first = re.findall(src.word + r' ([0-9a-f]{16})', dst.out())
        check(first and int(first[0], 16) >= before,
              what + ': the destination goes on from the source\'s count')
        counts_on(dst, src.word, what + ': the guest keeps counting on the destination')
        proxy.t.join(timeout=10)
        return bytes(proxy.record)
    finally:
        src.kill()
        dst.kill()


def failed_line(dst):
    return [l for l in dst.text().splitlines() if 'migration failed' in l]


def refused_case(hearth, guest, tmp, what, dst_extra, body, src_has, dst_has):
    st, dst = fault_case(hearth, guest, tmp, fresh_disk(tmp, what), what, dst_extra=dst_extra,
                         **body)
    err = st.get('error', '')
    check(re.search(src_has, err), what + ': the source\'s reason says %r (%s)' % (src_has, err))
    line = failed_line(dst)
    check(len(line) == 1 and re.search(dst_has, line[0]),
          what + ': the destination says %r in one line (%s)' % (dst_has, line))
    check(st.get('state') == 'failed' and 'stop_copy' not in err,
          what + ': it failed before any memory moved')


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    hearth, guest = sys.argv[1], sys.argv[2]
    if not kvm_usable():
        return 77
    with tempfile.TemporaryDirectory(prefix='hearth-mig-tls-') as tmp:
        key = os.urandom(32).hex()
        psk = psk_file(tmp, 'good.psk', key)
        other = psk_file(tmp, 'other.psk', os.urandom(32).hex())

        # The control: a plain stream shows what TLS must hide.
        plain = recorded_migration(hearth, guest, tmp, 'plain', [], {})
        check(MAGIC in plain and all(p in plain for p in GUEST_BYTES),
              'plain: the recorded stream holds the greeting and the guest\'s bytes')

        dst_extra, body = tls_args(psk=psk)
        rec = recorded_migration(hearth, guest, tmp, 'psk', dst_extra, body)
        check(len(rec) > (1 << 20), 'psk: the stream carried the memory (%d bytes)' % len(rec))
        check(MAGIC not in rec, 'psk: no plaintext greeting on the wire')
        check(not any(p in rec for p in GUEST_BYTES), 'psk: no guest bytes on the wire')
        check(rec[:1] == b'\x16', 'psk: the stream starts with a TLS handshake record')

        world = psk_file(tmp, 'world.psk', key)
        os.chmod(world, 0o644)
        rec = recorded_migration(hearth, guest, tmp, 'psk (API destination)', None, body,
                                 dest=api_dest(hearth, tmp, 'api-dst', psk, world))
        check(MAGIC not in rec and not any(p in rec for p in GUEST_BYTES),
              'psk (API destination): nothing in the clear on the wire')

        refused_case(hearth, guest, tmp, 'wrong key', ['--tls-psk', other],
                     {'tls_psk_file': psk}, r'TLS', r'TLS')
        refused_case(hearth, guest, tmp, 'TLS source, plain destination', [],
                     {'tls_psk_file': psk}, r'TLS handshake', r'the source uses TLS')
        refused_case(hearth, guest, tmp, 'plain source, TLS destination',
                     ['--tls-psk', psk], {}, r'requires TLS', r'does not use TLS')

        ca = make_ca(tmp, 'ca')
        rogue = make_ca(tmp, 'rogue')
        dcert, scert = make_cert(tmp, 'dest', ca), make_cert(tmp, 'source', ca)
        rcert = make_cert(tmp, 'intruder', rogue)
        dst_extra, _ = tls_args(cert=dcert, ca=ca[1])
        _, body = tls_args(cert=scert, ca=ca[1])
        rec = recorded_migration(hearth, guest, tmp, 'certificates', dst_extra, body)
        check(MAGIC not in rec and not any(p in rec for p in GUEST_BYTES),
              'certificates: nothing in the clear on the wire')
        _, body = tls_args(cert=rcert, ca=ca[1])
        refused_case(hearth, guest, tmp, 'source certificate of another CA', dst_extra,
                     body, r'TLS.*refused us \(alert', r'no certificate signed by our CA')
        # A client that sends its certificate whatever CAs the destination names.
        dst, port = start_dest(hearth, tmp, 'intruder-dst', extra=dst_extra)
        try:
            subprocess.run(['openssl', 's_client', '-connect', '127.0.0.1:%d' % port,
                            '-tls1_3', '-cert', rcert[0], '-key', rcert[1], '-CAfile', ca[1]],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)
            rc = dst.p.wait(timeout=30)
            line = failed_line(dst)
            check(rc == 1 and len(line) == 1 and 'certificate is refused' in line[0] and
                  'issuer is unknown' in line[0],
                  'a client certificate of another CA, sent anyway: refused (%s, %s)'
                  % (rc, line))
        finally:
            dst.kill()
        dst_extra, _ = tls_args(cert=rcert, ca=rogue[1])
        _, body = tls_args(cert=scert, ca=ca[1])
        refused_case(hearth, guest, tmp, 'destination certificate of another CA',
                     dst_extra, body, r'certificate is refused', r'TLS handshake')

        # A bad file is refused by PUT /migrate (400) before anything connects.
        src = start_source(hearth, guest, tmp, 'badfile-src', fresh_disk(tmp, 'badfile'), 0)
        try:
            st, ans = migrate(src, 1, tls_psk_file=world)
            check(st == 400 and b'others may read' in ans,
                  'PUT /migrate: a world-readable key is a 400 (%s %s)' % (st, ans))
            st, ans = migrate(src, 1, tls_psk_file=os.path.join(tmp, 'missing'))
            check(st == 400 and b'No such file' in ans,
                  'PUT /migrate: a missing key file is a 400 (%s %s)' % (st, ans))
            check(wait_state(src, ('none',), timeout=2).get('state') == 'none',
                  'PUT /migrate: no migration started')
        finally:
            src.kill()
    return summary()


if __name__ == '__main__':
    sys.exit(main())
