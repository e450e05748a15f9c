#!/bin/sh
# runner.sh [PATTERN...]: run the Linux-guest test cases in tests/nested/cases/
# here and now (inside the nested host, or directly on a host whose /dev/kvm
# runs stock kernels). Cases whose name matches a shell PATTERN run; no
# pattern runs all. Prints `RUN name` as a case starts, and when it ends:
#   PASS name | FAIL name: reason | SKIP name: reason
# then a summary line, and exits 0 when nothing failed.
#
# Each case runs in its own process group with its own timeout (its header
# line `# timeout: SECONDS`, default 180); when it ends, whatever it left
# running is killed.
#
# Inside the nested host only: a case that failed because one of its guests
# triple-faulted (KVM_EXIT_SHUTDOWN), or because one of its guests never
# printed a byte (hearth announced the VM, then nothing came from the guest),
# or because the case found its guest stalled inside KVM_RUN (it writes
# $CASE_DIR/.stalled; the migration cases do, before migrating), runs again,
# up to HEARTH_TF_RETRIES (default 2) more times. QEMU's TCG
# emulation of SVM, which the nested host runs on, now and then faults or
# stalls an L2 guest that it should not (the nested host's own kernel crashes
# the same way: see README.md); a guest that fails so on every attempt still
# fails the case, and every retry is printed as `RETRY name: ...` and noted on
# the case's verdict line.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"
HEARTH_ROOT=$(cd "$here/../.." && pwd)
export HEARTH_ROOT HEARTH_VMM
export VMM="$here/vmm.sh"
export GUEST_KERNEL="${GUEST_KERNEL:-$HEARTH_ROOT/guest/out/vmlinuz}"
export GUEST_INITRD="${GUEST_INITRD:-$HEARTH_ROOT/guest/out/initramfs.cpio.gz}"
export GUEST_VMLINUX="${GUEST_VMLINUX:-$HEARTH_ROOT/guest/out/vmlinux}"
export GUEST_CMDLINE="$HEARTH_GUEST_CMDLINE"
[ -z "${HEARTH_BIN:-}" ] || export HEARTH_BIN

# The header value KEY of a case file (`# KEY: VALUE`).
case_header() {
	sed -n "s/^# $2: *//p" "$1" | head -n1
}

selected() {
	[ $# -le 1 ] && return 0
	_name=$1
	shift
	for _pat in "$@"; do
		# shellcheck disable=SC2254
		case "$_name" in $_pat) return 0 ;; esac
	done
	return 1
}

work=$(mktemp -d /tmp/hearth-nested.XXXXXX)
# Inside the nested host, a heartbeat on the console every 20 s: the host's
# watchdog (tests/nested/run.sh) takes its silence for a hung nested host
# long before a case's own time limit would.
heartbeat=
if [ -n "${HEARTH_NESTED:-}" ]; then
	while :; do
		echo HEARTH-L1-ALIVE
		sleep 20
	done &
	heartbeat=$!
fi
# Interrupted: take the running case and everything it started along.
trap '[ -n "${pid:-}" ] && kill -KILL -"$pid" 2>/dev/null; [ -n "$heartbeat" ] && kill "$heartbeat"
	rm -rf "$work"; exit 130' INT TERM HUP

# run_case FILE: run one case in a fresh CASE_DIR; sets rc and reason.
run_case() {
	rm -rf "$CASE_DIR"
	mkdir -p "$CASE_DIR"
	# A new session makes the case a process group we can kill whole.
	setsid sh "$1" >"$CASE_DIR/.log" 2>&1 &
	pid=$!
	deadline=$(($(date +%s) + timeout))
	timed_out=
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			timed_out=1
			kill -TERM -"$pid" 2>/dev/null
			sleep 1
			kill -KILL -"$pid" 2>/dev/null
			break
		fi
		sleep 0.1
	done
	wait "$pid"
	rc=$?
	kill -KILL -"$pid" 2>/dev/null
	pid=
	reason=$(cat "$CASE_DIR/.reason" 2>/dev/null)
	if [ -n "$timed_out" ]; then
		rc=1
		reason="timed out after ${timeout}s"
	fi
}

# guest_fault: if a VM of the case that just failed triple-faulted, or was
# started and never printed anything of the guest's, print which; else fail.
guest_fault() {
	[ "$rc" != 0 ] && [ "$rc" != 77 ] || return 1
	if grep -q -s 'the guest triple-faulted (KVM_EXIT_SHUTDOWN)' "$CASE_DIR"/*.out "$CASE_DIR"/*.err; then
		echo "a guest triple-faulted"
		return 0
	fi
	# The case saw its guest stalled inside KVM_RUN (tests/nested/migrate_env.sh).
	if [ -s "$CASE_DIR/.stalled" ]; then
		echo "a guest stalled ($(cat "$CASE_DIR/.stalled"))"
		return 0
	fi
	for _out in "$CASE_DIR"/*.out; do
		[ -f "$_out" ] || continue
		grep -q '^hearth: VM ' "$_out" || continue
		# Nothing but hearth's own lines (and blank ones): the guest was silent.
		if ! tr -d '\r' <"$_out" | grep -q -v -e '^hearth:' -e '^$'; then
			echo "a guest never printed anything ($(basename "$_out" .out))"
			return 0
		fi
	done
	return 1
}

passed=0 failed=0 skipped=0
for file in "$here"/cases/*.sh; do
	name=$(basename "$file" .sh)
	selected "$name" "$@" || continue
	timeout=$(case_header "$file" timeout)
	timeout=${timeout:-180}
	CASE_NAME=$name
	CASE_DIR=$work/$name
	export CASE_NAME CASE_DIR
	echo "RUN $name"
	attempt=1
	retried=
	run_case "$file"
	while [ -n "${HEARTH_NESTED:-}" ] && [ "$attempt" -le "${HEARTH_TF_RETRIES:-2}" ] &&
		why=$(guest_fault); do
		echo "RETRY $name: $why in the nested host on attempt $attempt" \
			"(${reason:-exit status $rc}); the case runs again"
		retried="${retried:+$retried, }attempt $attempt: $why"
		attempt=$((attempt + 1))
		run_case "$file"
	done
	note=${retried:+ (passed on attempt $attempt; $retried)}
	case $rc in
	0)
		echo "PASS $name$note"
		passed=$((passed + 1))
		;;
	77)
		echo "SKIP $name: ${reason:-skipped}"
		skipped=$((skipped + 1))
		;;
	*)
		echo "FAIL $name: ${reason:-exit status $rc}${retried:+ (on attempt $attempt; $retried)}"
		failed=$((failed + 1))
		# What the case and its VMs printed last, to see why.
		for out in "$CASE_DIR/.log" "$CASE_DIR"/*.out "$CASE_DIR"/*.err; do
			[ -s "$out" ] || continue
			echo "    --- $(basename "$out") (last lines)"
			tail -n 15 "$out" | tr -d '\r\033' | awk '{ print "    | " $0 }'
		done
		;;
	esac
done
[ -n "${HEARTH_KEEP_WORK:-}" ] || rm -rf "$work"
[ -z "$heartbeat" ] || kill "$heartbeat"
echo "nested: $passed passed, $failed failed, $skipped skipped"
[ $((passed + failed + skipped)) -gt 0 ] || { echo "nested: no case matched: $*"; exit 1; }
[ "$failed" -eq 0 ]
