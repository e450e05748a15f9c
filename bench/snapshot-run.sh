#!/bin/sh
# bench/snapshot-run.sh RUNS: the Linux-guest half of bench/snapshot (POSIX
# sh; runs in the nested host or directly on a KVM host that boots stock
# kernels). The same guest (the default kernel and busybox initramfs, 1 vCPU,
# BENCH_MEMORY_MIB, default 256) is saved and restored RUNS times by hearth
# and by Debian's QEMU (-M microvm), alternating:
#
#   save     the guest's shell runs a busy loop printing "HEARTH-TICK N"
#            every 2000 rounds; then, timed: hearth's PATCH /vm Paused and
#            PUT /snapshot/create (state and memory files), QEMU's monitor
#            QMP `stop` and `migrate "exec:cat > FILE"` of the stopped
#            guest (as `virsh save` does; bandwidth unlimited) until
#            query-migrate, asked every 100 ms, says completed (its own
#            total-time printed beside);
#   restore  from exec of a fresh VMM process until the restored guest
#            prints its next tick: hearth started with --api-sock, waited
#            for, and PUT /snapshot/load with resume_vm; QEMU started with
#            -incoming "exec:cat FILE" and a QMP monitor, asked every 10 ms
#            (query-status) until the state is in, then `cont` (a guest
#            saved stopped is restored stopped).
#   load     hearth only: the PUT /snapshot/load round trip.
#
# The files are on L1's tmpfs (page cache: a warm restore). Prints each run,
# then medians side by side with the ratio hearth/QEMU.
# Environment: HEARTH_BIN, GUEST_KERNEL, GUEST_INITRD, BENCH_CMDLINE
# (default "console=ttyS0 quiet"), BENCH_MEMORY_MIB (256), BENCH_TIMEOUT
# (seconds for a boot or a restore, 300).
runs=${1:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
HEARTH_BIN=${HEARTH_BIN:-$root/build/hearth}
GUEST_KERNEL=${GUEST_KERNEL:-$root/guest/out/vmlinuz}
GUEST_INITRD=${GUEST_INITRD:-$root/guest/out/initramfs.cpio.gz}
cmdline=${BENCH_CMDLINE:-console=ttyS0 quiet}
mem=${BENCH_MEMORY_MIB:-256}
timeout=${BENCH_TIMEOUT:-300}
# The guest's busy loop; its echo on the console does not match the tick pattern.
# shellcheck disable=SC2016 # expanded by the guest's shell
loop='i=0; while :; do i=$((i+1)); [ $((i % 2000)) = 0 ] && echo "HEARTH-TICK $i"; done'
tick='HEARTH-TICK [0-9]'

if [ -x /usr/bin/date ] && [ "$(/usr/bin/date +%N)" != %N ]; then
	now_ns() { /usr/bin/date +%s%N; }
else
	echo "bench/snapshot: needs GNU date (+%N)" >&2
	exit 2
fi
command -v curl >/dev/null || { echo "bench/snapshot: needs curl" >&2; exit 2; }

work=$(mktemp -d /tmp/bench-snap.XXXXXX)
pids=
cleanup() {
	for p in $pids; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

die() {
	echo "bench/snapshot: $*" >&2
	for f in "$work"/*.log "$work"/*.err; do
		[ -s "$f" ] && { echo "--- $f"; tail -c 1500 "$f"; } >&2
	done
	exit 1
}

# wait_for PATTERN FILE: until FILE holds a line matching PATTERN (bounded).
wait_for() {
	deadline=$(($(date +%s) + timeout))
	until grep -q "$1" "$2" 2>/dev/null; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

# api SOCK METHOD PATH [BODY]: one request; fails unless it answers 2xx.
api() {
	code=$(curl -s -o "$work/api.body" -w '%{http_code}' --unix-socket "$1" -X "$2" \
		${4:+-H 'Content-Type: application/json' -d "$4"} "http://localhost$3")
	case "$code" in 2??) return 0 ;; esac
	die "$2 $3: $code $(cat "$work/api.body" 2>/dev/null)"
}

# watch NAME [PATTERN]: a reader on the fifo $work/NAME.fifo that logs it to
# $work/NAME.log and writes the clock to $work/NAME.t1 at the first line
# matching PATTERN (default: a tick). No busy polling: in the nested host
# that would take the CPU from what is measured.
watch() {
	rm -f "$work/$1.fifo" "$work/$1.t1"
	mkfifo "$work/$1.fifo"
	{
		tee "$work/$1.log" | { grep -q -m1 "${2:-$tick}" && now_ns >"$work/$1.t1"; cat >/dev/null; }
	} <"$work/$1.fifo" &
}

# wait_t1 NAME WHAT: until the clock is written (bounded).
wait_t1() {
	deadline=$(($(date +%s) + timeout))
	until [ -s "$work/$1.t1" ]; do
		[ "$(date +%s)" -lt "$deadline" ] || die "$1: $2"
		sleep 0.05
	done
}

stop() { # stop PID: end a VMM
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	pids=
}

ms() { echo $((($2 - $1) / 1000000)); }

hearth_save() {
	rm -f "$work/h.in" "$work/h.state" "$work/h.mem" "$work/h.sock"
	mkfifo "$work/h.in"
	"$HEARTH_BIN" run --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --cmdline "$cmdline" \
		--cpus 1 --memory "${mem}M" --api-sock "$work/h.sock" \
		<"$work/h.in" >"$work/h.log" 2>"$work/h.err" &
	pid=$!
	pids=$pid
	exec 3>"$work/h.in"
	wait_for HEARTH-GUEST-READY "$work/h.log" || die "hearth: the guest did not boot"
	echo "  (hearth: the guest is up)"
	echo "$loop" >&3
	wait_for "$tick" "$work/h.log" || die "hearth: the guest does not tick"
	t0=$(now_ns)
	api "$work/h.sock" PATCH /vm '{"state": "Paused"}'
	api "$work/h.sock" PUT /snapshot/create "{\"snapshot_path\": \"$work/h.state\",
		\"mem_file_path\": \"$work/h.mem\", \"snapshot_type\": \"Full\"}"
	t1=$(now_ns)
	exec 3>&-
	stop "$pid"
	save=$(ms "$t0" "$t1")
	size=$(($(du -k "$work/h.mem" | cut -f1) / 1024))
}

hearth_restore() {
	rm -f "$work/r.sock"
	watch r
	t0=$(now_ns)
	"$HEARTH_BIN" run --api-sock "$work/r.sock" </dev/null >"$work/r.fifo" 2>"$work/r.err" &
	pid=$!
	pids=$pid
	deadline=$(($(date +%s) + timeout))
	until curl -s -o /dev/null --unix-socket "$work/r.sock" http://localhost/; do
		kill -0 "$pid" 2>/dev/null || die "hearth: the restoring process ended"
		[ "$(date +%s)" -lt "$deadline" ] || die "hearth: its API did not come up"
	done
	tl=$(now_ns)
	api "$work/r.sock" PUT /snapshot/load "{\"snapshot_path\": \"$work/h.state\",
		\"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$work/h.mem\"},
		\"resume_vm\": true}"
	tl1=$(now_ns)
	wait_t1 r "no tick after the restore"
	restore=$(ms "$t0" "$(cat "$work/r.t1")")
	load=$(ms "$tl" "$tl1")
	stop "$pid"
	wait
}

qemu_common() {
	qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m "$mem" -nodefaults -no-user-config \
		-display none -no-reboot -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" \
		-append "$cmdline" "$@"
}

# qmp JSON: one QMP command over the pipes on fds 7 and 8; the reply line
# (its "return" or "error") is left in QMP_REPLY.
qmp() {
	printf '%s\n' "$1" >&7
	while :; do
		IFS= read -r -t 60 QMP_REPLY <&8 || die "qemu: QMP did not answer $1 within 60 s"
		case "$QMP_REPLY" in *'"return"'* | *'"error"'*) return 0 ;; esac
	done
}

# qmp_until COMMAND INTERVAL DONE FAILED WHAT: COMMAND every INTERVAL
# seconds until its reply matches the pattern DONE; a reply matching FAILED,
# or the time limit, ends the bench.
qmp_until() {
	deadline=$(($(date +%s) + timeout))
	while :; do
		qmp "$1"
		# shellcheck disable=SC2254 # the patterns are globs
		case "$QMP_REPLY" in
		$3) return 0 ;;
		$4) die "qemu: $5 failed: $QMP_REPLY" ;;
		esac
		[ "$(date +%s)" -lt "$deadline" ] || die "qemu: $5 did not finish: $QMP_REPLY"
		sleep "$2"
	done
}

# qemu_qmp_open: the QMP pipes of the QEMU just started (fds 7 and 8), its
# greeting read and capabilities negotiated.
qemu_qmp_open() {
	# Read-write opens of the FIFOs do not block: a QEMU that failed to
	# start is a missing greeting, not a hang.
	exec 7<>"$work/qmp.in" 8<>"$work/qmp.out"
	IFS= read -r -t 60 _ <&8 || die "qemu: no QMP greeting"
	qmp '{"execute": "qmp_capabilities"}'
}

# qemu_qmp_fifos: fresh FIFOs for the next QEMU's QMP chardev (pipe,path=qmp).
qemu_qmp_fifos() {
	rm -f "$work/qmp.in" "$work/qmp.out"
	mkfifo "$work/qmp.in" "$work/qmp.out"
}

qemu_save() {
	rm -f "$work/qser.in" "$work/q.state"
	qemu_qmp_fifos
	mkfifo "$work/qser.in"
	# The console on QEMU's stdio, as hearth's: input from a FIFO this
	# script holds open, output to the log.
	exec 4<>"$work/qser.in"
	qemu_common -serial stdio -chardev "pipe,id=qmp,path=$work/qmp" \
		-mon chardev=qmp,mode=control <"$work/qser.in" >"$work/q.log" 2>"$work/q.err" &
	pid=$!
	pids=$pid
	qemu_qmp_open
	wait_for HEARTH-GUEST-READY "$work/q.log" || die "qemu: the guest did not boot"
	echo "  (qemu: the guest is up)"
	echo "$loop" >&4
	wait_for "$tick" "$work/q.log" || die "qemu: the guest does not tick"
	echo "  (qemu: the guest ticks)"
	qmp '{"execute": "migrate-set-parameters", "arguments": {"max-bandwidth": 68719476736}}'
	case "$QMP_REPLY" in *'"error"'*) die "qemu: migrate-set-parameters: $QMP_REPLY" ;; esac
	t0=$(now_ns)
	qmp '{"execute": "stop"}'
	echo "  (qemu: stopped; saving)"
	qmp "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"exec:cat > $work/q.state\"}}"
	case "$QMP_REPLY" in *'"error"'*) die "qemu: migrate: $QMP_REPLY" ;; esac
	# query-migrate every 100 ms (one short command: little CPU taken).
	qmp_until '{"execute": "query-migrate"}' 0.1 '*"status": "completed"*' \
		'*"status": "failed"*' "the save"
	t1=$(now_ns)
	echo "  (qemu: saved)"
	qemu_own=$(echo "$QMP_REPLY" | sed -n 's/.*"total-time": *\([0-9]*\).*/\1/p')
	qmp '{"execute": "quit"}'
	exec 4>&- 7>&- 8<&-
	stop "$pid"
	wait
	save=$(ms "$t0" "$t1")
	size=$(($(du -k "$work/q.state" | cut -f1) / 1024))
}

qemu_restore() {
	watch s
	qemu_qmp_fifos
	t0=$(now_ns)
	qemu_common -serial stdio -chardev "pipe,id=qmp,path=$work/qmp" -mon chardev=qmp,mode=control \
		-incoming "exec:cat $work/q.state" </dev/null >"$work/s.fifo" 2>"$work/s.err" &
	pid=$!
	pids=$pid
	qemu_qmp_open
	# Any state but "inmigrate" or "paused" is a failure.
	qmp_until '{"execute": "query-status"}' 0.01 '*"status": "paused"*' \
		'*"status": "[!i]*' "the restore"
	qmp '{"execute": "cont"}'
	wait_t1 s "no tick after the restore"
	restore=$(ms "$t0" "$(cat "$work/s.t1")")
	exec 7>&- 8<&-
	stop "$pid"
	wait
}

# shellcheck source=bench/stats.sh
. "$here/stats.sh"

[ -x "$HEARTH_BIN" ] || die "no hearth binary at $HEARTH_BIN"
: >"$work/hearth"
: >"$work/qemu"
echo "snapshot: $(basename "$GUEST_KERNEL") + busybox initramfs, 1 vCPU, $mem MiB, a busy shell loop"
i=1
while [ "$i" -le "$runs" ]; do
	echo "run $i/$runs:"
	hearth_save
	hearth_restore
	echo "$save $restore $load $size" >>"$work/hearth"
	printf '  hearth  save %6s ms   restore %6s ms   (load request %s ms)   file %s MiB\n' \
		"$save" "$restore" "$load" "$size"
	qemu_save
	qemu_restore
	echo "$save $restore 0 $size" >>"$work/qemu"
	printf '  qemu    save %6s ms (its own total-time %s ms)   restore %6s ms   file %s MiB\n' "$save" "$qemu_own" "$restore" "$size"
	i=$((i + 1))
done

hs=$(median 1 "$work/hearth")
qs=$(median 1 "$work/qemu")
hr=$(median 2 "$work/hearth")
qr=$(median 2 "$work/qemu")
echo
echo "median of $runs runs (ms)            hearth      qemu   hearth/qemu"
printf '%-33s %8s %9s %13s\n' "save (pause + write the files)" "$hs" "$qs" "$(ratio "$hs" "$qs")"
printf '%-33s %8s %9s %13s\n' "restore: exec -> the guest ticks" "$hr" "$qr" "$(ratio "$hr" "$qr")"
printf '%-33s %8s\n' "hearth's load request" "$(median 3 "$work/hearth")"
