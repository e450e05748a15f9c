#!/bin/bash
# hearth jail on the local /dev/kvm, as root. A jailed hearth runs the echo
# tiny guest, which waits on the UART; while it waits, its /proc/PID files are
# read from outside: user, group, no_new_privs, capabilities, namespaces,
# cgroup and limits, environment, open files, the files its root holds, and
# the flags of its guest memory. Then it gets input and must echo it. Limits
# that are too small must end it with an error, never a hang; bad arguments
# get one line and status 2 (or 1).
# Usage: jail.sh HEARTH ECHO_GUEST HELLO_GUEST BLK_POLL_GUEST PATTERN_GUEST
# Exit 0 on success, 1 on failure, 77 (skip) without root or /dev/kvm.
set -u
hearth=$(realpath "$1") echo_guest=$(realpath "$2") hello_guest=$(realpath "$3")
blk_guest=$(realpath "$4") pattern_guest=$(realpath "$5")

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: hearth jail needs root"
	exit 77
fi
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "SKIP: /dev/kvm is missing or not accessible"
	exit 77
fi
uid=54321 gid=54322
tmp=$(mktemp -d)
base=$tmp/jails
netns=hearth-jail-test-$$
jailer=
failures=0 checks=0
cleanup() {
	[ -n "$jailer" ] && kill -KILL "$jailer" 2>/dev/null
	ip netns del "$netns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
# Runs under ASan: say so (nothing is skipped for it; the jail has a /proc).
ldd "$hearth" | grep -q libasan && echo "note: $hearth is an ASan build"

check() { # check DESCRIPTION COMMAND...: the command must succeed
	local what=$1
	shift
	checks=$((checks + 1))
	if "$@"; then
		echo "ok: $what"
	else
		echo "FAIL: $what"
		failures=$((failures + 1))
	fi
}

run_extra=() # more `hearth run` options for start_echo
# start_echo ID [JAIL OPTIONS...]: a jailed hearth on the echo guest; waits for
# the guest's "echo ready" line; sets $pid (the jailed hearth) and $jailer.
start_echo() {
	local id=$1 line
	shift
	rm -f "$tmp/in" "$tmp/out"
	mkfifo "$tmp/in" "$tmp/out"
	exec 3<>"$tmp/in"
	# fd 7 is an inherited descriptor the jailed hearth must not have.
	env HEARTH_JAIL_TEST_SECRET=1 timeout -k 10 60 "$hearth" jail --id "$id" --exec-file "$hearth" \
		--uid $uid --gid $gid --chroot-base-dir "$base" "$@" -- \
		run --kernel "$echo_guest" --memory 72 "${run_extra[@]}" <"$tmp/in" >"$tmp/out" \
		2>"$tmp/err" 7</etc/hostname &
	jailer=$!
	exec 4<"$tmp/out"
	pid=
	while IFS= read -r -t 30 line <&4; do
		case $line in *"echo ready"*) pid=$(cat "$base/hearth/$id/hearth.pid"); break ;; esac
	done
	[ -n "$pid" ] || { echo "FAIL: the jailed guest never said 'echo ready'"; cat "$tmp/err"; }
}

# finish_echo TEXT: type TEXT and 'q'; the guest echoes and resets; sets $status, $echoed.
finish_echo() {
	printf '%sq' "$1" >&3
	echoed=$(cat <&4)
	wait "$jailer"
	status=$?
	jailer=
	exec 3>&- 4<&-
}

# The file a group of /proc/PID/cgroup holds for CONTROLLER ("" for v2): its directory.
cgroup_dir() {
	local pid=$1 ctl=$2 path mnt
	if [ -n "$ctl" ] && path=$(grep -E "^[0-9]+:([^:]*,)?$ctl(,[^:]*)?:" "/proc/$pid/cgroup"); then
		mnt=$(awk -v c="$ctl" '$9 == "cgroup" && ("," $NF ",") ~ ("," c ",") {print $5; exit}' \
			/proc/self/mountinfo)
	else
		path=$(grep '^0::' "/proc/$pid/cgroup")
		mnt=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
	fi
	echo "$mnt${path#*:*:}"
}

