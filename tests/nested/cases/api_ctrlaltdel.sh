#!/bin/sh
# PUT /actions SendCtrlAltDel: the guest's init reboots it cleanly and the VMM exits 0.
# timeout: 180
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
command -v curl >/dev/null || fail "no curl in the nested host (tests/nested/l1.sh adds it)"
sock=$CASE_DIR/api.sock
vm_boot vm idle --api-sock "$sock"
vm_api_wait vm "$sock"
vm_wait_for vm "HEARTH-RESULT idle=ready" || fail "the guest never reached its idle test"
vm_api "$sock" PUT /actions '{"action_type": "SendCtrlAltDel"}' ||
	fail "SendCtrlAltDel: $API_CODE $API_BODY"
vm_expect_exit vm
vm_expect vm "The system is going down NOW!" "clean shutdown by init"
vm_expect vm "Requesting system reboot"
vm_expect vm "reboot: Restarting system"
pass
