#!/bin/sh
# Bytes written to the VMM's stdin (a pipe) reach the guest's shell on the serial console, Ctrl-C interrupts its foreground command, `poweroff -f` ends the VMM.
# timeout: 150
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
vm_boot vm -
vm_wait_for vm HEARTH-GUEST-READY || fail "guest never became ready"
vm_send vm 'echo HELLO-$((6*7))'
vm_wait_for vm HELLO-42 60 || fail "no HELLO-42 from the guest shell"
# The shell has job control on its console: ^C (0x03) stops `sleep`.
vm_send vm 'echo SLEEPING-$((2+3)); sleep 1000'
vm_wait_for vm SLEEPING-5 60 || fail "no SLEEPING-5 from the guest shell"
vm_send_raw vm '\003'
vm_send vm 'echo AWAKE-$((4*4))'
vm_wait_for vm AWAKE-16 60 || fail "Ctrl-C did not interrupt the guest's foreground command"
vm_send vm 'poweroff -f'
vm_expect_exit vm
vm_expect vm "reboot: Power down"
pass
