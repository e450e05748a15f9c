#!/bin/sh
# bench/virtio-run.sh blk|net RUNS SECONDS: the measuring half of bench/blk
# and bench/net (POSIX sh; runs in the nested host or directly on a KVM
# host). Boots the bench guest (guest/out/bench-initramfs.cpio.gz, 1 vCPU,
# 1 GiB) RUNS times with hearth and RUNS times with Debian's QEMU,
# alternating; in each boot the guest runs bench/guest/KIND.sh for SECONDS
# per figure and powers off. Prints every run, then the medians side by
# side with the ratio hearth/QEMU (above 1: hearth is faster).
#
# blk: a raw image of BENCH_DISK_MIB (256) MiB in BENCH_DIR (/tmp), the same
#   file for both: hearth --disk path=IMG,cache=C against QEMU -drive
#   file=IMG,format=raw,aio=io_uring,cache=C -device virtio-blk-pci. C is
#   BENCH_CACHE, default none where the directory takes O_DIRECT and
#   writeback where it does not (tmpfs, the nested host's root).
# net: the VMM runs in a new network namespace, where its tap appears and
#   gets 169.254.79.1/16 and an iperf3 server listens: hearth --net tap=T
#   against QEMU -netdev tap,ifname=T,vhost=off -device virtio-net-pci.
#
# Environment: HEARTH_BIN, GUEST_KERNEL, BENCH_INITRD, BENCH_QEMU_MACHINE
# (microvm,pcie=on), BENCH_TIMEOUT (seconds per boot, 900), BENCH_STRACE=1
# (each VMM under `strace -c -f`: its system calls per boot, to see where the
# time goes; slows both down, so the figures of such a run do not count).
kind=$1
runs=${2:-3}
secs=${3:-8}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
HEARTH_BIN=${HEARTH_BIN:-$root/build/hearth}
GUEST_KERNEL=${GUEST_KERNEL:-$root/guest/out/vmlinuz}
BENCH_INITRD=${BENCH_INITRD:-$root/guest/out/bench-initramfs.cpio.gz}
machine=${BENCH_QEMU_MACHINE:-microvm,pcie=on}
timeout=${BENCH_TIMEOUT:-900}
cmdline="console=ttyS0 quiet hearth.test=bench-$kind hearth.bench_seconds=$secs"
IP=/usr/bin/ip
mac=52:54:00:79:00:02

case "$kind" in
blk) figures="seqwrite_mbs seqread_mbs randread_iops" ;;
net) figures="tx_mbits rx_mbits" ;;
*)
	echo "usage: virtio-run.sh blk|net RUNS SECONDS" >&2
	exit 2
	;;
esac
work=$(mktemp -d "${BENCH_DIR:-/tmp}/bench-$kind.XXXXXX") || exit 2
ns=
cleanup() {
	[ -z "$ns" ] || "$IP" netns del "$ns" 2>/dev/null
	[ -z "${server:-}" ] || kill "$server" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ "$kind" = blk ]; then
	img=$work/disk.img
	dd if=/dev/zero of="$img" bs=1M count="${BENCH_DISK_MIB:-256}" 2>/dev/null || exit 2
	cache=${BENCH_CACHE:-}
	if [ -z "$cache" ]; then
		if dd if="$img" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; then
			cache=none
		else
			cache=writeback
		fi
	fi
	echo "blk: fio direct=1 in the guest on a ${BENCH_DISK_MIB:-256} MiB raw image in" \
		"$(dirname "$work"), cache=$cache for both, ${secs}s per figure"
else
	[ -x "$IP" ] && [ -x /usr/bin/iperf3 ] || {
		echo "net: needs /usr/bin/ip and /usr/bin/iperf3" >&2
		exit 2
	}
	ns=hbench-$$
	"$IP" netns add "$ns" || exit 2
	"$IP" -n "$ns" link set lo up
	"$IP" netns exec "$ns" /usr/bin/iperf3 -s >"$work/iperf3-server.log" 2>&1 &
	server=$!
	echo "net: iperf3 TCP, guest 169.254.79.2 <-> namespace 169.254.79.1 over a tap, ${secs}s per figure"
fi

