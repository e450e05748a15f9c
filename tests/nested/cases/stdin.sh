#!/bin/sh
# Bytes written to the VMM's stdin (a pipe) reach the guest's shell on the
# serial console, and its output comes back; `poweroff -f` then ends the VMM.
# timeout: 150
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
vm_boot vm -
vm_wait_for vm HEARTH-GUEST-READY || fail "guest never became ready"
vm_send vm 'echo HELLO-$((6*7))'
vm_wait_for vm HELLO-42 60 || fail "no HELLO-42 from the guest shell"
vm_send vm 'poweroff -f'
vm_expect_exit vm
vm_expect vm "reboot: Power down"
pass
