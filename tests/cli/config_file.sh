#!/bin/bash
# `hearth run --config-file` (Firecracker's JSON configuration document) and
# hearth launched as `firecracker` (a symlink) with Firecracker's arguments:
# a tiny guest boots from a document; bad documents and bad arguments end
# hearth with status 2 and one error line naming the problem (as
# `firecracker`, Firecracker's statuses: 153 for bad arguments, 152 for a
# refused document, logger or metrics, 1 for a guest that triple-faults).
# Usage: config_file.sh HEARTH HELLO_GUEST_BZIMAGE TRIPLE_FAULT_GUEST_BZIMAGE
set -u
hearth=$1 guest=$2 tf_guest=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0 cases=0
ln -s "$(realpath "$hearth")" "$tmp/firecracker"
fc=$tmp/firecracker

bad() {
	failures=$((failures + 1))
	echo "FAIL: $*"
	sed 's/^/    /' "$tmp/err"
}

# expect STATUS PATTERN -- PROGRAM ARGS...: status, one stderr line matching
# PATTERN (warnings aside), nothing on stdout.
expect() {
	local want=$1 pattern=$2
	shift 3
	cases=$((cases + 1))
	timeout 30 "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	local status=$? lines
	lines=$(grep -vc '^hearth: warning:' "$tmp/err")
	if [ "$status" != "$want" ] || [ "$lines" != 1 ] || ! grep -q -- "$pattern" "$tmp/err" ||
		[ -s "$tmp/out" ]; then
		bad "$(basename "$1") ${*:2} -> status $status (want $want), $lines stderr line(s) (want 1 matching '$pattern')"
	else
		echo "ok: $(basename "$1") ${*:2} -> $status: $(cat "$tmp/err")"
	fi
}

# boots NAME -- PROGRAM ARGS...: the hello guest runs, prints its line, exit 0.
boots() {
	local name=$1
	shift 2
	cases=$((cases + 1))
	timeout 60 "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	local status=$?
	if [ "$status" != 0 ] || ! grep -q "hello from the tiny guest" "$tmp/out"; then
		bad "$name: status $status (want 0), output: $(head -c 200 "$tmp/out")"
		return 1
	fi
	echo "ok: $name"
}

doc() { # doc NAME JSON: write a document
	printf '%s\n' "$2" >"$tmp/$1.json"
}
boot_source="\"boot-source\": {\"kernel_image_path\": \"$guest\", \"boot_args\": \"console=ttyS0\"}"
machine='"machine-config": {"vcpu_count": 1, "mem_size_mib": 64}'
head -c 1048576 /dev/zero >"$tmp/disk.img"

