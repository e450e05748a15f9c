#!/bin/sh
# A 2-vCPU Linux guest with a disk, snapshotted through the API, its VMM killed and the snapshot loaded in a new one: its counter goes on, the disk's data read back the same, the console answers; a Diff snapshot rebased onto its Full holds the memory of a Full at the same point.
# timeout: 600
# l1-memory-mib: 1024
. "$HEARTH_ROOT/tests/nested/lib.sh"
[ "$HEARTH_VMM" = hearth ] || skip "hearth's own snapshots"
command -v curl >/dev/null || fail "no curl in the nested host (tests/nested/l1.sh adds it)"
hearth=${HEARTH_BIN:-$HEARTH_ROOT/build/hearth}
img=$CASE_DIR/disk.img
dd if=/dev/zero of="$img" bs=1M count=4 2>/dev/null || fail "cannot make the disk image"

# The counter values a VM printed, one a line.
counts() {
	tr -d '\r' <"$CASE_DIR/$1.out" | sed -n 's/^CNT-\([0-9]*\)$/\1/p'
}

# The disk hashes a VM's guest printed with TAG (DISK-W or DISK-R), one a line.
hashes() {
	tr -d '\r' <"$CASE_DIR/$1.out" | sed -n "s/^$2 \([0-9a-f]\{64\}\).*/\1/p"
}

# The SHA-256 of a memory file's guest RAM (without its 4 KiB trailer).
ram_sha() {
	head -c $(($(wc -c <"$1") - 4096)) "$1" | sha256sum | cut -d' ' -f1
}

