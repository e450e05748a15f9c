#!/bin/sh
# The default guest boots to its init, runs a test and powers off: the VMM exits 0.
# timeout: 150
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
vm_run_test vm boot
[ "$(vm_result vm boot)" = ok ] || fail "guest test did not report boot=ok"
vm_expect vm "reboot: Power down"
pass
