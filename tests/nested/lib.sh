# Helpers for test cases in tests/nested/cases/ (POSIX sh, busybox ash too).
#
# runner.sh runs each case as `sh cases/NAME.sh` in its own process group,
# with the environment:
#   HEARTH_ROOT    the source tree (/hearth inside the nested host)
#   CASE_NAME      the case's name
#   CASE_DIR       an empty scratch directory for the case
#   VMM            tests/nested/vmm.sh: `"$VMM" run [hearth run options]`
#   GUEST_KERNEL, GUEST_INITRD, GUEST_VMLINUX  the default guest (guest/out)
#   GUEST_CMDLINE  the default guest command line (console=ttyS0 quiet)
#   HEARTH_NESTED  1 inside the nested test host, empty when run directly
#
# A case ends with `pass`, `fail REASON` or `skip REASON` (or by exiting: 0
# is a pass). Every wait below has a timeout; a case that overruns its own
# timeout (header line `# timeout: SECONDS`) is killed and fails.
#
# VMs are named by the case; each gets NAME.out (console and VMM output) and
# NAME.in (a FIFO wired to the VMM's stdin) in CASE_DIR. A VM started with
# its VMM's messages apart (migrate_env.sh) has them in NAME.err; the
# searches below look in both.

# Default timeout for one wait, in seconds.
VM_TIMEOUT=${VM_TIMEOUT:-120}

pass() {
	exit 0
}

fail() {
	echo "$*" >"$CASE_DIR/.reason"
	exit 1
}

skip() {
	echo "$*" >"$CASE_DIR/.reason"
	exit 77
}

# vm_start NAME [hearth run options...]
# Start the VMM in the background. Its stdin is NAME.in, held open by a
# keeper process so that the VMM never sees end-of-file; vm_send writes there.
vm_start() {
	_n=$1
	shift
	rm -f "$CASE_DIR/$_n.in" "$CASE_DIR/$_n.out"
	mkfifo "$CASE_DIR/$_n.in" || fail "mkfifo failed"
	: >"$CASE_DIR/$_n.out"
	"$VMM" run "$@" <"$CASE_DIR/$_n.in" >"$CASE_DIR/$_n.out" 2>&1 &
	echo $! >"$CASE_DIR/$_n.pid"
	sleep 2147483647 >"$CASE_DIR/$_n.in" &
	echo $! >"$CASE_DIR/$_n.keeper"
	date +%s >"$CASE_DIR/$_n.started"
}

# vm_boot NAME TEST [hearth run options...]
# Start the default guest running /tests/TEST.sh (no TEST: "-" gives the
# interactive shell). Extra options go after the defaults, so --cpus,
# --memory and the like can be given here.
vm_boot() {
	_n=$1
	_t=$2
	shift 2
	if [ "$_t" = - ]; then
		_c=$GUEST_CMDLINE
	else
		_c="$GUEST_CMDLINE hearth.test=$_t"
	fi
	vm_start "$_n" --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --cmdline "$_c" "$@"
}

vm_pid() {
	cat "$CASE_DIR/$1.pid"
}

vm_running() {
	kill -0 "$(vm_pid "$1")" 2>/dev/null
}

# vm_send NAME TEXT: write TEXT and a newline to the VMM's stdin.
vm_send() {
	printf '%s\n' "$2" >"$CASE_DIR/$1.in"
}

# vm_send_raw NAME PRINTF-FORMAT: write bytes (printf escapes) to its stdin.
vm_send_raw() {
	# shellcheck disable=SC2059
	printf "$2" >"$CASE_DIR/$1.in"
}

# vm_kill NAME SIGNAL
vm_kill() {
	kill -s "$2" "$(vm_pid "$1")" 2>/dev/null
}

# vm_wait_for NAME PATTERN [TIMEOUT]
# Wait until the VM's output has a line matching the grep pattern. Returns 0
# when it does, 1 if the VMM exited without printing it, 2 on timeout.
vm_wait_for() {
	_n=$1
	_deadline=$(($(date +%s) + ${3:-$VM_TIMEOUT}))
	while :; do
		vm_has "$_n" "$2" && return 0
		if ! vm_running "$_n"; then
			vm_has "$_n" "$2" && return 0
			return 1
		fi
		[ "$(date +%s)" -lt "$_deadline" ] || return 2
		sleep 0.05
	done
}

