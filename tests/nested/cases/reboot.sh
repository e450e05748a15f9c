#!/bin/sh
# `reboot` in the guest makes the VMM exit 0 (a VMM ends on guest reboot).
# timeout: 150
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
vm_run_test vm reboot
vm_expect vm "The system is going down NOW!" "clean shutdown by init"
vm_expect vm "Requesting system reboot"
vm_expect vm "reboot: Restarting system"
pass
