#!/bin/sh
# --cpus 2: the guest brings 2 CPU(s) online (found through the ACPI MADT).
# timeout: 200
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
vm_run_test vm nproc --cpus 2
got=$(vm_result vm nproc)
[ "$got" = 2 ] || fail "guest nproc is '$got', expected 2"
pass
