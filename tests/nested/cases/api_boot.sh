#!/bin/sh
# A Linux guest configured and booted through the control API alone; PATCH /vm pauses it (its ticks stop) and resumes it (they go on).
# timeout: 240
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
command -v curl >/dev/null || fail "no curl in the nested host (tests/nested/l1.sh adds it)"
sock=$CASE_DIR/api.sock

# The last tick the guest printed.
last_tick() {
	tr -d '\r' <"$CASE_DIR/vm.out" | sed -n 's/^HEARTH-TICK \([0-9]*\)$/\1/p' | tail -n1
}

vm_start vm --api-sock "$sock"
vm_api_wait vm "$sock"
vm_api "$sock" GET / && echo "$API_BODY" | grep -q '"state":"Not started"' ||
	fail "GET / before the start: $API_CODE $API_BODY"
vm_api "$sock" PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}' ||
	fail "PUT /machine-config: $API_CODE $API_BODY"
vm_api "$sock" PUT /boot-source "{\"kernel_image_path\": \"$GUEST_KERNEL\",
	\"initrd_path\": \"$GUEST_INITRD\", \"boot_args\": \"$GUEST_CMDLINE hearth.test=ticks\"}" ||
	fail "PUT /boot-source: $API_CODE $API_BODY"
vm_api "$sock" PUT /actions '{"action_type": "InstanceStart"}' ||
	fail "InstanceStart: $API_CODE $API_BODY"
vm_expect vm "VM .*: 2 vCPUs, 256 MiB" "the machine-config's 2 vCPUs and 256 MiB"
vm_wait_for vm HEARTH-GUEST-READY || fail "the guest did not reach its init"
vm_wait_for vm "HEARTH-TICK 3" || fail "the guest's ticks did not start"

vm_api "$sock" PATCH /vm '{"state": "Paused"}' || fail "PATCH /vm Paused: $API_CODE $API_BODY"
vm_api "$sock" GET / && echo "$API_BODY" | grep -q '"state":"Paused"' ||
	fail "GET / while paused: $API_CODE $API_BODY"
t1=$(last_tick)
# Ten ticks' worth of time: a running guest would print about ten.
sleep 2
t2=$(last_tick)
[ "$t1" = "$t2" ] || fail "the guest ticked while paused: $t1 -> $t2"
vm_running vm || fail "the VMM exited while paused"

vm_api "$sock" PATCH /vm '{"state": "Resumed"}' || fail "PATCH /vm Resumed: $API_CODE $API_BODY"
# Ticks only grow: no earlier one starts with these digits.
vm_wait_for vm "HEARTH-TICK $((t2 + 3))" || fail "the ticks did not go on after resuming (last $(last_tick))"
vm_api "$sock" GET / && echo "$API_BODY" | grep -q '"state":"Running"' ||
	fail "GET / after resuming: $API_CODE $API_BODY"

# The power button ends it cleanly.
vm_kill vm TERM
vm_expect_exit vm
vm_expect vm "reboot: Power down"
pass
