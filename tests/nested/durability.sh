#!/bin/bash
# tests/nested/durability.sh: does a guest's fsync survive the host dying?
#
# The nested host (L1) gets three disks that are files on this machine,
# attached with this machine's page cache bypassed. In L1, three hearth VMs
# each take one of them whole as their disk (`--disk path=/dev/vdX`), with
# cache=writeback, cache=none and cache=unsafe. Each guest writes 16 MiB of
# random bytes over the start of its disk, calls fsync, and prints the
# bytes' hash and a marker. When all three markers are out, L1's QEMU
# process is killed (SIGKILL): whatever was still in L1's page cache, or in
# hearth, is gone, as in a power cut of the machine hearth runs on. L1's
# periodic write-back is off, so nothing reaches the disk unless someone
# asked for it.
#
# Asserted: for writeback and none, every byte written before the fsync is
# in the file (hash). Reported only: whether cache=unsafe lost the bytes
# (it may: its FLUSH is acknowledged without syncing; that is its contract).
# Prints `PASS name`, `FAIL name: reason` or `SKIP name: reason` lines for
# blk_durable_writeback and blk_durable_none, and a `nested: ...` summary
# line; exits 0 when nothing failed.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/nested/l1.sh
. "$here/l1.sh"

modes=(writeback none unsafe)
asserted=(writeback none)

report() {
	local verdict=$1
	shift
	for m in "${asserted[@]}"; do echo "$verdict blk_durable_$m${*:+: $*}"; done
	echo "nested: durability: $verdict"
	[ "$verdict" != FAIL ]
}

if [ "$(nested_where)" = direct ]; then
	report SKIP "needs the nested test host (the test kills the machine hearth runs on)"
	exit 0
fi
l1_guest_ready
[ -x "$HEARTH_BIN" ] || l1_die "no hearth binary at $HEARTH_BIN"

# The nested host's emulated SVM now and then triple-faults a guest or
# crashes L1 itself (see README.md): such a run is done again, at most
# HEARTH_TF_RETRIES (default 2) more times, each retry printed as RETRY.
if [ -z "${DURABILITY_ATTEMPT:-}" ]; then
	attempt=1
	while :; do
		DURABILITY_ATTEMPT=$attempt "$0" "$@"
		rc=$?
		[ "$rc" = 3 ] || exit "$rc"
		attempt=$((attempt + 1))
	done
fi

mkdir -p "$L1_OUT"
L1_RUN=$(mktemp -d "$L1_OUT/durability.XXXXXX")
export L1_RUN
disks=()
for m in "${modes[@]}"; do
	truncate -s 64M "$L1_RUN/$m.img"
	disks+=("$L1_RUN/$m.img")
done
# The host's page cache bypassed where the file system can (O_DIRECT).
disk_cache=none
if ! dd if=/dev/zero of="$L1_RUN/${modes[0]}.img" bs=4096 count=1 conv=notrunc oflag=direct \
	2>/dev/null; then
	disk_cache=writethrough
	echo "nested: durability: this file system has no O_DIRECT; L1's disks use cache=writethrough"
fi

cmd=$L1_RUN/command
{
	echo 'for d in vda vdb vdc; do'
	echo '	n=0; while [ ! -b /dev/$d ] && [ $n -lt 100 ]; do n=$((n + 1)); sleep 0.1; done'
	echo 'done'
	# Nothing is written back unless asked for (fsync, O_DIRECT).
	echo 'echo 0 >/proc/sys/vm/dirty_writeback_centisecs'
	echo 'echo 100 >/proc/sys/vm/dirty_ratio; echo 100 >/proc/sys/vm/dirty_background_ratio'
	i=0
	devs=(vda vdb vdc)
	# One guest boots at a time (the next starts once the last has synced
	# or ended), so that three booting guests do not share the nested
	# host's two emulated CPUs.
	for m in "${modes[@]}"; do
		dev=/dev/${devs[$i]}
		echo "/hearth/build/hearth run --kernel /hearth/guest/out/vmlinuz" \
			"--initrd /hearth/guest/out/initramfs.cpio.gz --memory 256" \
			"--cmdline '$HEARTH_GUEST_CMDLINE hearth.test=durable'" \
			"--disk path=$dev,cache=$m </dev/null 2>&1 | tee /tmp/$m.out |" \
			"awk '{ print \"$m: \" \$0; fflush() }' &"
		echo "while ! grep -q HEARTH-DURABLE-SYNCED /tmp/$m.out 2>/dev/null && kill -0 \$! 2>/dev/null; do sleep 0.2; done"
		i=$((i + 1))
	done
	echo 'wait'
} >"$cmd"

