#!/bin/sh
# SIGTERM to the VMM presses the ACPI power button: the guest's acpid runs
# poweroff, init stops everything, the kernel powers down and the VMM exits 0.
# timeout: 180
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
vm_boot vm idle
vm_wait_for vm "HEARTH-RESULT idle=ready" || fail "guest never reached its idle test"
vm_kill vm TERM
vm_expect_exit vm
vm_expect vm "The system is going down NOW!" "clean shutdown by init"
vm_expect vm "Requesting system poweroff"
vm_expect vm "reboot: Power down"
pass