# snapshot_run NAME full|diff [hearth run options]: boot, snapshot, kill,
# restore the Full snapshot, check. With diff, the guest also runs on after
# the Full snapshot and is snapshotted again, Diff then Full; the Diff rebased
# onto the first Full must hold the second Full's memory.
snapshot_run() {
	n=$1
	kind=$2
	shift 2
	track=false
	[ "$kind" = diff ] && track=true
	sock=$CASE_DIR/$n.sock
	state=$CASE_DIR/$n.state
	mem=$CASE_DIR/$n.mem

	vm_start "$n" --api-sock "$sock" "$@"
	vm_api_wait "$n" "$sock"
	vm_api "$sock" PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256, "track_dirty_pages": '"$track"'}' ||
		fail "$n: PUT /machine-config: $API_CODE $API_BODY"
	vm_api "$sock" PUT /boot-source "{\"kernel_image_path\": \"$GUEST_KERNEL\",
		\"initrd_path\": \"$GUEST_INITRD\", \"boot_args\": \"$GUEST_CMDLINE\"}" ||
		fail "$n: PUT /boot-source: $API_CODE $API_BODY"
	# L1's root is a tmpfs: no O_DIRECT, so not cache=none.
	vm_api "$sock" PUT /drives/disk0 "{\"drive_id\": \"disk0\", \"path_on_host\": \"$img\",
		\"is_root_device\": false, \"is_read_only\": false, \"cache_type\": \"Writeback\"}" ||
		fail "$n: PUT /drives/disk0: $API_CODE $API_BODY"
	vm_api "$sock" PUT /actions '{"action_type": "InstanceStart"}' ||
		fail "$n: InstanceStart: $API_CODE $API_BODY"
	vm_expect "$n" "VM .*: 2 vCPUs, 256 MiB" "the machine-config's 2 vCPUs and 256 MiB"
	vm_wait_for "$n" HEARTH-GUEST-READY || fail "$n: the guest did not reach its init"

	# The guest's shell writes random data to the disk, syncs, prints its hash,
	# then counts in the background, every tenth count reading the disk back
	# past its page cache. The echoed command lines match none of the patterns.
	vm_send "$n" 'dd if=/dev/urandom of=/dev/vda bs=64k count=16 conv=fsync 2>/dev/null && S=$(dd if=/dev/vda bs=64k count=16 2>/dev/null | sha256sum) && echo "DISK-W $S"'
	vm_wait_for "$n" 'DISK-W [0-9a-f]\{64\}' || fail "$n: the guest did not write its disk"
	w=$(hashes "$n" DISK-W | head -n1)
	h=$(head -c 1048576 "$img" | sha256sum | cut -d' ' -f1)
	[ "$w" = "$h" ] || fail "$n: the guest wrote $w, the image holds $h"
	vm_send "$n" '(i=0; while :; do i=$((i+1)); echo "CNT-$i"; if [ $((i%10)) = 0 ]; then sync; echo 3 >/proc/sys/vm/drop_caches; echo "DISK-R $(dd if=/dev/vda bs=64k count=16 2>/dev/null | sha256sum)"; fi; sleep 0.2; done) &'
	vm_wait_for "$n" '^CNT-12' || fail "$n: the guest's counter did not start"
	vm_wait_for "$n" 'DISK-R [0-9a-f]\{64\}' || fail "$n: the guest did not read its disk back"

	vm_api "$sock" PATCH /vm '{"state": "Paused"}' || fail "$n: PATCH /vm Paused: $API_CODE $API_BODY"
	vm_api "$sock" PUT /snapshot/create "{\"snapshot_path\": \"$state\",
		\"mem_file_path\": \"$mem\", \"snapshot_type\": \"Full\"}" ||
		fail "$n: PUT /snapshot/create: $API_CODE $API_BODY"
	last=$(counts "$n" | tail -n1)
	if [ "$kind" = diff ]; then
		vm_api "$sock" PATCH /vm '{"state": "Resumed"}' ||
			fail "$n: PATCH /vm Resumed: $API_CODE $API_BODY"
		vm_wait_for "$n" "^CNT-$((last + 5))" || fail "$n: the counter did not go on after the Full snapshot"
		vm_api "$sock" PATCH /vm '{"state": "Paused"}' || fail "$n: PATCH /vm Paused: $API_CODE $API_BODY"
		vm_api "$sock" PUT /snapshot/create "{\"snapshot_path\": \"$state.diff\",
			\"mem_file_path\": \"$mem.diff\", \"snapshot_type\": \"Diff\"}" ||
			fail "$n: PUT /snapshot/create Diff: $API_CODE $API_BODY"
		vm_api "$sock" PUT /snapshot/create "{\"snapshot_path\": \"$state.full2\",
			\"mem_file_path\": \"$mem.full2\", \"snapshot_type\": \"Full\"}" ||
			fail "$n: PUT /snapshot/create second Full: $API_CODE $API_BODY"
	fi
	vm_kill "$n" KILL
	vm_wait_exit "$n" 30 || fail "$n: the VMM outlived SIGKILL"
	"$hearth" snapshot verify "$state" "$mem" || fail "$n: hearth snapshot verify refused the snapshot"

	r=$n-restored
	rsock=$CASE_DIR/$r.sock
	vm_start "$r" --api-sock "$rsock"
	vm_api_wait "$r" "$rsock"
	vm_api "$rsock" PUT /snapshot/load "{\"snapshot_path\": \"$state\",
		\"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$mem\"},
		\"resume_vm\": true}" || fail "$n: PUT /snapshot/load: $API_CODE $API_BODY"
	vm_api "$rsock" GET / && echo "$API_BODY" | grep -q '"state":"Running"' ||
		fail "$n: GET / after the load: $API_CODE $API_BODY"
	# The counter goes on from where it was: no restart, no big gap.
	vm_wait_for "$r" "^CNT-$((last + 12))" ||
		fail "$n: the counter did not go on after the restore (last before $last, after: $(counts "$r" | tail -n1))"
	first=$(counts "$r" | head -n1)
	[ "$first" -gt "$last" ] && [ "$first" -le $((last + 2)) ] ||
		fail "$n: the counter was $last before the snapshot and $first after the restore"
	counts "$r" | awk -v f="$first" 'NR > 1 && $1 != f + NR - 1 { exit 1 }' ||
		fail "$n: the counter skipped after the restore: $(counts "$r" | tr '\n' ' ')"
	# The disk, read again after the restore past the page cache, holds the same data.
	vm_wait_for "$r" 'DISK-R [0-9a-f]\{64\}' || fail "$n: no disk read after the restore"
	for got in $(hashes "$r" DISK-R); do
		[ "$got" = "$w" ] || fail "$n: the guest read $got after the restore, wrote $w"
	done
	# The console works: the guest's shell answers.
	vm_send "$r" 'echo CONSOLE-$((6*7))'
	vm_wait_for "$r" CONSOLE-42 60 || fail "$n: the restored guest's shell did not answer"
	# The power button ends it cleanly.
	vm_kill "$r" TERM
	vm_expect_exit "$r"
	vm_expect "$r" "reboot: Power down"

	[ "$kind" = diff ] || return 0
	# The restore above mapped $mem privately: it is unchanged, the Diff's base.
	"$hearth" snapshot verify "$state.full2" "$mem.full2" ||
		fail "$n: hearth snapshot verify refused the second Full snapshot"
	"$hearth" snapshot rebase "$mem.diff" "$mem" || fail "$n: hearth snapshot rebase failed"
	"$hearth" snapshot verify "$state.diff" "$mem" ||
		fail "$n: hearth snapshot verify refused the Diff with its rebased memory"
	a=$(ram_sha "$mem")
	b=$(ram_sha "$mem.full2")
	[ "$a" = "$b" ] || fail "$n: the rebased Diff's memory ($a) is not the Full's at that point ($b)"
}

snapshot_run mmio diff
snapshot_run pci full --transport pci
pass
