#!/bin/sh
# virtio-net: the tap's host end in a network namespace; ping both ways, and 100 MiB over TCP to the guest and back on a second connection, each arriving with the sender's sha256.
# timeout: 420
# l1-memory-mib: 1024
. "$HEARTH_ROOT/tests/nested/lib.sh"
[ "$HEARTH_VMM" = hearth ] || skip "hearth's own network options"
# iproute2 (tests/nested/l1.sh copies it into the nested host): busybox's
# ip has no netns.
IP=/usr/bin/ip
[ -x "$IP" ] || fail "no iproute2 at $IP"

mib=100
ns=hearth-nt-$$
tap=hnt$$
host=169.254.78.1
guest=169.254.78.2
"$IP" netns add "$ns" || fail "cannot create the network namespace $ns"
trap '"$IP" netns del "$ns" 2>/dev/null' EXIT

vm_boot vm net_tcp --memory 768M --cpus 2 --net "tap=$tap,mac=52:54:00:78:00:02"

# What the namespace sends, made while the guest boots: 1 MiB of random
# bytes mib times over, each copy after a numbered line (no two alike).
head -c 1048576 /dev/urandom >"$CASE_DIR/base" || fail "no random bytes"
i=0
while [ $i -lt $mib ]; do
	printf 'chunk %04d\n' $i
	cat "$CASE_DIR/base"
	i=$((i + 1))
done >"$CASE_DIR/send"
sendsum=$(sha256sum <"$CASE_DIR/send" | cut -d' ' -f1)

# hearth creates the tap at start; move its host end into the namespace.
deadline=$(($(date +%s) + 60))
while [ ! -e "/sys/class/net/$tap" ]; do
	[ "$(date +%s)" -lt "$deadline" ] || fail "the tap $tap never appeared"
	vm_running vm || fail "hearth exited before creating its tap"
	sleep 0.05
done
"$IP" link set "$tap" netns "$ns" || fail "cannot move $tap into $ns"
"$IP" -n "$ns" link set lo up || fail "cannot bring up lo in $ns"
"$IP" -n "$ns" addr add "$host/16" dev "$tap" || fail "cannot address $tap in $ns"
"$IP" -n "$ns" link set "$tap" up || fail "cannot bring $tap up in $ns"

# Port 5002 sends the namespace's data to the guest; 5001 hashes what the
# guest sends back.
"$IP" netns exec "$ns" nc -l -p 5001 -e sh -c "sha256sum | cut -d' ' -f1 >'$CASE_DIR/recvsum'" &
rx=$!
"$IP" netns exec "$ns" nc -l -p 5002 -e cat "$CASE_DIR/send" &
tx=$!
# Both listening before the guest goes: state 0A on port 5001 (0x1389) and
# 5002 (0x138A), seen in the namespace's socket tables (nc may listen on
# IPv6's any-address, which takes IPv4 too).
listening() {
	cat "/proc/$1/net/tcp" "/proc/$1/net/tcp6" 2>/dev/null | grep -q ":$2 0*:0000 0A"
}
deadline=$(($(date +%s) + 60))
until listening $rx 1389 && listening $tx 138A; do
	[ "$(date +%s)" -lt "$deadline" ] || fail "nc never listened in $ns"
	sleep 0.05
done

vm_wait_for vm HEARTH-NET-WAITING 240 || fail "the guest never configured its network"
"$IP" netns exec "$ns" ping -c 3 -i 0.2 -W 5 "$guest" >/dev/null 2>&1 ||
	fail "the namespace could not ping the guest"

# wait_pid PID TIMEOUT: wait for a child of this shell to end.
wait_pid() {
	_deadline=$(($(date +%s) + $2))
	while kill -0 "$1" 2>/dev/null; do
		[ "$(date +%s)" -lt "$_deadline" ] || return 1
		sleep 0.05
	done
	wait "$1"
}

# The host end's counters and the namespace's sockets, while hearth still
# runs, to see which way a transfer stalled; then fail.
stalled() {
	"$IP" -n "$ns" -s link show "$tap"
	cat "/proc/$rx/net/tcp" "/proc/$rx/net/tcp6" 2>/dev/null
	fail "$1"
}

vm_send vm go
vm_wait_for vm HEARTH-NET-SENT 300 || stalled "the guest did not finish its transfers"
# The guest's cat has ended; its last bytes may still be on their way.
wait_pid "$rx" 60 || stalled "the namespace's receiver never got the end of the guest's stream"
wait_pid "$tx" 10 || stalled "the namespace's sender never finished"
vm_send vm done
vm_expect_exit vm 60
vm_expect vm HEARTH-TEST-END

[ "$(vm_result vm mac)" = 52:54:00:78:00:02 ] || fail "eth0 has MAC $(vm_result vm mac)"
[ "$(vm_result vm ping)" = ok ] || fail "the guest could not ping the namespace"
[ "$(vm_result vm sendrc)" = 0 ] || fail "the guest's sending nc failed"
[ "$(vm_result vm recvrc)" = 0 ] || fail "the guest's receiving nc failed"
[ "$(vm_result vm recvbytes)" = "$(wc -c <"$CASE_DIR/send")" ] ||
	fail "the guest received $(vm_result vm recvbytes) bytes, not $(wc -c <"$CASE_DIR/send")"
recvsum=$(vm_result vm recvsum)
[ "$recvsum" = "$sendsum" ] ||
	fail "namespace to guest: the guest received $recvsum, the namespace sent $sendsum"
got=$(cat "$CASE_DIR/recvsum")
[ "$got" = "$recvsum" ] || fail "guest to namespace: the namespace received $got, the guest sent $recvsum"
echo "$mib MiB namespace to guest in $(vm_result vm recvcs) cs," \
	"guest to namespace in $(vm_result vm sendcs) cs"
pass
