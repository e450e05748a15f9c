#!/bin/bash
# A VM configured and started through the control API alone, on the local
# /dev/kvm: `hearth run --api-sock` waits, curl configures it over the UNIX
# socket, InstanceStart boots it; configuration after the start is refused.
# Usage: api_boot.sh HEARTH HELLO_GUEST ECHO_GUEST KBD_GUEST
# Exit 0 on success, 1 on failure, 77 (skip) when /dev/kvm cannot be used.
set -u
hearth=$1 hello=$2 echo_guest=$3 kbd_guest=$4

if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "SKIP: /dev/kvm is missing or not accessible"
	exit 77
fi
dir=$(mktemp -d /tmp/hearth-api-test.XXXXXX)
pid=
cleanup() {
	exec 7>&- 2>/dev/null
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
sock=$dir/api.sock
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# req METHOD PATH [BODY]: sets $code and $body.
req() {
	local data=()
	[ $# -ge 3 ] && data=(-H 'Content-Type: application/json' --data-binary "$3")
	code=$(curl -s --max-time 20 --unix-socket "$sock" -o "$dir/body" -w '%{http_code}' \
		-X "$1" "${data[@]}" "http://localhost$2")
	body=$(cat "$dir/body" 2>/dev/null)
	echo "$1 $2 -> $code $body"
}

# expect CODE METHOD PATH [BODY]
expect() {
	local want=$1
	shift
	req "$@"
	[ "$code" = "$want" ] || fail "$1 $2: status $code, expected $want"
	if [ "$want" -ge 400 ] && ! grep -q '"fault_message"' <<<"$body"; then
		fail "$1 $2: no fault_message in '$body'"
	fi
}

# Waits (bounded) until hearth answers on the socket, or fails if it died.
wait_socket() {
	for _ in $(seq 400); do
		[ -S "$sock" ] && curl -s -o /dev/null --max-time 5 --unix-socket "$sock" \
			http://localhost/version && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.025
	done
	fail "hearth did not create $sock"
	cat "$dir/err"
	exit 1
}

# Waits (bounded) for hearth to exit; sets $status.
wait_exit() {
	for _ in $(seq 600); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		fail "hearth did not exit"
		kill -9 "$pid"
	fi
	wait "$pid"
	status=$?
	pid=
}

echo "=== 1. configure and start the 'hello' guest through the API"
"$hearth" run --api-sock "$sock" </dev/null >"$dir/out" 2>"$dir/err" &
pid=$!
wait_socket
mode=$(stat -c %a "$sock")
[ "$mode" = 600 ] || fail "socket mode $mode, expected 600"
expect 200 GET /
grep -q '"state":"Not started"' <<<"$body" || fail "GET /: state is not 'Not started'"
grep -q '"app_name":"hearth"' <<<"$body" || fail "GET /: app_name is not hearth"
expect 200 GET /version
grep -q '"firecracker_version"' <<<"$body" || fail "GET /version: no firecracker_version"
expect 204 PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 64}'
expect 200 GET /machine-config
grep -q '"vcpu_count":2' <<<"$body" || fail "machine-config: vcpu_count not 2"
grep -q '"mem_size_mib":64' <<<"$body" || fail "machine-config: mem_size_mib not 64"
expect 400 PUT /actions '{"action_type": "InstanceStart"}' # no boot source yet
expect 204 PUT /boot-source "{\"kernel_image_path\": \"$hello\", \"boot_args\": \"console=ttyS0\"}"
expect 200 GET /vm/config
grep -q "\"kernel_image_path\":\"$hello\"" <<<"$body" || fail "vm/config: no kernel path"
# A second hearth on the same socket must refuse it: someone listens there.
if "$hearth" run --api-sock "$sock" </dev/null >/dev/null 2>"$dir/err2"; then
	fail "a second hearth started on a socket in use"
fi
grep -q "another process is listening" "$dir/err2" || fail "second hearth: $(cat "$dir/err2")"
expect 204 PUT /actions '{"action_type": "InstanceStart"}'
wait_exit
echo "--- exit status $status; guest output:"
cat "$dir/out"
[ "$status" = 0 ] || fail "hearth exited $status, expected 0"
grep -q "hello from the tiny guest" "$dir/out" || fail "no guest output"
[ -e "$sock" ] && fail "the socket was not removed at exit"

echo "=== 2. a running guest: configuration refused, pause/resume, metrics, then it ends"
mkfifo "$dir/in"
"$hearth" run --api-sock "$sock" <"$dir/in" >"$dir/out" 2>"$dir/err" &
pid=$!
exec 7>"$dir/in"
wait_socket
expect 204 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 32}'
expect 204 PUT /boot-source "{\"kernel_image_path\": \"$echo_guest\"}"
expect 204 PUT /metrics "{\"metrics_path\": \"$dir/metrics\"}"
truncate -s 1M "$dir/disk.img"
expect 204 PUT /drives/scratch "{\"drive_id\": \"scratch\", \"path_on_host\": \"$dir/disk.img\",
	\"is_root_device\": true, \"io_engine\": \"Sync\",
	\"rate_limiter\": {\"ops\": {\"size\": 100, \"refill_time\": 1000}}}"
expect 400 PATCH /drives/scratch '{"drive_id": "scratch"}' # before the start
# A network card where this host lets us create a tap (root and /dev/net/tun).
tap=hapi$$
tap=${tap:0:15}
nic=0
if [ "$(id -u)" = 0 ] && [ -c /dev/net/tun ]; then
	nic=1
	expect 204 PUT /network-interfaces/eth0 "{\"iface_id\": \"eth0\", \"host_dev_name\": \"$tap\",
		\"guest_mac\": \"52:54:00:aa:bb:cc\",
		\"rx_rate_limiter\": {\"bandwidth\": {\"size\": 1000, \"refill_time\": 1000}}}"
	expect 400 PATCH /network-interfaces/eth0 '{"iface_id": "eth0"}' # before the start
