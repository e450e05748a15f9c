#!/bin/sh
# bench/boot-run.sh RUNS: the measuring half of bench/boot (POSIX sh; runs in
# the nested host or directly on a KVM host). Boots the default guest RUNS
# times with hearth and RUNS times with Debian's QEMU (microvm), alternating,
# after one untimed warm-up boot of each. For every boot it takes the time
# from just before exec to the guest's HEARTH-GUEST-READY line on the serial
# console, and to the VMM's exit (the guest powers off at once with
# `poweroff -f`). Prints each run, then the medians side by side with the
# ratio hearth/QEMU.
#
# Environment: HEARTH_BIN, GUEST_KERNEL, GUEST_INITRD, BENCH_CMDLINE
# (default "console=ttyS0 quiet"), BENCH_MEMORY_MIB (512), BENCH_TIMEOUT
# (seconds to the marker, 120), BENCH_EXIT_TIMEOUT (seconds from the marker
# to the exit, 30; a VMM that has not exited by then is killed and its exit
# time is n/a).
runs=${1:-5}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
HEARTH_BIN=${HEARTH_BIN:-$root/build/hearth}
GUEST_KERNEL=${GUEST_KERNEL:-$root/guest/out/vmlinuz}
GUEST_INITRD=${GUEST_INITRD:-$root/guest/out/initramfs.cpio.gz}
cmdline="${BENCH_CMDLINE:-console=ttyS0 quiet} hearth.test=poweroff-now"
mem=${BENCH_MEMORY_MIB:-512}
boot_timeout=${BENCH_TIMEOUT:-120}
exit_timeout=${BENCH_EXIT_TIMEOUT:-30}

# A clock with nanoseconds: GNU date (busybox's has no %N).
if [ -x /usr/bin/date ] && [ "$(/usr/bin/date +%N)" != %N ]; then
	now_ns() { /usr/bin/date +%s%N; }
else
	echo "bench/boot: needs GNU date (+%N)" >&2
	exit 2
fi

work=$(mktemp -d /tmp/bench-boot.XXXXXX)
trap 'rm -rf "$work"' EXIT

run_hearth() {
	"$HEARTH_BIN" run --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
		--cmdline "$cmdline" --cpus 1 --memory "${mem}M"
}

run_qemu() {
	qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m "$mem" -nodefaults \
		-no-user-config -nographic -serial stdio -kernel "$GUEST_KERNEL" \
		-initrd "$GUEST_INITRD" -append "$cmdline" -no-reboot
}

# measure NAME: one boot; appends "ready_ms exit_ms" (or n/a) to $work/NAME.
measure() {
	name=$1
	rm -f "$work/fifo" "$work/t1"
	mkfifo "$work/fifo"
	{
		grep -q -m1 HEARTH-GUEST-READY && now_ns >"$work/t1"
		cat >/dev/null
	} <"$work/fifo" &
	reader=$!
	t0=$(now_ns)
	"run_$name" </dev/null >"$work/fifo" 2>&1 &
	pid=$!
	start=$(date +%s)
	deadline=$((start + boot_timeout))
	killed=
	while kill -0 "$pid" 2>/dev/null; do
		if [ -z "$t1_seen" ] && [ -s "$work/t1" ]; then
			t1_seen=1
			deadline=$(($(date +%s) + exit_timeout))
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			kill -KILL "$pid" 2>/dev/null
			killed=1
			break
		fi
		sleep 0.01
	done
	t2=$(now_ns)
	wait "$pid"
	rc=$?
	wait "$reader"
	t1_seen=
	if [ -s "$work/t1" ]; then
		ready=$((($(cat "$work/t1") - t0) / 1000000))
	else
		ready=n/a
	fi
	if [ -n "$killed" ] || [ "$ready" = n/a ]; then
		exited=n/a
	else
		exited=$(((t2 - t0) / 1000000))
	fi
	[ -n "$killed" ] || [ "$rc" -eq 0 ] || exited=n/a
	echo "$ready $exited" >>"$work/$name"
	printf '  %-7s ready %6s ms   exit %6s ms%s\n' "$name" "$ready" "$exited" \
		"$([ -n "$killed" ] && echo '   (killed: did not exit)')"
}

# shellcheck source=bench/stats.sh
. "$here/stats.sh"

have_hearth=1
if [ ! -x "$HEARTH_BIN" ]; then
	echo "bench/boot: no hearth binary at $HEARTH_BIN: measuring QEMU only"
	have_hearth=
fi
: >"$work/hearth"
: >"$work/qemu"
echo "boot: $(basename "$GUEST_KERNEL") + busybox initramfs, 1 vCPU, $mem MiB, cmdline \"$cmdline\""
echo "warm-up (not counted):"
[ -n "$have_hearth" ] && measure hearth
measure qemu
: >"$work/hearth"
: >"$work/qemu"
i=1
while [ "$i" -le "$runs" ]; do
	echo "run $i/$runs:"
	[ -n "$have_hearth" ] && measure hearth
	measure qemu
	i=$((i + 1))
done

hr=$(median 1 "$work/hearth")
qr=$(median 1 "$work/qemu")
he=$(median 2 "$work/hearth")
qe=$(median 2 "$work/qemu")
echo
echo "median of $runs runs (ms)     hearth      qemu   hearth/qemu"
printf '%-26s %8s %9s %13s\n' "exec -> HEARTH-GUEST-READY" "$hr" "$qr" "$(ratio "$hr" "$qr")"
printf '%-26s %8s %9s %13s\n' "exec -> exit (poweroff -f)" "$he" "$qe" "$(ratio "$he" "$qe")"