# What the jail's root must hold: the exec file, the guest, the libraries the loader
# names, /dev's nodes, /run and /proc.
expected_root() {
	{
		echo .
		echo "./$(basename "$hearth")"
		echo "./$(basename "$echo_guest")"
		printf './%s\n' dev dev/kvm dev/net dev/null dev/urandom run proc
		[ -c /dev/net/tun ] && echo ./dev/net/tun
		ldd "$hearth" | grep -o '/[^ ]*' | while read -r lib; do
			while [ "$lib" != / ] && [ -n "$lib" ]; do
				echo ".$lib"
				lib=$(dirname "$lib")
			done
		done
	} | sort -u
}

# --- a jailed guest runs; inspected from outside while it waits for input
v1_memory=$(awk '$9 == "cgroup" && $NF ~ /(^|,)memory(,|$)/ {print $5; exit}' /proc/self/mountinfo)
mem_opt=()
[ -n "$v1_memory" ] && mem_opt=(--cgroup memory.limit_in_bytes=1G --cgroup-version 1)
# A CPU quota of half a CPU, in the file of whichever hierarchy has the cpu controller.
v1_cpu=$(awk '$9 == "cgroup" && $NF ~ /(^|,)cpu(,|$)/ {print $5; exit}' /proc/self/mountinfo)
v2_root=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
cpu_opt=() cpu_file= cpu_want=
if [ -n "$v1_cpu" ]; then
	cpu_opt=(--cgroup cpu.cfs_period_us=100000 --cgroup cpu.cfs_quota_us=50000)
	cpu_file=cpu.cfs_quota_us cpu_want=50000
elif [ -z "$v1_memory" ] && grep -qw cpu "$v2_root/cgroup.controllers" 2>/dev/null; then
	cpu_opt=(--cgroup "cpu.max=50000 100000")
	cpu_file=cpu.max cpu_want="50000 100000"
else
	echo "note: no cgroup hierarchy has the cpu controller; the CPU quota is not tested"
fi
start_echo jail-test-1 --cgroup pids.max=64 "${mem_opt[@]}" "${cpu_opt[@]}" \
	--resource-limit no-file=512