# --- bad documents: status 2, before any guest runs ---
doc malformed '{"boot-source": {"kernel_image_path": '
expect 2 "Invalid JSON" -- "$hearth" run --config-file "$tmp/malformed.json"
doc trailing "{$boot_source} {}"
expect 2 "Invalid JSON" -- "$hearth" run --config-file "$tmp/trailing.json"
doc array "[{$boot_source}]"
expect 2 "must be a JSON object" -- "$hearth" run --config-file "$tmp/array.json"
doc unknown_top "{$boot_source, \"frobnicate\": {}}"
expect 2 "Unknown field 'frobnicate'" -- "$hearth" run --config-file "$tmp/unknown_top.json"
doc unknown_field "{$boot_source, \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 64, \"turbo\": true}}"
expect 2 "machine-config: Unknown field 'turbo'" -- "$hearth" run --config-file "$tmp/unknown_field.json"
doc unknown_drive_field "{$boot_source, \"drives\": [{\"drive_id\": \"d0\", \"path_on_host\": \"$tmp/disk.img\", \"is_root_device\": false, \"colour\": \"red\"}]}"
expect 2 "drives\[0\]: Unknown field 'colour'" -- "$hearth" run --config-file "$tmp/unknown_drive_field.json"
doc no_boot "{$machine, \"drives\": []}"
expect 2 "Missing field 'boot-source'" -- "$hearth" run --config-file "$tmp/no_boot.json"
doc no_kernel_field '{"boot-source": {"boot_args": "console=ttyS0"}}'
expect 2 "boot-source: Missing field 'kernel_image_path'" -- "$hearth" run --config-file "$tmp/no_kernel_field.json"
doc missing_kernel "{\"boot-source\": {\"kernel_image_path\": \"$tmp/no-such-kernel\"}}"
expect 2 "boot-source: kernel_image_path $tmp/no-such-kernel: No such file" -- "$hearth" run --config-file "$tmp/missing_kernel.json"
doc not_kernel "{\"boot-source\": {\"kernel_image_path\": \"$tmp/disk.img\"}}"
expect 2 "neither a bzImage nor an ELF" -- "$hearth" run --config-file "$tmp/not_kernel.json"
doc vcpu_string "{$boot_source, \"machine-config\": {\"vcpu_count\": \"2\", \"mem_size_mib\": 64}}"
expect 2 "machine-config: Field 'vcpu_count' must be an integer" -- "$hearth" run --config-file "$tmp/vcpu_string.json"
doc vcpu_range "{$boot_source, \"machine-config\": {\"vcpu_count\": 33, \"mem_size_mib\": 64}}"
expect 2 "Field 'vcpu_count' must be from 1 to 32" -- "$hearth" run --config-file "$tmp/vcpu_range.json"
doc drives_object "{$boot_source, \"drives\": {\"drive_id\": \"d0\"}}"
expect 2 "Field 'drives' must be an array" -- "$hearth" run --config-file "$tmp/drives_object.json"
doc drive_not_object "{$boot_source, \"drives\": [\"d0\"]}"
expect 2 "drives\[0\]: must be a JSON object" -- "$hearth" run --config-file "$tmp/drive_not_object.json"
doc drive_no_id "{$boot_source, \"drives\": [{\"path_on_host\": \"$tmp/disk.img\", \"is_root_device\": false}]}"
expect 2 "drives\[0\]: Missing field 'drive_id'" -- "$hearth" run --config-file "$tmp/drive_no_id.json"
doc drive_root_bool "{$boot_source, \"drives\": [{\"drive_id\": \"d0\", \"path_on_host\": \"$tmp/disk.img\", \"is_root_device\": \"yes\"}]}"
expect 2 "drives\[0\]: Field 'is_root_device' must be a boolean" -- "$hearth" run --config-file "$tmp/drive_root_bool.json"
doc drive_missing_file "{$boot_source, \"drives\": [{\"drive_id\": \"d0\", \"path_on_host\": \"$tmp/disk.img\", \"is_root_device\": false}, {\"drive_id\": \"d1\", \"path_on_host\": \"$tmp/none.img\", \"is_root_device\": false}]}"
expect 2 "drives\[1\]: path_on_host $tmp/none.img: No such file" -- "$hearth" run --config-file "$tmp/drive_missing_file.json"
doc two_roots "{$boot_source, \"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"$tmp/disk.img\", \"is_root_device\": true}, {\"drive_id\": \"b\", \"path_on_host\": \"$tmp/disk.img\", \"is_root_device\": true}]}"
expect 2 "drives\[1\]: A root block device already exists" -- "$hearth" run --config-file "$tmp/two_roots.json"
doc nic_bad_mac "{$boot_source, \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": \"zz\"}]}"
expect 2 "network-interfaces\[0\]: Field 'guest_mac'" -- "$hearth" run --config-file "$tmp/nic_bad_mac.json"
doc vsock "{$boot_source, \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"$tmp/v.sock\"}}"
expect 2 "'vsock' is not supported by hearth" -- "$hearth" run --config-file "$tmp/vsock.json"
doc smt "{$boot_source, \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 64, \"smt\": true}}"
expect 2 "Field 'smt'" -- "$hearth" run --config-file "$tmp/smt.json"
doc metrics_no_path "{$boot_source, \"metrics\": {}}"
expect 2 "metrics: Missing field 'metrics_path'" -- "$hearth" run --config-file "$tmp/metrics_no_path.json"
expect 2 "cannot open it: No such file" -- "$hearth" run --config-file "$tmp/absent.json"
expect 2 "cannot read it" -- "$hearth" run --config-file "$tmp"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$tmp/huge.json"
expect 2 "larger than 1048576 bytes" -- "$hearth" run --config-file "$tmp/huge.json"
doc ok "{$boot_source, $machine, \"drives\": []}"
expect 2 "cannot be used together" -- "$hearth" run --config-file "$tmp/ok.json" --kernel "$guest"
expect 2 "needs a value" -- "$hearth" run --config-file

