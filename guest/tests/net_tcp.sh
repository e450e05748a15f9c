#!/bin/sh
# virtio-net to a host network namespace over a tap: ICMP echo to the
# namespace, then TCP both ways: the namespace's stream (port 5002) is
# stored in /tmp/recv, then sent back on a second connection (port 5001)
# while the guest hashes what it received. Reports that sha256 and each
# transfer's duration (centiseconds of /proc/uptime). The case answers on
# the console: "go" once the namespace is addressed and listening, "done"
# once it has received everything.
peer=169.254.78.1

# Centiseconds from /proc/uptime's first field ("12.34" -> 1234).
cs() {
	echo "${1%.*}${1#*.}" | sed 's/^0*//; s/^$/0/'
}

ip link set lo up
ip link set eth0 up
ip addr add 169.254.78.2/16 dev eth0
echo "HEARTH-RESULT mac=$(cat /sys/class/net/eth0/address 2>/dev/null)"

echo HEARTH-NET-WAITING
read -r go
echo "HEARTH-RESULT go=$go"

if ping -c 3 -i 0.2 -W 5 "$peer" >/dev/null 2>&1; then
	echo "HEARTH-RESULT ping=ok"
else
	echo "HEARTH-RESULT ping=failed"
fi

# Namespace to guest: nc runs cat with the socket as its input, until the
# namespace closes the connection.
read -r t0 _ </proc/uptime
nc "$peer" 5002 -e sh -c 'cat >/tmp/recv'
echo "HEARTH-RESULT recvrc=$?"
read -r t1 _ </proc/uptime
echo "HEARTH-RESULT recvcs=$(($(cs "$t1") - $(cs "$t0")))"
echo "HEARTH-RESULT recvbytes=$(wc -c </tmp/recv)"

# Guest to namespace: the same bytes back, hashed here meanwhile. When cat
# ends, TCP may still be sending: the case answers "done" once the
# namespace has all of it and the connection closed.
sha256sum </tmp/recv >/tmp/recvsum &
hasher=$!
read -r t0 _ </proc/uptime
nc "$peer" 5001 -e cat /tmp/recv
echo "HEARTH-RESULT sendrc=$?"
echo HEARTH-NET-SENT
read -r done
read -r t1 _ </proc/uptime
echo "HEARTH-RESULT sent=$done"
echo "HEARTH-RESULT sendcs=$(($(cs "$t1") - $(cs "$t0")))"
wait $hasher
echo "HEARTH-RESULT recvsum=$(cut -d' ' -f1 /tmp/recvsum)"
