#!/usr/bin/env python3
"""Write src/sandbox/allowlist.txt from the table in src/sandbox/seccomp.c.

Run it after changing the table; tests/unit/test_seccomp.c fails while the
file and the compiled filters disagree.
Usage: scripts/seccomp-allowlist.py [REPO_ROOT]
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..')
src = open(os.path.join(root, 'src/sandbox/seccomp.c')).read()

ORDER = ['vcpu', 'vmm', 'api', 'block-io', 'migration']
KINDS = {'K_VCPU': ['vcpu'], 'K_VMM': ['vmm'], 'K_API': ['api'], 'K_BLOCK': ['block-io'], 'K_MIG': ['migration'],
         'K_DEV': ['vcpu', 'vmm'], 'K_ALL': ORDER}
ARGS = {'ARG_ANY': '', 'ARG_NO_EXEC': 'never PROT_EXEC',
        'ARG_TGKILL': "only to hearth's own threads (its process id)",
        'ARG_FSTAT': 'only on a descriptor (AT_EMPTY_PATH): fstat()',
        'ARG_LISTEN': "only on the API's listening socket",
        'ARG_TCP': 'only AF_INET or AF_INET6, SOCK_STREAM'}
IOCTLS = {'vcpu': 'vcpu_ioctls', 'vmm': 'vmm_ioctls', 'migration': 'migration_ioctls'}


def kinds_of(expr):
    """The kinds a mask expression such as 'K_ALL & ~K_BLOCK' or 'K_DEV | K_API' names."""
    out = set()
    for term in expr.split('|'):
        parts = [p.strip() for p in term.split('&')]
        ks = set(KINDS[parts[0]])
        for p in parts[1:]:
            ks -= set(KINDS[p.lstrip('~').strip()])
        out |= ks
    return out


def ioctls(table):
    body = src[src.index('static const unsigned long %s[]' % table):]
    body = body[body.index('{') + 1:body.index('};')]
    body = re.sub(r'/\*.*?\*/', '', body, flags=re.S)
    return [x.strip() for x in body.split(',') if x.strip()]


table = src[src.index('static const struct seccomp_rule rules[]'):]
table = table[:table.index('\n};')]
sets = {(k, san): {} for k in ORDER for san in (False, True)}
sanitizer = False
for line in table.split('\n'):
    if '#ifdef HEARTH_SANITIZERS' in line:
        sanitizer = True
    elif '#endif' in line:
        sanitizer = False
    m = re.search(r'\{"(\w+)", ([A-Z_ |&~]+), (ARG_\w+)\}', line)
    if m:
        name, mask, arg = m.groups()
        for k in kinds_of(mask):
            sets[(k, sanitizer)][name] = arg

out = ["# The system calls each kind of hearth thread may make once its seccomp",
       "# filter is installed (src/sandbox/seccomp.c builds the filters from one",
       "# table; scripts/seccomp-allowlist.py writes this file from it, and",
       "# tests/unit/test_seccomp.c checks that both list the same calls).",
       "# Anything else is trapped: one line on stderr naming the thread and the",
       "# call, then hearth dies by SIGSYS (`hearth run --seccomp`).",
       "#",
       "# Format: a section per thread kind, one system call per line, with its",
       "# argument checks after the name. Sections marked (sanitizer builds) are",
       "# added only when hearth is built with -Db_sanitize.",
       ""]
for sanitizer in (False, True):
    for k in ORDER:
        calls = sets[(k, sanitizer)]
        if not calls:
            continue
        out.append('[%s%s]' % (k, ' (sanitizer builds)' if sanitizer else ''))
        for name in sorted(calls):
            arg = calls[name]
            if arg == 'ARG_IOCTL':
                text = 'requests: ' + ' '.join(ioctls(IOCTLS.get(k, 'tty_ioctls')))
            else:
                text = ARGS[arg]
            out.append(('%-18s %s' % (name, text)).rstrip())
        out.append('')
with open(os.path.join(root, 'src/sandbox/allowlist.txt'), 'w') as f:
    f.write('\n'.join(out).rstrip('\n') + '\n')
