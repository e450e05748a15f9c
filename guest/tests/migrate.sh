#!/bin/sh
# The subject of a live migration (tests/nested/cases/migrate*.sh,
# bench/migrate): prints "CNT-n" every 10 ms (a sleep loop; the host sees the
# guest-visible pause as the gap between two lines), listens on TCP port
# 7000 for a peer that sends one numbered line per tick (every 50th is shown
# as "NET-n", a number out of order as "NET-GAP", the end of the connection
# as "NET-CLOSED"), and writes 1 MiB to /dev/vda (its sha256 as "DISK-W").
# hearth.dirty=MBPS on the kernel command line also dirties 256 MiB of
# memory at that many MB/s of pages (/bin/hearth-dirty, guest/tools/dirty.c;
# it prints "HEARTH-DIRTY mb=N cs=N" every 5 s).
# Commands on the console: "write2" writes the second MiB without syncing
# ("DISK-W2 sha256"), "readback" syncs, drops the page cache and prints the
# 2 MiB read back ("DISK-R sha256"), "netinfo" prints eth0's counters and the
# virtio interrupts ("NETINFO ..."), "blkinfo" the disk's requests in flight
# and counters ("BLKINFO ..."), "stop" ends the test.
addr=169.254.20.2/24

dirty=0
for arg in $(cat /proc/cmdline); do
	case "$arg" in hearth.dirty=*) dirty=${arg#hearth.dirty=} ;; esac
done

# Timed waits without a fork (a fork and exec per tick is slow in a nested
# guest under TCG): read -t on a FIFO that never gets data.
mkfifo /tmp/never
exec 3<>/tmp/never

ip link set lo up
ip link set eth0 up
ip addr add "$addr" dev eth0
echo "HEARTH-RESULT mac=$(cat /sys/class/net/eth0/address 2>/dev/null)"

if [ -b /dev/vda ]; then
	dd if=/dev/urandom of=/tmp/w1 bs=64k count=16 2>/dev/null
	dd if=/tmp/w1 of=/dev/vda bs=64k conv=fsync 2>/dev/null
	echo "DISK-W $(sha256sum </tmp/w1 | cut -d' ' -f1)"
fi

# The peer's stream: lines "1", "2"... in order, or TCP has failed us. nc's
# own input never ends (a background job's would be /dev/null: nc would
# close the connection at once).
(
	sleep 2147483647 | nc -l -p 7000 | awk '
		{ n++; if ($1 != n) { print "NET-GAP expected " n " got " $1; fflush(); n = $1 } }
		n % 50 == 0 { print "NET-" n; fflush() }
		END { print "NET-END " n; fflush() }'
	echo NET-CLOSED
) &
# Listening (state 0A on port 7000, 1B58) before the peer is told to connect.
until grep -q ':1B58 0*:0000 0A' /proc/net/tcp /proc/net/tcp6 2>/dev/null; do
	read -t 0.05 -u 3 x
done

if [ "$dirty" -gt 0 ]; then
	hearth-dirty "$dirty" 256 >/dev/console &
	echo "HEARTH-RESULT dirty=$dirty"
fi

(
	i=0
	while :; do
		i=$((i + 1))
		echo "CNT-$i"
		read -t 0.01 -u 3 x
	done
) &

echo HEARTH-MIG-READY
while read -r cmd; do
	case "$cmd" in
	write2)
		dd if=/dev/urandom of=/tmp/w2 bs=64k count=16 2>/dev/null
		dd if=/tmp/w2 of=/dev/vda bs=64k seek=16 2>/dev/null
		echo "DISK-W2 $(cat /tmp/w1 /tmp/w2 | sha256sum | cut -d' ' -f1)"
		;;
	readback)
		sync
		echo 3 >/proc/sys/vm/drop_caches
		echo "DISK-R $(dd if=/dev/vda bs=64k count=32 2>/dev/null | sha256sum | cut -d' ' -f1)"
		;;
	blkinfo)
		# The disk's requests in flight and the virtio interrupts (for a failure's report).
		echo "BLKINFO inflight $(cat /sys/block/vda/inflight 2>/dev/null | tr -s ' ')" \
			"stat $(tr -s ' ' </sys/block/vda/stat 2>/dev/null)" \
			"irqs $(grep -i virtio /proc/interrupts | tr -s ' ' | tr '\n' '|')"
		;;
	netinfo)
		# eth0's counters and the virtio interrupts (for a failure's report).
		echo "NETINFO rx $(cat /sys/class/net/eth0/statistics/rx_packets)" \
			"tx $(cat /sys/class/net/eth0/statistics/tx_packets)" \
			"irqs $(grep -i virtio /proc/interrupts | tr -s ' ' | tr '\n' '|')"
		;;
	stop) break ;;
	esac
done
