#!/bin/sh
# --cpus 1: the guest brings 1 CPU(s) online (found through the ACPI MADT).
# timeout: 200
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
vm_run_test vm nproc --cpus 1
got=$(vm_result vm nproc)
[ "$got" = 1 ] || fail "guest nproc is '$got', expected 1"
pass
