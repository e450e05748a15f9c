#!/bin/sh
# --cpus 4: the guest brings 4 CPU(s) online (found through the ACPI MADT).
# timeout: 200
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
vm_run_test vm nproc --cpus 4
got=$(vm_result vm nproc)
[ "$got" = 4 ] || fail "guest nproc is '$got', expected 4"
pass
