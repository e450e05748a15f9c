#!/bin/bash
# hearth's seccomp filters on a running VM (tiny guests on the local /dev/kvm):
#  - every thread of a running hearth (2 vCPUs, the event loop, the API
#    server, a disk's I/O workers) is filtered: `Seccomp: 2` in
#    /proc/PID/task/*/status, and the guest and the API still work;
#  - a forbidden call (the test-only HEARTH_TEST_SECCOMP_TRAP=KIND makes the
#    first thread of KIND call getpgrp right after its filter is in) ends
#    hearth by SIGSYS after one line naming the thread and the call;
#  - --seccomp log lets that call through; --seccomp off installs nothing.
# Usage: seccomp.sh HEARTH ECHO_GUEST
# Exit 0 on success, 1 on failure, 77 (skip) when /dev/kvm cannot be used.
set -u
hearth=$1 guest=$2

if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "SKIP: /dev/kvm is missing or not accessible"
	exit 77
fi
ulimit -c 0 # SIGSYS dumps core by default: not here
dir=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	exec 3>&- 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

truncate -s 1M "$dir/disk.img"
# Two vCPUs, an I/O-thread disk (io_engine Sync) and the API server.
cat >"$dir/vm.json" <<EOF
{
  "boot-source": {"kernel_image_path": "$guest"},
  "drives": [{"drive_id": "d0", "path_on_host": "$dir/disk.img",
              "is_root_device": false, "io_engine": "Sync"}],
  "machine-config": {"vcpu_count": 2, "mem_size_mib": 64}
}
EOF

# start ARGS...: hearth in the background on the echo guest, its input on fd 3.
start() {
	rm -f "$dir/in" "$dir/out" "$dir/err"
	mkfifo "$dir/in"
	"$hearth" run --serial stdio "$@" <"$dir/in" >"$dir/out" 2>"$dir/err" &
	pid=$!
	exec 3>"$dir/in"
}

# wait_ready: until the guest printed its prompt (bounded), or hearth died.
wait_ready() {
	for _ in $(seq 600); do
		grep -q "echo ready" "$dir/out" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	fail "the guest did not start"
	sed 's/^/    /' "$dir/err"
	return 1
}

# finish: the guest quits on 'q'; sets $status.
finish() {
	printf q >&3
	exec 3>&-
	for _ in $(seq 600); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid"
	status=$?
	pid=
}

# seccomp_fields: "NAME=Seccomp" for every thread of $pid.
seccomp_fields() {
	for t in /proc/"$pid"/task/*; do
		printf '%s=%s\n' "$(cat "$t/comm")" "$(awk '/^Seccomp:/{print $2}' "$t/status")"
	done
}

echo "=== every thread is filtered"
start --config-file "$dir/vm.json" --api-sock "$dir/api.sock"
if wait_ready; then
	fields=$(seccomp_fields)
	echo "$fields" | sed 's/^/    /'
	for want in vcpu0 vcpu1 api block-io; do
		grep -q "^$want=" <<<"$fields" || fail "no $want thread"
	done
	grep -v '=2$' <<<"$fields" | grep -q . && fail "threads without a filter (Seccomp: 2)"
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$dir/api.sock" \
		http://localhost/version)
	[ "$code" = 200 ] || fail "GET /version through the filtered API thread: $code"
	printf 'seccomp' >&3
	for _ in $(seq 200); do
		grep -q "seccomp" "$dir/out" && break
		sleep 0.05
	done
	grep -q "seccomp" "$dir/out" || fail "the guest did not echo its input"
	seccomp_fields | grep -v '=2$' | grep -q . && fail "a thread lost its filter"
fi
finish
[ "$status" = 0 ] || fail "hearth exited with $status, expected 0"
grep -q "forbidden" "$dir/err" && fail "a forbidden call: $(cat "$dir/err")"

# trap KIND NAME ARGS...: HEARTH_TEST_SECCOMP_TRAP=KIND ends hearth by SIGSYS
# with one line naming thread NAME and getpgrp.
trap_case() {
	local kind=$1 name=$2
	shift 2
	echo "=== a forbidden call from the $kind thread"
	HEARTH_TEST_SECCOMP_TRAP=$kind timeout 60 "$hearth" run --serial stdio "$@" \
		</dev/null >"$dir/out" 2>"$dir/err"
	status=$?
	sed 's/^/    /' "$dir/err"
	[ "$status" = $((128 + 31)) ] || fail "$kind: exit status $status, expected 159 (SIGSYS)"
	grep -q "^hearth: seccomp: thread $name made a forbidden system call 111 (getpgrp)" \
		"$dir/err" || fail "$kind: no line naming thread $name and getpgrp"
	[ "$(grep -c "forbidden" "$dir/err")" = 1 ] || fail "$kind: not exactly one line"
}
trap_case vcpu vcpu0 --kernel "$guest" --memory 64
trap_case vmm vmm --kernel "$guest" --memory 64
trap_case api api --kernel "$guest" --memory 64 --api-sock "$dir/api.sock"
trap_case block-io block-io --config-file "$dir/vm.json"

for mode in log off; do
	echo "=== --seccomp $mode: the same call goes through"
	HEARTH_TEST_SECCOMP_TRAP=vcpu start --kernel "$guest" --memory 64 --seccomp $mode
	if wait_ready; then
		fields=$(seccomp_fields)
		want=2
		[ $mode = off ] && want=0
		grep -v "=$want\$" <<<"$fields" | grep -q . &&
			fail "--seccomp $mode: threads with Seccomp other than $want: $fields"
	fi
	finish
	[ "$status" = 0 ] || fail "--seccomp $mode: exit status $status, expected 0"
done

echo "=== --seccomp bad"
timeout 10 "$hearth" run --kernel "$guest" --seccomp maybe </dev/null >"$dir/out" 2>"$dir/err"
status=$?
[ "$status" = 2 ] && grep -q -- "--seccomp takes on, off or log" "$dir/err" ||
	fail "--seccomp maybe: status $status, $(cat "$dir/err")"

if [ "$failures" != 0 ]; then
	echo "$failures failure(s)"
	exit 1
fi
echo PASS
