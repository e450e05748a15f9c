#!/bin/sh
# bench/migrate-run.sh MEMORY_MIB RATES RUNS [VMMS]: the work of
# bench/migrate, run where Linux guests run (inside the nested test host, or
# on a host whose /dev/kvm boots stock kernels). For each dirtying rate (MB/s,
# comma separated; 0 = idle) and each run, hearth then QEMU (VMMS, default
# "hearth,qemu") migrate the same guest
# (guest/tests/migrate.sh: a console counter every 10 ms, hearth.dirty=RATE)
# from network namespace hm-src to hm-dst over a veth pair
# (tests/nested/migrate_env.sh), the disk image shared. Prints one line per
# migration:
#   RESULT VMM RATE total=MS gap=MS tick=MS own_total=MS own_downtime=MS dirtied=MBPS
# total: from just before the migration is asked for until the guest's first
# console line from the destination; gap: the longest pause in the guest's
# counter as its consoles' lines arrive (line-stamp), the guest-visible
# downtime, measured the same way for both; tick: the longest one in the
# 2 s before; own_*: what the VMM itself reports (hearth migrate's summary,
# QEMU's query-migrate); dirtied: the rate the guest reached, MB/s.
# A measurement that fails (the nested host's emulated SVM now and then
# triple-faults a guest; QEMU's destination has refused streams) is tried
# again, at most ATTEMPTS times in all (default 3); each failure prints why
# and then `FAILED-ATTEMPT VMM RATE`, the last one also `GAVE-UP VMM RATE`.
#
# hearth: `hearth run ... --api-sock` on the source, `hearth run --incoming
# tcp:ADDR:PORT` on the destination, `hearth migrate --max-downtime 300`
# (no bandwidth cap). QEMU: -M microvm, the same kernel, initrd, command
# line, vCPUs and memory, virtio-mmio disk and NIC (hearth also runs with
# --transport mmio), `-incoming tcp:ADDR:PORT` on the destination, and over
# QMP: migrate-set-parameters downtime-limit 300, max-bandwidth 10 GiB/s (its
# default is 128 MiB/s), then migrate, query-migrate every 100 ms as hearth
# migrate polls GET /migrate.
set -u
here=$(cd "$(dirname "$0")" && pwd)
HEARTH_ROOT=$(cd "$here/.." && pwd)
export HEARTH_ROOT
mem=${1:-1024}
rates=${2:-0,50,200}
runs=${3:-1}
vmms=${4:-hearth,qemu}
attempts=${ATTEMPTS:-3}
. "$HEARTH_ROOT/tests/nested/config.sh"
HEARTH_VMM=hearth
export HEARTH_VMM
VMM=$HEARTH_ROOT/tests/nested/vmm.sh
HEARTH_BIN=${HEARTH_BIN:-$HEARTH_ROOT/build/hearth}
export HEARTH_BIN
GUEST_KERNEL=$HEARTH_ROOT/guest/out/vmlinuz
GUEST_INITRD=$HEARTH_ROOT/guest/out/initramfs.cpio.gz
QEMU=${QEMU:-qemu-system-x86_64}
CASE_DIR=$(mktemp -d /tmp/bench-migrate.XXXXXX)
. "$HEARTH_ROOT/tests/nested/lib.sh"
. "$HEARTH_ROOT/tests/nested/migrate_env.sh"

# A failed migration ends this one measurement, not the benchmark.
fail() {
	echo "bench/migrate: $*"
	for _f in "$CASE_DIR"/*.out "$CASE_DIR"/*.err; do
		[ -f "$_f" ] || continue
		echo "--- last lines of $(basename "$_f"):"
		tail -n 8 "$_f"
	done
	exit 1
}

# QMP over two FIFOs (QEMU's pipe chardev): qmp_open NAME, then qmp NAME
# JSON sets QMP_REPLY to the command's {"return"...} or {"error"...} line.
qmp_open() {
	mkfifo "$CASE_DIR/$1.qmp.in" "$CASE_DIR/$1.qmp.out" || fail "mkfifo failed"
}

qmp() {
	printf '%s\n' "$2" >>"$CASE_DIR/$1.qmp.log"
	printf '%s\n' "$2" >&7
	while :; do
		IFS= read -r -t 60 QMP_REPLY <&8 || fail "QEMU's QMP did not answer $2"
		printf '%s\n' "$QMP_REPLY" >>"$CASE_DIR/$1.qmp.log"
		case "$QMP_REPLY" in *'"return"'* | *'"error"'*) return 0 ;; esac
	done
}

# json_num JSON KEY: the first number after "KEY": in JSON.
json_num() {
	echo "$1" | sed -n "s/.*\"$2\": *\([0-9][0-9]*\).*/\1/p" | head -n1
}

# dirtied_mb NAME: megabytes the guest's dirtier has written so far.
dirtied_mb() {
	tr -d '\r' <"$CASE_DIR/$1.out" | sed -n 's/^HEARTH-DIRTY mb=\([0-9]*\) .*/\1/p' | tail -n1
}

