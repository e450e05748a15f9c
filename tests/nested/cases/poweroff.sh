#!/bin/sh
# `poweroff` in the guest (a clean shutdown through init) makes the VMM exit 0.
# timeout: 150
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
vm_run_test vm poweroff
vm_expect vm "The system is going down NOW!" "clean shutdown by init"
vm_expect vm "Requesting system poweroff"
vm_expect vm "reboot: Power down"
pass