else
	echo "(no network card: needs root and /dev/net/tun)"
fi
expect 204 PUT /actions '{"action_type": "InstanceStart"}'
expect 200 GET /
grep -q '"state":"Running"' <<<"$body" || fail "GET / after start: not Running"
expect 400 PUT /actions '{"action_type": "InstanceStart"}'
expect 400 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}'
expect 400 PUT /boot-source "{\"kernel_image_path\": \"$hello\"}"
expect 400 PUT /drives/d1 "{\"drive_id\": \"d1\", \"path_on_host\": \"$hello\", \"is_root_device\": false}"
expect 400 PUT /entropy '{}'
expect 200 GET /machine-config
grep -q '"mem_size_mib":32' <<<"$body" || fail "machine-config changed after a refused PUT"
expect 204 PATCH /drives/scratch '{"drive_id": "scratch",
	"rate_limiter": {"bandwidth": {"size": 4096, "refill_time": 10, "one_time_burst": 1}}}'
expect 400 PATCH /drives/scratch "{\"drive_id\": \"scratch\", \"path_on_host\": \"$hello\"}"
expect 400 PATCH /drives/nothere '{"drive_id": "nothere"}'
expect 200 GET /vm/config
grep -q '"bandwidth":{"size":4096,"one_time_burst":1,"refill_time":10}' <<<"$body" ||
	fail "vm/config: the drive's new bandwidth bucket is missing"
grep -q '"ops":{"size":100,' <<<"$body" || fail "vm/config: the drive's ops bucket is gone"
grep -q '"boot_args":"console=ttyS0"' <<<"$body" || fail "vm/config: boot_args changed"
if [ $nic = 1 ]; then
	ip link show "$tap" >/dev/null 2>&1 || fail "the tap $tap does not exist while the VM runs"
	expect 204 PATCH /network-interfaces/eth0 '{"iface_id": "eth0",
		"tx_rate_limiter": {"bandwidth": {"size": 5000, "refill_time": 100}}}'
	expect 400 PATCH /network-interfaces/eth0 '{"iface_id": "eth0",
		"tx_rate_limiter": {"ops": {"size": 5, "refill_time": 100}}}'
	expect 200 GET /vm/config
	grep -q '"tx_rate_limiter":{"bandwidth":{"size":5000,"one_time_burst":0,"refill_time":100}}' \
		<<<"$body" || fail "vm/config: the card's new transmit bucket is missing"
	grep -q '"rx_rate_limiter":{"bandwidth":{"size":1000,' <<<"$body" ||
		fail "vm/config: the card's receive bucket is gone"
fi
expect 204 PATCH /vm '{"state": "Paused"}'
expect 200 GET /
grep -q '"state":"Paused"' <<<"$body" || fail "GET / after pause: not Paused"
expect 204 PATCH /vm '{"state": "Resumed"}'
expect 200 GET /
grep -q '"state":"Running"' <<<"$body" || fail "GET / after resume: not Running"
expect 204 PUT /actions '{"action_type": "FlushMetrics"}'
grep -q '"exits_to_vmm"' "$dir/metrics" || fail "no vCPU counters in the metrics: $(cat "$dir/metrics")"
grep -q '"block_scratch":{' "$dir/metrics" || fail "no drive counters in the metrics"
printf 'api-xyz q' >&7
exec 7>&-
wait_exit
echo "--- exit status $status; guest output:"
cat "$dir/out"
[ "$status" = 0 ] || fail "hearth exited $status, expected 0"
grep -q "api-xyz" "$dir/out" || fail "the guest did not echo its input"

echo "=== 3. the socket path: a regular file is not replaced, a stale socket is"
touch "$dir/file"
if "$hearth" run --api-sock "$dir/file" </dev/null >/dev/null 2>"$dir/err"; then
	fail "hearth started on a path that is a regular file"
fi
grep -q "not a socket" "$dir/err" || fail "regular file: $(cat "$dir/err")"
[ -f "$dir/file" ] || fail "the regular file was removed"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$sock"
"$hearth" run --api-sock "$sock" </dev/null >/dev/null 2>"$dir/err" &
pid=$!
wait_socket
expect 200 GET /
kill -TERM "$pid"
wait_exit
[ "$status" = 0 ] || fail "SIGTERM while waiting: exit $status, expected 0"
[ -e "$sock" ] && fail "the socket was not removed after SIGTERM"

echo "=== 4. SendCtrlAltDel reaches the guest through the i8042 keyboard"
"$hearth" run --api-sock "$sock" </dev/null >"$dir/out" 2>"$dir/err" &
pid=$!
wait_socket
expect 400 PUT /actions '{"action_type": "SendCtrlAltDel"}' # not running yet
expect 204 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 32}'
expect 204 PUT /boot-source "{\"kernel_image_path\": \"$kbd_guest\"}"
expect 204 PUT /actions '{"action_type": "InstanceStart"}'
expect 204 PUT /actions '{"action_type": "SendCtrlAltDel"}'
wait_exit
echo "--- exit status $status; guest output:"
cat "$dir/out"
[ "$status" = 0 ] || fail "hearth exited $status after Ctrl-Alt-Del, expected 0"
# Set 1 (the controller translates): Ctrl, Alt, Del pressed, then released.
grep -q "1d 38 e0 53 e0 d3 b8 9d" "$dir/out" || fail "the guest did not read Ctrl-Alt-Del"

if [ $failures -gt 0 ]; then
	echo "--- hearth stderr:"
	cat "$dir/err"
	echo "FAIL: $failures check(s) failed"
	exit 1
fi
echo PASS