if [ -n "$pid" ]; then
	st=/proc/$pid/status
	check "runs as uid $uid" grep -qP "^Uid:\t$uid\t$uid\t$uid\t$uid$" $st
	check "runs as gid $gid, no supplementary groups" \
		bash -c "grep -qP '^Gid:\t$gid\t$gid\t$gid\t$gid$' $st && grep -qP '^Groups:\t?\s*$' $st"
	check "NoNewPrivs is 1" grep -qP '^NoNewPrivs:\t1$' $st
	check "no capabilities, none in the bounding set" \
		bash -c "grep -qP '^CapEff:\t0+$' $st && grep -qP '^CapBnd:\t0+$' $st && grep -qP '^CapPrm:\t0+$' $st"
	for ns in mnt pid ipc uts cgroup; do
		check "its $ns namespace is not the host's" \
			test "$(readlink /proc/$pid/ns/$ns)" != "$(readlink /proc/self/ns/$ns)"
	done
	check "it keeps the host's network namespace without --netns" \
		test "$(readlink /proc/$pid/ns/net)" = "$(readlink /proc/self/ns/net)"
	check "it is PID 2 of its PID namespace (after the jail's init)" grep -qP '^NSpid:\t[0-9]+\t2$' $st
	dir=$(cgroup_dir "$pid" pids)
	check "its cgroup is named after the id: $dir" test "${dir##*/}" = jail-test-1
	check "pids.max of its cgroup is 64" test "$(cat "$dir/pids.max" 2>/dev/null)" = 64
	check "it is in that cgroup" grep -qx "$pid" "$dir/cgroup.procs"
	if [ -n "$v1_memory" ]; then
		mdir=$(cgroup_dir "$pid" memory)
		check "memory.limit_in_bytes of its memory cgroup is 1G" \
			test "$(cat "$mdir/memory.limit_in_bytes")" = $((1 << 30))
	fi
	if [ -n "$cpu_file" ]; then
		cdir=$(cgroup_dir "$pid" "$([ -n "$v1_cpu" ] && echo cpu)")
		check "$cpu_file of its cgroup ($cdir) is '$cpu_want'" \
			test "$(cat "$cdir/$cpu_file" 2>/dev/null)" = "$cpu_want"
		check "that cgroup is named after the id" test "${cdir##*/}" = jail-test-1
		check "it is in that cgroup" grep -qx "$pid" "$cdir/cgroup.procs"
	fi
	check "open files limited to 512" grep -qE '^Max open files +512 +512 ' /proc/$pid/limits
	fsize=$(awk '/^Max file size/ {print $4}' /proc/$pid/limits)
	check "file size limited, above the guest memory ($fsize bytes)" \
		test "$fsize" -gt $((72 << 20)) -a "$fsize" -lt $((1 << 40))
	check "its environment is empty" test "$(tr -d '\0' </proc/$pid/environ | wc -c)" = 0
	check "it did not inherit fd 7" bash -c "! ls -l /proc/$pid/fd | grep -q hostname"
	root_now=$(cd /proc/$pid/root && find . -path ./proc -prune -print -o -print | sort)
	check "its root holds only the granted files" test "$root_now" = "$(expected_root)"
	[ "$root_now" = "$(expected_root)" ] ||
		diff <(echo "$root_now") <(expected_root) | sed 's/^/    /'
	check "/dev/kvm in the jail is 10:232, the jail user's, mode 600" \
		test "$(stat -c '%u %g %a %t:%T' /proc/$pid/root/dev/kvm)" = "$uid $gid 600 a:e8"
	check "/run in the jail belongs to the jail user" \
		test "$(stat -c '%u %g' /proc/$pid/root/run)" = "$uid $gid"
	check "its /proc shows only the jail's init and itself, no /proc/sys" \
		test "$(ls /proc/$pid/root/proc | grep -E '^[0-9]+$' | sort -n | tr '\n' ' ')" = "1 2 " -a \
		! -e /proc/$pid/root/proc/sys
	# Guest RAM (72 MiB): excluded from core dumps (dd), never mergeable by KSM (mg).
	flags=$(awk '/^Size:/ {size = $2} /^VmFlags:/ && size == 73728 {print}' /proc/$pid/smaps)
	check "guest memory is MADV_DONTDUMP: $flags" grep -qw dd <<<"$flags"
	check "no mapping is offered to KSM" bash -c "! grep -E '^VmFlags:.* mg( |$)' /proc/$pid/smaps"
	check "a second jailer with the same id is refused (status 1, in use)" \
		bash -c "'$hearth' jail --id jail-test-1 --exec-file '$hearth' --uid $uid --gid $gid \
			--chroot-base-dir '$base' -- run --kernel '$hello_guest' 2>&1 >/dev/null |
			grep -q '^hearth jail: jail jail-test-1 is in use'; test \${PIPESTATUS[0]} = 1"
	finish_echo jail-ok
	check "the jailed guest echoed its input and hearth exited 0 (status $status)" \
		bash -c "test $status = 0 && grep -q jail-ok <<<'$echoed'"
	check "its cgroup is removed after it exits" test ! -e "$dir"
fi