# steady NAME RATE: the guest counts and (with a rate) has written its whole
# 256 MiB buffer once (at most 300 s: a slow host may not reach the rate);
# then 200 counts more.
steady() {
	vm_wait_for "$1" HEARTH-MIG-READY 300 || fail "$1: the guest did not start its counter"
	if [ "$2" -gt 0 ]; then
		_deadline=$(($(date +%s) + 300))
		while [ "$(dirtied_mb "$1")" -lt 269 ] 2>/dev/null || [ -z "$(dirtied_mb "$1")" ]; do
			[ "$(date +%s)" -lt "$_deadline" ] || break
			sleep 0.5
		done
	fi
	_c=$(mig_counts "$1" | tail -n1)
	vm_wait_for "$1" "^CNT-$((_c + 200))" 120 || fail "$1: the counter does not count"
}

# report VMM RATE FROM START OWN_TOTAL OWN_DOWNTIME
report() {
	_g=$(mig_gaps src dst "$3")
	_first=$(mig_stamps dst | head -n1 | cut -d' ' -f1)
	[ -n "$_first" ] || fail "$1: no counter line from the destination"
	[ "$(mig_field "$_g" dup)" = 0 ] || fail "$1: counts printed by both hosts ($_g)"
	# The rate the guest reached before the move (its last HEARTH-DIRTY line).
	_d=$(tr -d '\r' <"$CASE_DIR/src.out" | sed -n 's/^HEARTH-DIRTY mb=\([0-9]*\) cs=\([0-9]*\)$/\1 \2/p' |
		tail -n1 | awk '$2 > 0 { printf "%.0f", $1 * 100 / $2 }')
	echo "RESULT $1 $2 total=$(((_first - $4) / 1000)) gap=$(mig_field "$_g" gap)" \
		"tick=$(mig_field "$_g" pre) own_total=$5 own_downtime=$6 dirtied=${_d:-0}"
}

# cleanup: every VMM of this measurement gone, the network removed.
cleanup() {
	for _v in src dst; do
		[ -f "$CASE_DIR/$_v.pid" ] || continue
		vm_kill "$_v" KILL
		vm_wait_exit "$_v" 30
	done
	exec 7>&- 8<&-
	mig_net_down
	rm -f "$CASE_DIR"/*.qmp.* "$CASE_DIR"/*.pid "$CASE_DIR/disk.img"
}

run_hearth() {
	rate=$1
	trap cleanup EXIT
	img=$CASE_DIR/disk.img
	dd if=/dev/zero of="$img" bs=1M count=8 2>/dev/null
	mig_net_up
	mig_start src $MIG_SRC --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
		--cmdline "$HEARTH_GUEST_CMDLINE hearth.test=migrate hearth.dirty=$rate" \
		--memory "${mem}M" --cpus 2 --transport mmio --disk "path=$img" \
		--net "tap=$MIG_TAP,mac=$MIG_GUEST_MAC" --api-sock "$CASE_DIR/src.sock"
	mig_start dst $MIG_DST --incoming "tcp:$MIG_DST_ADDR:$MIG_PORT"
	vm_wait_for dst "migration: listening on" 60 || fail "hearth: the destination did not listen"
	steady src "$rate"
	echo "bench/migrate: hearth $rate MB/s: the guest counts (dirtied $(dirtied_mb src) MB); migrating"
	from=$(mig_counts src | tail -n1)
	start=$(mig_mark)
	# At most 300 s; a migration still going then is shown as GET /migrate has it.
	if ! timeout 300 "$HEARTH_BIN" migrate --api-sock "$CASE_DIR/src.sock" \
		--to "tcp:$MIG_DST_ADDR:$MIG_PORT" --max-downtime 300 >"$CASE_DIR/migrate.out" 2>&1; then
		curl -s --max-time 10 --unix-socket "$CASE_DIR/src.sock" http://localhost/migrate \
			>"$CASE_DIR/migrate.state" 2>&1
		fail "hearth migrate: $(tail -n1 "$CASE_DIR/migrate.out") (GET /migrate: $(cat "$CASE_DIR/migrate.state"))"
	fi
	# The source counted on during the pre-copy: 100 counts past its last.
	last=$(mig_counts src | tail -n1)
	vm_wait_for dst "^CNT-$((last + 100))" 120 ||
		fail "hearth: no count $((last + 100)) on the destination (its first: $(mig_counts dst | head -n1))"
	l=$(grep '^hearth migrate: completed in' "$CASE_DIR/migrate.out")
	report hearth "$rate" "$from" "$start" \
		"$(echo "$l" | sed -n 's/.*completed in \([0-9]*\) ms.*/\1/p')" \
		"$(echo "$l" | sed -n 's/.*downtime \([0-9]*\) ms.*/\1/p')"
	grep '^migrate: .* pass' "$CASE_DIR/migrate.out" | tail -n1
	# Where hearth's downtime went (the source's breakdown).
	grep 'migration: downtime' "$CASE_DIR/src.err" | tail -n1
}