# --- firecracker's arguments: errors ---
expect 153 "^firecracker: --no-api needs --config-file" -- "$fc" --no-api
expect 153 "^firecracker: unknown option '--frobnicate'" -- "$fc" --no-api --config-file "$tmp/ok.json" --frobnicate
expect 153 "^firecracker: unknown option '--kernel'" -- "$fc" --kernel "$guest"
expect 153 "option '--seccomp-filter' of Firecracker is not supported" -- "$fc" --seccomp-filter /x --no-api --config-file "$tmp/ok.json"
expect 153 "option '--metadata' of Firecracker is not supported" -- "$fc" --metadata /x
expect 153 "needs a value" -- "$fc" --no-api --config-file
expect 153 "unexpected argument 'extra'" -- "$fc" --no-api --config-file "$tmp/ok.json" extra
expect 153 "--id 'bad id'" -- "$fc" --id "bad id" --no-api --config-file "$tmp/ok.json"
expect 152 "the logger: Field 'level': 'Loud'" -- "$fc" --no-api --config-file "$tmp/ok.json" --level Loud
expect 152 "the logger: log_path $tmp/no/dir/log" -- "$fc" --no-api --config-file "$tmp/ok.json" --log-path "$tmp/no/dir/log"
expect 152 "the metrics: metrics_path" -- "$fc" --no-api --config-file "$tmp/ok.json" --metrics-path "$tmp/no/dir/m"
expect 152 "Unknown field 'frobnicate'" -- "$fc" --no-api --config-file "$tmp/unknown_top.json"
cases=$((cases + 1))
if "$fc" --version | grep -q '^Firecracker v.* (hearth ' && "$fc" --help | grep -q -- '--config-file'; then
	echo "ok: firecracker --version, --help"
else
	failures=$((failures + 1))
	echo "FAIL: firecracker --version / --help"
fi

