#!/bin/sh
# bench-net (guest side of bench/net): eth0 gets 169.254.79.2/16; once the
# peer 169.254.79.1 (an iperf3 server in a network namespace of the host)
# answers pings, iperf3 measures TCP for BENCH_SECONDS
# (hearth.bench_seconds=, default 8; the first second is omitted) from the
# guest to the host, then from the host to the guest (-R). Prints
# HEARTH-RESULT tx_mbits= and rx_mbits= (the receiver's Mbit/s), or
# HEARTH-RESULT iperf_error=DIRECTION.
peer=169.254.79.1
secs=8
for arg in $(cat /proc/cmdline); do
	case "$arg" in hearth.bench_seconds=*) secs=${arg#hearth.bench_seconds=} ;; esac
done
ip link set lo up
ip link set eth0 up
ip addr add 169.254.79.2/16 dev eth0
i=0
until ping -c 1 -W 1 "$peer" >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -ge 120 ]; then
		echo "HEARTH-RESULT iperf_error=no-peer"
		exit 1
	fi
done

# How the device interrupts: MSI-X vectors of virtio (0: a shared line).
echo "HEARTH-RESULT msix=$(grep -c 'PCI-MSI.*virtio' /proc/interrupts)"
# run NAME [iperf3 options]: the receiver's Mbit/s of one test.
run() {
	name=$1
	shift
	out=$(/usr/bin/iperf3 -c "$peer" -t "$secs" -O 1 -f m "$@" 2>&1)
	rate=$(echo "$out" | awk '/receiver$/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") r = $i }
		END { if (r != "") print r }')
	if [ -n "$rate" ]; then
		echo "HEARTH-RESULT ${name}_mbits=$rate"
	else
		echo "$out" | tail -n 5
		echo "HEARTH-RESULT iperf_error=$name"
	fi
}
run tx
run rx -R