# --- --netns: the jailed hearth is in that network namespace
if ip netns add "$netns" 2>/dev/null; then
	run_extra=(--api-sock /run/api.sock)
	start_echo jail-test-2 --netns /run/netns/$netns --new-pid-ns
	run_extra=()
	if [ -n "$pid" ]; then
		check "--netns: it is in the given network namespace" \
			test "$(stat -L -c %i /proc/$pid/ns/net)" = "$(stat -L -c %i /run/netns/$netns)"
		sock=$base/hearth/jail-test-2/root/run/api.sock
		if command -v curl >/dev/null; then
			info=$(curl -s --max-time 10 --unix-socket "$sock" http://localhost/)
			check "its API socket /run/api.sock answers from the host at <root>/run: $info" \
				grep -q '"id":"jail-test-2","state":"Running"' <<<"$info"
		else
			check "its API socket is at <root>/run/api.sock (no curl to ask it)" test -S "$sock"
		fi
		finish_echo netns-ok
		check "--netns: the guest echoed (status $status)" \
			bash -c "test $status = 0 && grep -q netns-ok <<<'$echoed'"
	fi
else
	echo "note: ip netns add failed; --netns not tested"
fi

# --- --daemonize: the jailer returns at once; hearth has its own session, I/O on /dev/null
timeout -k 10 30 "$hearth" jail --id jail-test-3 --exec-file "$hearth" --uid $uid --gid $gid \
	--chroot-base-dir "$base" --daemonize -- run --kernel "$echo_guest" --memory 72 \
	</dev/null >"$tmp/dout" 2>"$tmp/derr"
status=$?
check "--daemonize: the jailer exits 0 (status $status)" test $status = 0
dpid=$(cat "$base/hearth/jail-test-3/hearth.pid" 2>/dev/null)
if [ -n "$dpid" ] && [ -d /proc/$dpid ]; then
	check "--daemonize: hearth leads its own session" \
		test "$(awk '{print $6}' /proc/$dpid/stat)" = "$dpid"
	check "--daemonize: its standard I/O is /dev/null" \
		test "$(readlink /proc/$dpid/fd/0 /proc/$dpid/fd/1 /proc/$dpid/fd/2 | sort -u)" = /dev/null
	check "--daemonize: a second jail with its id is refused while it runs" \
		bash -c "'$hearth' jail --id jail-test-3 --exec-file '$hearth' --uid $uid --gid $gid \
			--chroot-base-dir '$base' -- run --kernel '$hello_guest' 2>&1 >/dev/null |
			grep -q '^hearth jail: jail jail-test-3 is in use: its cgroup'"
	ddirs=("$(cgroup_dir "$dpid" pids)" "$(cgroup_dir "$dpid" "")")
	kill -KILL "$dpid"
	timeout 10 tail --pid="$dpid" -f /dev/null
	# A daemonized jail's group is left to its user: remove it.
	for d in "${ddirs[@]}"; do
		[ "${d##*/}" = jail-test-3 ] && rmdir "$d"
	done
else
	check "--daemonize: hearth runs after the jailer returned" false
fi

# --- disks: bind-mounted into the jail; writable for the jail's user, or read-only
head -c 1M /dev/urandom >"$tmp/rw.img"
cp "$tmp/rw.img" "$tmp/rw.orig"
chown $uid:$gid "$tmp/rw.img"
timeout -k 10 60 "$hearth" jail --id jail-test-6 --exec-file "$hearth" --uid $uid --gid $gid \
	--chroot-base-dir "$base" -- run --kernel "$blk_guest" --memory 72 --transport mmio \
	--disk path="$tmp/rw.img",serial=jailed-disk </dev/null >"$tmp/kout" 2>"$tmp/kerr"
status=$?
check "a jailed guest writes its disk (status $status, BLK-OK, serial, image changed)" \
	bash -c "test $status = 0 && grep -q '^BLK-OK$' '$tmp/kout' &&
		grep -q '^blk: id=jailed-disk$' '$tmp/kout' && ! cmp -s '$tmp/rw.img' '$tmp/rw.orig'"
cp "$tmp/rw.orig" "$tmp/ro.img"
chmod 644 "$tmp/ro.img"
timeout -k 10 60 "$hearth" jail --id jail-test-6 --exec-file "$hearth" --uid $uid --gid $gid \
	--chroot-base-dir "$base" -- run --kernel "$blk_guest" --memory 72 --transport mmio \
	--disk path="$tmp/ro.img",readonly=on </dev/null >"$tmp/kout" 2>"$tmp/kerr"
status=$?
check "a read-only disk of root's stays unchanged (status $status, write refused)" \
	bash -c "test $status = 0 && grep -q '^BLK-FAIL write status=01$' '$tmp/kout' &&
		cmp -s '$tmp/ro.img' '$tmp/rw.orig'"

# --- options written --name=VALUE are rewritten too
timeout -k 10 60 "$hearth" jail --id jail-test-7 --exec-file "$hearth" --uid $uid --gid $gid \
	--chroot-base-dir "$base" -- run --kernel="$hello_guest" --memory=72 --cpus=1 --rng=off \
	--transport=mmio --seccomp=on --shutdown-timeout=5 </dev/null >"$tmp/jout" 2>"$tmp/jerr"
status=$?
check "run options as --name=VALUE (status $status)" \
	bash -c "test $status = 0 && grep -q 'hello from the tiny guest' '$tmp/jout'"

# --- limits: an error, not a hang
# limit_case DESCRIPTION WANT_STATUS STDERR_PATTERN JAIL_OPTIONS...
limit_case() {
	local what=$1 want=$2 pattern=$3
	shift 3
	timeout -k 10 60 "$hearth" jail --id jail-test-4 --exec-file "$hearth" --uid $uid --gid $gid \
		--chroot-base-dir "$base" "$@" -- run --kernel "$limit_guest" --memory 72 "${limit_run[@]}" \
		</dev/null >"$tmp/lout" 2>"$tmp/lerr"
	local status=$?
	check "$what: status $status (want $want), stderr '$pattern'" \
		bash -c "test $status = $want && grep -q '$pattern' '$tmp/lerr'"
	[ "$status" = "$want" ] || sed 's/^/    /' "$tmp/lerr"
}
limit_guest=$hello_guest limit_run=()
limit_case "pids.max=1: no vCPU thread" 1 "cannot start vCPU 0 thread: Resource temporarily unavailable" \
	--cgroup pids.max=1
limit_case "no-file=6: no file descriptors" 1 "Too many open files" --resource-limit no-file=6
# 4 vCPUs: the jail's init and hearth take 2 tasks, each vCPU thread one more, and
# KVM's own worker for the VM (kvm-nx-lpage-recovery, started at the first
# KVM_RUN) one. Too few: the thread that does not fit fails, the vCPUs already
# started stop, hearth exits 1 (the `timeout 60` turns a hang into 124).
limit_run=(--cpus 4)
limit_case "pids.max=4, 4 vCPUs: vCPU 2's thread fails, the others stop" 1 \
	"cannot start vCPU 2 thread: Resource temporarily unavailable" --cgroup pids.max=4
grep -q "hello from the tiny guest" "$tmp/lout" && check "pids.max=4: no guest output" false
limit_case "pids.max=6, 4 vCPUs: every vCPU starts, KVM's worker cannot" 1 \
	"vCPU 0: KVM_RUN failed with EAGAIN .* pids.max" --cgroup pids.max=6
limit_case "pids.max=7, 4 vCPUs: enough, the guest runs" 0 "4 vCPUs, 72 MiB" --cgroup pids.max=7
check "pids.max=7: the guest said hello" grep -q "hello from the tiny guest" "$tmp/lout"
limit_run=()
# 2 MiB: hearth is stopped either by the OOM killer (SIGKILL: 137, and the
# jailer names the signal) or, when a kernel allocation charged to the
# cgroup fails first (KVM's vCPU, say), by its own error naming it (1);
# which comes first varies from run to run.
two_mib=()
if [ -n "$v1_memory" ]; then
	two_mib=(memory.limit_in_bytes=2M)
elif grep -qw memory "$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)/cgroup.controllers"; then
	two_mib=(memory.max=2M)
fi
if [ ${#two_mib[@]} -gt 0 ]; then
	timeout -k 10 60 "$hearth" jail --id jail-test-4 --exec-file "$hearth" --uid $uid --gid $gid \
		--chroot-base-dir "$base" --cgroup "${two_mib[0]}" -- run --kernel "$limit_guest" \
		--memory 72 </dev/null >"$tmp/lout" 2>"$tmp/lerr"
	status=$?
	check "${two_mib[0]}: stopped, and told why (status $status: 137 and the jailer names the signal, or 1 and hearth names the failed allocation)" \
		bash -c "{ test $status = 137 && grep -q 'hearth jail: hearth was killed by signal 9' '$tmp/lerr'; } ||
			{ test $status = 1 && grep -q 'Cannot allocate memory' '$tmp/lerr'; }"
	[ "$status" = 137 ] || [ "$status" = 1 ] || sed 's/^/    /' "$tmp/lerr"
fi
# A limit hearth starts under but the guest's memory does not fit in: the pattern
# guest (72 MiB) writes all its RAM; at 48 MiB the kernel's OOM killer ends hearth
# by SIGKILL, every time (this machine has no swap to page out to). The guest
# started (it printed "pattern: filling") and never finished filling.
mem_limit=()
if [ -n "$v1_memory" ]; then
	mem_limit=(--cgroup memory.limit_in_bytes=48M)
elif grep -qw memory "$v2_root/cgroup.controllers" 2>/dev/null; then
	mem_limit=(--cgroup memory.max=48M --cgroup memory.swap.max=0)
fi
if [ ${#mem_limit[@]} != 0 ]; then
	limit_guest=$pattern_guest
	limit_case "${mem_limit[1]}, a guest filling 72 MiB: OOM-killed, the jailer says so" 137 \
		"hearth jail: hearth was killed by signal 9" "${mem_limit[@]}"
	check "the guest had started filling its memory and did not finish" \
		bash -c "grep -q '^pattern: filling' '$tmp/lout' && ! grep -q 'pattern: filled' '$tmp/lout'"
	limit_guest=$hello_guest
fi

# fsize: the guest's serial output goes to a regular file; past the limit, writes fail
# with EFBIG, hearth says so once and the guest goes on.
efbig_case() { # efbig_case DESCRIPTION COMMAND...
	local what=$1
	shift
	{ head -c 6000 /dev/zero | tr '\0' x; printf q; } >"$tmp/fin"
	timeout -k 10 60 "$@" <"$tmp/fin" >"$tmp/fout" 2>"$tmp/ferr"
	local status=$?
	check "$what: status $status, output cut at 4096 bytes, EFBIG reported" \
		bash -c "test $status = 0 && test \$(stat -c %s '$tmp/fout') = 4096 &&
			grep -q 'File too large' '$tmp/ferr'"
}
efbig_case "jailed, fsize=4096" "$hearth" jail --id jail-test-5 --exec-file "$hearth" \
	--uid $uid --gid $gid --chroot-base-dir "$base" --resource-limit fsize=4096 -- \
	run --kernel "$echo_guest" --memory 72
efbig_case "not jailed, ulimit -f 4" bash -c "ulimit -f 4; exec '$hearth' run --kernel '$echo_guest' --memory 72"

# --- bad arguments: one line, status 2 (or 1), nothing started
cp "$hello_guest" "$tmp/private.bzImage"
chmod 600 "$tmp/private.bzImage"
mkdir -p "$tmp/a" "$tmp/b" "$tmp/c"
cp "$hello_guest" "$tmp/a/img"
cp "$hello_guest" "$tmp/b/img"
cp "$hello_guest" "$tmp/c/run"
truncate -s 1M "$tmp/disk.img"
chmod 644 "$tmp/disk.img"
long_id=$(printf 'a%.0s' {1..65})
expect() { # expect STATUS PATTERN ARGS...
	local want=$1 pattern=$2
	shift 2
	"$hearth" jail "$@" </dev/null >"$tmp/bout" 2>"$tmp/berr"
	local status=$? lines
	lines=$(wc -l <"$tmp/berr")
	checks=$((checks + 1))
	if [ "$status" = "$want" ] && [ "$lines" = 1 ] && grep -q -- "^hearth jail: .*$pattern" "$tmp/berr" &&
		[ ! -s "$tmp/bout" ]; then
		echo "ok: jail $* -> $status: $(cat "$tmp/berr")"
	else
		echo "FAIL: jail $* -> status $status (want $want), $lines line(s) (want 1 matching '$pattern'):"
		sed 's/^/    /' "$tmp/berr"
		failures=$((failures + 1))
	fi
}
J=(--exec-file "$hearth" --uid $uid --gid $gid --chroot-base-dir "$base")
R=(-- run --kernel "$hello_guest")
expect 2 "--id, --exec-file, --uid and --gid are required" "${J[@]}" "${R[@]}"
expect 2 "--id 'a/b' must be" --id a/b "${J[@]}" "${R[@]}"
expect 2 "--id 'a_b' must be" --id a_b "${J[@]}" "${R[@]}"
expect 2 "must be 1-64 characters" --id "$long_id" "${J[@]}" "${R[@]}"
expect 2 "--uid 0 is root" --id x --exec-file "$hearth" --uid 0 --gid $gid "${R[@]}"
expect 2 "--gid 0 is root" --id x --exec-file "$hearth" --uid $uid --gid 0 "${R[@]}"
expect 2 "--uid must be a number" --id x --exec-file "$hearth" --uid nobody --gid $gid "${R[@]}"
expect 2 "--exec-file /nonexistent/hearth: No such file" --id x --exec-file /nonexistent/hearth \
	--uid $uid --gid $gid "${R[@]}"
expect 2 "--kernel $tmp/missing: No such file" --id x "${J[@]}" -- run --kernel "$tmp/missing"
expect 2 "may not read it" --id x "${J[@]}" -- run --kernel "$tmp/private.bzImage"
expect 2 "may not read and write it" --id x "${J[@]}" "${R[@]}" --disk path="$tmp/disk.img"
expect 2 "the name 'img' is taken" --id x "${J[@]}" -- run --kernel "$tmp/a/img" --initrd "$tmp/b/img"
expect 2 "the name 'run' is taken" --id x "${J[@]}" -- run --kernel "$tmp/c/run"
expect 2 "below the largest disk image" --id x "${J[@]}" --resource-limit fsize=1000 "${R[@]}" \
	--disk path="$tmp/disk.img",readonly=on
expect 2 "--cgroup takes FILE=VALUE" --id x "${J[@]}" --cgroup memory "${R[@]}"
expect 2 "not a controller's file" --id x "${J[@]}" --cgroup ../../x.y=1 "${R[@]}"
expect 2 "not a controller's file" --id x "${J[@]}" --cgroup cgroup.procs=1 "${R[@]}"
expect 2 "no cgroup v1 hierarchy has the nosuch controller" --id x "${J[@]}" --cgroup-version 1 \
	--cgroup nosuch.max=1 "${R[@]}"
expect 2 "has no file pids.nosuch" --id x "${J[@]}" --cgroup pids.nosuch=1 "${R[@]}"
expect 2 "the cgroup v2 hierarchy at .* has no nosuch controller" --id x "${J[@]}" --cgroup-version 2 \
	--cgroup nosuch.max=1 "${R[@]}"
expect 2 "--cgroup-version takes 1 or 2" --id x "${J[@]}" --cgroup-version 3 "${R[@]}"
expect 2 "unknown resource" --id x "${J[@]}" --resource-limit core=0 "${R[@]}"
expect 2 "no-file must be" --id x "${J[@]}" --resource-limit no-file=0 "${R[@]}"
expect 2 "--netns /nonexistent: No such file" --id x "${J[@]}" --netns /nonexistent "${R[@]}"
expect 2 "not a namespace file" --id x "${J[@]}" --netns /etc/hostname "${R[@]}"
expect 2 "give '--'" --id x "${J[@]}" run --kernel "$hello_guest"
expect 2 "after '--' give 'run'" --id x "${J[@]}" -- check
expect 2 "unknown option '--bogus'" --id x "${J[@]}" --bogus "${R[@]}"
if setpriv --reuid 65534 --regid 65534 --clear-groups test -x "$hearth" 2>/dev/null; then
	checks=$((checks + 1))
	out=$(setpriv --reuid 65534 --regid 65534 --clear-groups "$hearth" jail --id x "${J[@]}" \
		"${R[@]}" 2>&1)
	status=$?
	if [ $status = 2 ] && [ "$out" = "hearth jail: must be started as root" ]; then
		echo "ok: not root -> 2: $out"
	else
		echo "FAIL: not root -> $status: $out"
		failures=$((failures + 1))
	fi
fi

echo "$((checks - failures)) of $checks checks passed"
[ $failures = 0 ]