# vm_wait_exit NAME [TIMEOUT]
# Wait for the VMM to exit; its exit status is then in VM_RC. On timeout the
# VMM is killed, VM_RC is "timeout" and the call returns 1.
vm_wait_exit() {
	_n=$1
	_p=$(vm_pid "$_n")
	_deadline=$(($(date +%s) + ${2:-$VM_TIMEOUT}))
	while kill -0 "$_p" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$_deadline" ]; then
			kill -KILL "$_p" 2>/dev/null
			wait "$_p" 2>/dev/null
			VM_RC=timeout
			vm_stop_keeper "$_n"
			return 1
		fi
		sleep 0.05
	done
	wait "$_p"
	VM_RC=$?
	vm_stop_keeper "$_n"
	return 0
}

vm_stop_keeper() {
	if [ -f "$CASE_DIR/$1.keeper" ]; then
		kill "$(cat "$CASE_DIR/$1.keeper")" 2>/dev/null
		rm -f "$CASE_DIR/$1.keeper"
	fi
}

# vm_expect_exit NAME [TIMEOUT]: wait for the VMM to exit and fail the case
# unless it exited with status 0.
vm_expect_exit() {
	vm_wait_exit "$1" "${2:-}" || fail "$1: VMM still running after ${2:-$VM_TIMEOUT}s"
	[ "$VM_RC" = 0 ] || fail "$1: VMM exited with status $VM_RC"
}

# vm_has NAME PATTERN: does the VM's output have a line matching PATTERN?
vm_has() {
	grep -q -s -e "$2" "$CASE_DIR/$1.out" "$CASE_DIR/$1.err"
}

# vm_expect NAME PATTERN [WHAT]: fail unless the output has PATTERN.
vm_expect() {
	vm_has "$1" "$2" || fail "$1: no '${3:-$2}' in its output"
}

# vm_result NAME KEY: the value of the guest's first `HEARTH-RESULT KEY=...`.
vm_result() {
	tr -d '\r' <"$CASE_DIR/$1.out" | sed -n "s/.*HEARTH-RESULT $2=//p" | head -n1
}

# vm_results NAME KEY: every value of `HEARTH-RESULT KEY=...`, one a line.
vm_results() {
	tr -d '\r' <"$CASE_DIR/$1.out" | sed -n "s/.*HEARTH-RESULT $2=//p"
}

# vm_run_test NAME TEST [hearth run options...]
# Boot the default guest with /tests/TEST.sh, wait for it to power off, and
# fail unless it reached its init and the VMM exited with status 0.
vm_run_test() {
	_rn=$1
	vm_boot "$@"
	vm_expect_exit "$_rn"
	vm_expect "$_rn" HEARTH-GUEST-READY
}

# vm_api SOCKET METHOD PATH [BODY]: one control API request (curl over the
# UNIX socket). The status is then in API_CODE, the answer in API_BODY; the
# call returns 0 for a 2xx status.
vm_api() {
	_s=$1 _m=$2 _p=$3
	if [ $# -ge 4 ]; then
		API_CODE=$(curl -s --max-time 60 --unix-socket "$_s" -o "$CASE_DIR/.api-body" \
			-w '%{http_code}' -X "$_m" -H 'Content-Type: application/json' \
			--data-binary "$4" "http://localhost$_p")
	else
		API_CODE=$(curl -s --max-time 60 --unix-socket "$_s" -o "$CASE_DIR/.api-body" \
			-w '%{http_code}' -X "$_m" "http://localhost$_p")
	fi
	API_BODY=$(cat "$CASE_DIR/.api-body" 2>/dev/null)
	echo "api: $_m $_p -> $API_CODE $API_BODY"
	case "$API_CODE" in 2??) return 0 ;; esac
	return 1
}

# vm_api_wait NAME SOCKET [TIMEOUT]: wait until the VMM NAME answers on its
# API socket; fails the case if it exits or the time runs out.
vm_api_wait() {
	_deadline=$(($(date +%s) + ${3:-$VM_TIMEOUT}))
	until [ -S "$2" ] && curl -s -o /dev/null --max-time 10 --unix-socket "$2" \
		http://localhost/version; do
		vm_running "$1" || fail "$1: the VMM exited before its API answered"
		[ "$(date +%s)" -lt "$_deadline" ] || fail "$1: no API on $2"
		sleep 0.05
	done
}