# --- booting the tiny guest (local /dev/kvm) ---
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	boots "hearth run --config-file" -- "$hearth" run --config-file "$tmp/ok.json"
	# Every section hearth takes, Firecracker's null sections, a root drive.
	doc full "{$boot_source, $machine,
		\"drives\": [{\"drive_id\": \"rootfs\", \"path_on_host\": \"$tmp/disk.img\",
			\"is_root_device\": true, \"is_read_only\": true, \"io_engine\": \"Sync\"}],
		\"network-interfaces\": [], \"entropy\": {},
		\"logger\": {\"log_path\": \"$tmp/log\", \"level\": \"Info\"},
		\"metrics\": {\"metrics_path\": \"$tmp/metrics\"},
		\"balloon\": null, \"vsock\": null, \"mmds-config\": null}"
	boots "a document with every section" -- "$hearth" run --config-file "$tmp/full.json"
	cases=$((cases + 1))
	if [ -f "$tmp/metrics" ] && grep -q "hearth" "$tmp/log"; then
		echo "ok: the logger's and metrics' files were opened (log: $(wc -l <"$tmp/log") lines)"
	else
		bad "the document's logger/metrics files: $(ls "$tmp")"
	fi
	# The serial section: the guest's output goes to the file.
	doc serial "{$boot_source, $machine, \"serial\": {\"serial_out_path\": \"$tmp/serial.out\"}}"
	cases=$((cases + 1))
	timeout 60 "$hearth" run --config-file "$tmp/serial.json" </dev/null >"$tmp/out" 2>"$tmp/err"
	status=$?
	if [ "$status" = 0 ] && grep -q "hello from the tiny guest" "$tmp/serial.out" &&
		! grep -q "hello from" "$tmp/out"; then
		echo "ok: serial_out_path"
	else
		bad "serial_out_path: status $status, file: $(cat "$tmp/serial.out" 2>/dev/null)"
	fi
	boots "firecracker --no-api --config-file" -- "$fc" --no-api --config-file "$tmp/ok.json" \
		--id fc-test --boot-timer --start-time-us 1 --no-seccomp
	grep -q "VM fc-test" "$tmp/err" || bad "--id fc-test is not the VM's name"
	boots "firecracker --no-api, logger and metrics from the arguments" -- "$fc" --no-api \
		--config-file "$tmp/ok.json" --level Debug --log-path "$tmp/fc.log" \
		--metrics-path "$tmp/fc.metrics"
	cases=$((cases + 1))
	if [ -f "$tmp/fc.metrics" ] && grep -q "info: stopping" "$tmp/fc.log"; then
		echo "ok: --log-path (Debug level, info lines: $(wc -l <"$tmp/fc.log") lines) and --metrics-path"
	else
		bad "--log-path/--metrics-path: log holds: $(head -c 300 "$tmp/fc.log" 2>/dev/null)"
	fi
	cases=$((cases + 1))
	if grep -q '"exits_to_vmm"' "$tmp/fc.metrics"; then
		echo "ok: --no-api: the metrics line written at exit"
	else
		bad "--no-api: no metrics line at exit: $(head -c 300 "$tmp/fc.metrics")"
	fi
	# A guest that triple-faults: hearth run's status 3, Firecracker's generic 1.
	doc tf "{\"boot-source\": {\"kernel_image_path\": \"$tf_guest\"}, $machine}"
	for run in "3 $hearth run" "1 $fc --no-api"; do
		cases=$((cases + 1))
		# shellcheck disable=SC2086
		timeout 60 ${run#* } --config-file "$tmp/tf.json" </dev/null >"$tmp/out" 2>"$tmp/err"
		status=$?
		if [ "$status" = "${run%% *}" ]; then
			echo "ok: triple fault under '$(basename "${run#* }")' -> $status"
		else
			bad "triple fault under '${run#* }': status $status (want ${run%% *})"
		fi
	done
	# With the API: the document boots at once, the socket goes away at exit.
	boots "firecracker --api-sock --config-file" -- "$fc" --api-sock "$tmp/fc.sock" \
		--config-file "$tmp/ok.json"
	cases=$((cases + 1))
	if [ -e "$tmp/fc.sock" ]; then
		bad "the API socket is left behind"
	else
		echo "ok: the API socket is removed at exit"
	fi
else
	echo "note: /dev/kvm not accessible: the boots are left out"
fi

# Fatal signals under the name `firecracker`: Firecracker's statuses. The
# API-only process waits for its configuration; the signal is sent once its
# socket exists. A forbidden system call (the test hook makes the API thread
# make one) gives 148.
fatal() { # fatal STATUS SIGNAL|seccomp
	local want=$1 how=$2 pid status
	cases=$((cases + 1))
	rm -f "$tmp/sig.sock"
	if [ "$how" = seccomp ]; then
		HEARTH_TEST_SECCOMP_TRAP=api "$fc" --api-sock "$tmp/sig.sock" </dev/null >"$tmp/out" 2>"$tmp/err" &
	else
		"$fc" --api-sock "$tmp/sig.sock" </dev/null >"$tmp/out" 2>"$tmp/err" &
	fi
	pid=$!
	for _ in $(seq 200); do
		[ -S "$tmp/sig.sock" ] || ! kill -0 "$pid" 2>/dev/null && break
		sleep 0.05
	done
	[ "$how" = seccomp ] || kill -"$how" "$pid"
	wait "$pid"
	status=$?
	if [ "$status" = "$want" ] && grep -q "${3:-SIG$how}" "$tmp/err"; then
		echo "ok: firecracker and $how -> $status: $(tail -n1 "$tmp/err")"
	else
		bad "firecracker and $how: status $status (want $want), stderr: $(cat "$tmp/err")"
	fi
}
fatal 149 BUS
fatal 150 SEGV
fatal 151 XFSZ
fatal 154 XCPU
fatal 157 ILL
fatal 148 seccomp "made a forbidden system call"

echo "$cases cases, $failures failed"
[ $failures = 0 ]