echo "nested: durability: 3 guests in the nested test host, one disk each (${modes[*]})"
HEARTH_L1_DISKS="${disks[*]}" HEARTH_L1_DISK_CACHE=$disk_cache L1_QUIET=1 L1_TIMEOUT=900 \
	l1_run 1536 batch "$cmd" >/dev/null 2>"$L1_RUN/l1.err" &
l1=$!
console=$L1_RUN/console.log

# Wait (bounded) until every guest has synced or one has failed.
deadline=$(($(date +%s) + 600))
why=
while :; do
	synced=0
	for m in "${modes[@]}"; do
		grep -q "^$m: HEARTH-DURABLE-SYNCED" "$console" 2>/dev/null && synced=$((synced + 1))
	done
	[ "$synced" -eq ${#modes[@]} ] && break
	if grep -q -E '^[a-z]+: (HEARTH-RESULT durable=write-failed|hearth: error)' "$console" 2>/dev/null; then
		why="a guest could not write: $(grep -m1 -E '^[a-z]+: (HEARTH-RESULT durable=|hearth: error)' "$console")"
		break
	fi
	if ! kill -0 "$l1" 2>/dev/null; then
		why="the nested host ended before the guests synced"
		last=$(grep -v '^[[:space:]]*$' "$L1_RUN/l1.err" "$console" 2>/dev/null | tail -n 1 | tr -d '\r')
		[ -z "$last" ] || why="$why (its last words: ${last#*:})"
		break
	fi
	if grep -q -E 'soft lockup|Kernel panic' "$console" 2>/dev/null; then
		why="the nested host locked up or panicked: $(grep -m1 -E 'soft lockup|Kernel panic' "$console" | tr -d '\r')"
		break
	fi
	if [ "$(date +%s)" -ge "$deadline" ]; then
		why="the guests did not sync within 600 s"
		break
	fi
	sleep 0.2
done

# The power cut: L1's QEMU dies at once.
if [ -s "$L1_RUN/qemu.pid" ]; then
	kill -KILL "$(cat "$L1_RUN/qemu.pid")" 2>/dev/null
fi
wait "$l1" 2>/dev/null

if [ -n "$why" ]; then
	if [ "$DURABILITY_ATTEMPT" -le "${HEARTH_TF_RETRIES:-2}" ] &&
		{ grep -q 'the guest triple-faulted (KVM_EXIT_SHUTDOWN)' "$console" 2>/dev/null ||
			[ "${why#the nested host ended}" != "$why" ] ||
			[ "${why#the nested host locked up}" != "$why" ]; }; then
		echo "RETRY blk_durable: $why, on attempt $DURABILITY_ATTEMPT (the nested host's" \
			"emulated SVM; console: $console); the test runs again"
		exit 3
	fi
	report FAIL "$why (console: $console)"
	exit 1
fi

failed=0
for m in "${modes[@]}"; do
	want=$(sed -n "s/^$m: HEARTH-RESULT durable-sha=\([0-9a-f]*\).*/\1/p" "$console" | head -n1)
	got=$(head -c $((16 << 20)) "$L1_RUN/$m.img" | sha256sum | cut -d' ' -f1)
	if [ "$m" = unsafe ]; then
		if [ "$want" = "$got" ]; then
			echo "nested: durability: cache=unsafe: the bytes happened to reach the disk"
		else
			echo "nested: durability: cache=unsafe: the bytes were lost with the host (allowed: its FLUSH does not sync)"
		fi
		continue
	fi
	if [ -n "$want" ] && [ "$want" = "$got" ]; then
		echo "PASS blk_durable_$m"
	else
		echo "FAIL blk_durable_$m: the disk does not hold what the guest synced before the host died (guest $want, disk $got; console: $console)"
		failed=1
	fi
done
if [ $failed = 0 ]; then
	rm -rf "$L1_RUN"
	echo "nested: durability: PASS"
fi
[ $failed = 0 ]