# qemu_args NAME RATE: QEMU's command line for this guest.
qemu_args() {
	echo -M microvm -accel kvm -cpu host -smp 2 -m "${mem}M" -nodefaults -no-user-config \
		-display none -no-reboot -serial stdio \
		-chardev "pipe,id=qmp,path=$CASE_DIR/$1.qmp" -mon chardev=qmp,mode=control \
		-global virtio-mmio.force-legacy=false \
		-drive "file=$img,if=none,id=d0,format=raw,cache=writeback" \
		-device virtio-blk-device,drive=d0 \
		-netdev "tap,id=n0,ifname=$MIG_TAP,script=no,downscript=no" \
		-device "virtio-net-device,netdev=n0,mac=$MIG_GUEST_MAC" \
		-kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD"
}

run_qemu() {
	rate=$1
	trap cleanup EXIT
	img=$CASE_DIR/disk.img
	dd if=/dev/zero of="$img" bs=1M count=8 2>/dev/null
	mig_net_up
	qmp_open src
	qmp_open dst
	# shellcheck disable=SC2046
	mig_start_cmd src $MIG_SRC "$QEMU" $(qemu_args src) \
		-append "$HEARTH_GUEST_CMDLINE hearth.test=migrate hearth.dirty=$rate"
	# shellcheck disable=SC2046
	mig_start_cmd dst $MIG_DST "$QEMU" $(qemu_args dst) \
		-append "$HEARTH_GUEST_CMDLINE hearth.test=migrate hearth.dirty=$rate" \
		-incoming "tcp:$MIG_DST_ADDR:$MIG_PORT"
	# Read-write opens of the FIFOs do not block: a QEMU that failed to
	# start is a missing greeting (its stderr shown), not a hang.
	exec 7<>"$CASE_DIR/src.qmp.in" 8<>"$CASE_DIR/src.qmp.out"
	IFS= read -r -t 60 greeting <&8 || fail "qemu: no QMP greeting"
	qmp src '{"execute": "qmp_capabilities"}'
	steady src "$rate"
	echo "bench/migrate: qemu $rate MB/s: the guest counts (dirtied $(dirtied_mb src) MB); migrating"
	qmp src '{"execute": "migrate-set-parameters", "arguments": {"downtime-limit": 300, "max-bandwidth": 10737418240}}'
	case "$QMP_REPLY" in *'"error"'*) fail "qemu: migrate-set-parameters: $QMP_REPLY" ;; esac
	from=$(mig_counts src | tail -n1)
	start=$(mig_mark)
	qmp src "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:$MIG_DST_ADDR:$MIG_PORT\"}}"
	case "$QMP_REPLY" in *'"error"'*) fail "qemu: migrate: $QMP_REPLY" ;; esac
	deadline=$(($(date +%s) + 600))
	while :; do
		qmp src '{"execute": "query-migrate"}'
		case "$QMP_REPLY" in
		*'"status": "completed"'*) break ;;
		*'"status": "failed"'* | *'"status": "cancelled"'*) fail "qemu: $QMP_REPLY" ;;
		esac
		[ "$(date +%s)" -lt "$deadline" ] || fail "qemu: migration did not complete"
		sleep 0.1
	done
	# The source counted on during the pre-copy: 100 counts past its last.
	last=$(mig_counts src | tail -n1)
	vm_wait_for dst "^CNT-$((last + 100))" 120 ||
		fail "qemu: no count $((last + 100)) on the destination (its first: $(mig_counts dst | head -n1))"
	report qemu "$rate" "$from" "$start" "$(json_num "$QMP_REPLY" total-time)" \
		"$(json_num "$QMP_REPLY" downtime)"
	echo "qemu: $(json_num "$QMP_REPLY" dirty-sync-count) dirty syncs," \
		"$(json_num "$QMP_REPLY" transferred) bytes"
	qmp src '{"execute": "quit"}'
}

# measure VMM RATE: one measurement, tried at most $attempts times.
measure() {
	_a=1
	until (run_"$1" "$2"); do
		echo "FAILED-ATTEMPT $1 $2"
		if [ "$_a" -ge "$attempts" ]; then
			echo "GAVE-UP $1 $2"
			return 1
		fi
		_a=$((_a + 1))
		echo "bench/migrate: $1 $2 MB/s: attempt $_a of $attempts"
	done
}

for rate in $(echo "$rates" | tr ',' ' '); do
	i=0
	while [ $i -lt "$runs" ]; do
		i=$((i + 1))
		for vmm in $(echo "$vmms" | tr ',' ' '); do
			measure "$vmm" "$rate"
		done
	done
done
rm -rf "$CASE_DIR"