# run_hearth, run_qemu: one boot of the bench guest, in the foreground.
run_hearth() {
	set -- "$HEARTH_BIN" run --kernel "$GUEST_KERNEL" --initrd "$BENCH_INITRD" \
		--cmdline "$cmdline" --cpus 1 --memory 1024M --rng off
	[ -z "${BENCH_STRACE:-}" ] || set -- strace -c -f -o "$work/hearth.strace" "$@"
	if [ "$kind" = blk ]; then
		"$@" --disk "path=$img,cache=$cache"
	else
		"$IP" netns exec "$ns" "$@" --net "tap=$tap,mac=$mac"
	fi
}

run_qemu() {
	set -- qemu-system-x86_64 -M "$machine" -enable-kvm -cpu host -smp 1 -m 1024 \
		-nodefaults -no-user-config -display none -no-reboot -serial stdio \
		-kernel "$GUEST_KERNEL" -initrd "$BENCH_INITRD" -append "$cmdline"
	[ -z "${BENCH_STRACE:-}" ] || set -- strace -c -f -o "$work/qemu.strace" "$@"
	if [ "$kind" = blk ]; then
		"$@" -drive "file=$img,if=none,id=d0,format=raw,aio=io_uring,cache=$cache" \
			-device virtio-blk-pci,drive=d0
	else
		"$IP" netns exec "$ns" "$@" \
			-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=off" \
			-device "virtio-net-pci,netdev=n0,mac=$mac,romfile="
	fi
}

# The tap the VMM made in the namespace: address it and bring it up.
tap_up() {
	deadline=$(($(date +%s) + 120))
	until "$IP" -n "$ns" link show "$tap" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || return 1
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.05
	done
	"$IP" -n "$ns" addr add 169.254.79.1/16 dev "$tap" &&
		"$IP" -n "$ns" link set "$tap" up
}

# measure NAME RUN: one boot; appends its figures ("n/a" where missing) to
# $work/NAME.
measure() {
	name=$1
	tap=hbt$2$name
	out=$work/$name.out
	"run_$name" </dev/null >"$out" 2>&1 &
	pid=$!
	if [ "$kind" = net ] && ! tap_up; then
		echo "  $name: its tap $tap never came up"
	fi
	deadline=$(($(date +%s) + timeout))
	killed=
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			kill -KILL "$pid" 2>/dev/null
			killed=" (killed after ${timeout}s)"
			break
		fi
		sleep 0.2
	done
	wait "$pid"
	rc=$?
	[ "$kind" = blk ] || "$IP" -n "$ns" link del "$tap" 2>/dev/null
	line=
	for f in $figures; do
		v=$(tr -d '\r' <"$out" | sed -n "s/.*HEARTH-RESULT $f=//p" | head -n1)
		line="$line ${v:-n/a}"
	done
	echo "${line# }" >>"$work/$name"
	msix=$(tr -d '\r' <"$out" | sed -n 's/.*HEARTH-RESULT msix=//p' | head -n1)
	printf '  %-7s %s   (exit %s, %s MSI-X vectors)%s\n' "$name" "${line# }" "$rc" \
		"${msix:-?}" "$killed"
	if [ -s "$work/$name.strace" ]; then
		head -n 16 "$work/$name.strace" | sed 's/^/  | /'
		rm -f "$work/$name.strace"
	fi
	if echo "$line" | grep -q n/a; then
		echo "  --- last lines of $name's output:"
		tr -d '\r' <"$out" | tail -n 15 | sed 's/^/  | /'
	fi
}

median() { # column FILE
	awk -v c="$1" '$c != "n/a" { print $c }' "$2" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a";
			else if (NR % 2) print v[(NR + 1) / 2];
			else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

: >"$work/hearth"
: >"$work/qemu"
i=1
echo "each run: $figures"
while [ "$i" -le "$runs" ]; do
	echo "run $i/$runs:"
	[ -x "$HEARTH_BIN" ] && measure hearth "$i"
	measure qemu "$i"
	i=$((i + 1))
done

echo
printf '%-26s %10s %10s %12s\n' "median of $runs runs" hearth qemu hearth/qemu
c=1
for f in $figures; do
	h=$(median $c "$work/hearth")
	q=$(median $c "$work/qemu")
	r=$(awk -v a="$h" -v b="$q" 'BEGIN { if (a != "n/a" && b != "n/a" && b > 0) printf "%.2f", a / b; else print "n/a" }')
	printf '%-26s %10s %10s %12s\n' "$f" "$h" "$q" "$r"
	c=$((c + 1))
done
