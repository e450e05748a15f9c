# Two hosts and a switch for live-migration cases and bench/migrate (POSIX sh,
# sourced after lib.sh, inside the nested host or on a host with real KVM).
#
#          hm-src (host A)                 hm-dst (host B)
#   guest -- mtap0 -- brA -- upA       upB -- brB -- mtap0 -- guest
#                             |   mgA ===== mgB   |      (migration link,
#                             |  169.254.10.1/.2  |       a veth pair)
#                             pA                  pB
#                              \                 /
#                               sw0 (a learning bridge, MAC ageing 300 s)
#                               169.254.20.1: the peer, in hm-peer
#
# The guest (169.254.20.2) reaches the peer through its host's bridge, that
# host's uplink and the switch. The switch learns the guest's MAC on pA; once
# the guest runs on host B, frames for it go to pA until something from the
# guest's MAC arrives on pB. A guest that only receives (the peer sends, the
# guest sends nothing until data arrives) is reachable again at once only
# because the destination announces the MAC (RARP, or the guest's own
# announce): without it the connection stalls until the entry ages out.
# The taps exist before the VMMs start (as a management stack would make
# them), so the destination's tap is in its bridge before the RARP goes out.
#
#   mig_net_up        make all of it (fails the case on error)
#   mig_net_down      remove it (also safe when half made)
#   mig_start NAME NS [hearth run options]
#                     like lib.sh's vm_start, inside network namespace NS
#                     (hm-src, hm-dst), the output also stamped line by line
#                     into NAME.stamped ("MICROSECONDS LINE", bench/line_stamp.c)
#   mig_start_cmd NAME NS COMMAND...  the same with any command
#   mig_boot_source NAME  the disk image, the network and the source guest
#   mig_console_drops NAME  what hearth logged of NAME's dropped console output
#   mig_mark          CLOCK_MONOTONIC now (microseconds), line-stamp's clock
#   mig_counts NAME   the guest counter values NAME printed, one a line
#   mig_stamps NAME   "MICROSECONDS VALUE" of its counter lines
#   mig_peer_start    the peer sends "1", "2"... every 10 ms to the guest's port 7000
#   mig_peer_alive    is the peer's connection still up?
#   mig_peer_stop

IP=${IP:-/usr/bin/ip}
MIG_SRC=hm-src
MIG_DST=hm-dst
MIG_PEER=hm-peer
MIG_SRC_ADDR=169.254.10.1
MIG_DST_ADDR=169.254.10.2
MIG_PEER_ADDR=169.254.20.1
MIG_GUEST_ADDR=169.254.20.2
MIG_GUEST_MAC=52:54:00:20:00:02
MIG_TAP=mtap0
MIG_PORT=4444
# In the nested host it sits next to hearth; on a direct run, in the build tree.
if [ -z "${LINE_STAMP:-}" ]; then
	LINE_STAMP=$HEARTH_ROOT/build/line-stamp
	[ -x "$LINE_STAMP" ] || LINE_STAMP=$(dirname "${HEARTH_BIN:-$HEARTH_ROOT/build/hearth}")/bench/line-stamp
fi

mig_net_down() {
	for _ns in $MIG_SRC $MIG_DST $MIG_PEER; do
		"$IP" netns del "$_ns" 2>/dev/null
	done
	return 0
}

# mig_host NS UPLINK SWITCHPORT BRIDGE: a host namespace with its bridge, its
# uplink to the switch and a tap for the guest.
mig_host() {
	"$IP" netns add "$1" || fail "cannot create the network namespace $1"
	"$IP" -n "$1" link set lo up
	"$IP" -n "$1" link add "$4" type bridge || fail "cannot create the bridge $4 in $1"
	"$IP" -n "$1" link add "$2" type veth peer name "$3" netns $MIG_PEER ||
		fail "cannot create the uplink $2 of $1"
	"$IP" -n "$1" link set "$2" master "$4" || fail "cannot put $2 in $4"
	"$IP" -n "$1" tuntap add mode tap name $MIG_TAP || fail "cannot create the tap in $1"
	"$IP" -n "$1" link set $MIG_TAP master "$4" || fail "cannot put the tap in $4"
	for _l in "$4" "$2" $MIG_TAP; do
		"$IP" -n "$1" link set "$_l" up || fail "cannot bring $_l up in $1"
	done
	"$IP" -n $MIG_PEER link set "$3" master sw0 || fail "cannot put $3 in the switch"
	"$IP" -n $MIG_PEER link set "$3" up || fail "cannot bring $3 up"
}

mig_net_up() {
	[ -x "$IP" ] || fail "no iproute2 at $IP"
	mig_net_down
	"$IP" netns add $MIG_PEER || fail "cannot create the network namespace $MIG_PEER"
	"$IP" -n $MIG_PEER link set lo up
	# ageing_time is in centiseconds: 300 s, longer than any case.
	"$IP" -n $MIG_PEER link add sw0 type bridge ageing_time 30000 ||
		fail "cannot create the switch (bridge module?)"
	"$IP" -n $MIG_PEER addr add $MIG_PEER_ADDR/24 dev sw0
	"$IP" -n $MIG_PEER link set sw0 up || fail "cannot bring the switch up"
	mig_host $MIG_SRC upA pA brA
	mig_host $MIG_DST upB pB brB
	# The migration link: a veth pair straight between the two hosts.
	"$IP" -n $MIG_SRC link add mgA type veth peer name mgB netns $MIG_DST ||
		fail "cannot create the migration link"
	"$IP" -n $MIG_SRC addr add $MIG_SRC_ADDR/24 dev mgA
	"$IP" -n $MIG_DST addr add $MIG_DST_ADDR/24 dev mgB
	"$IP" -n $MIG_SRC link set mgA up || fail "cannot bring mgA up"
	"$IP" -n $MIG_DST link set mgB up || fail "cannot bring mgB up"
}

mig_start() {
	_sn=$1
	_sns=$2
	shift 2
	mig_start_cmd "$_sn" "$_sns" "$VMM" run "$@"
}

# mig_start_cmd NAME NS COMMAND...: the same for any command (QEMU in bench/migrate).
# The console (stdout) goes through line-stamp to NAME.out, the VMM's own
# messages (stderr) to NAME.err: written into one pipe, a message could
# land in the middle of a guest's line and cost it a count.
mig_start_cmd() {
	_n=$1
	_ns=$2
	shift 2
	[ -x "$LINE_STAMP" ] || fail "no line-stamp at $LINE_STAMP (ninja builds bench/line-stamp)"
	rm -f "$CASE_DIR/$_n.in" "$CASE_DIR/$_n.out" "$CASE_DIR/$_n.pipe" "$CASE_DIR/$_n.stamped" \
		"$CASE_DIR/$_n.err"
	mkfifo "$CASE_DIR/$_n.in" "$CASE_DIR/$_n.pipe" || fail "mkfifo failed"
	: >"$CASE_DIR/$_n.out"
	: >"$CASE_DIR/$_n.err"
	: >"$CASE_DIR/$_n.stamped"
	"$LINE_STAMP" "$CASE_DIR/$_n.stamped" <"$CASE_DIR/$_n.pipe" >"$CASE_DIR/$_n.out" &
	echo $! >"$CASE_DIR/$_n.stamper"
	"$IP" netns exec "$_ns" "$@" <"$CASE_DIR/$_n.in" >"$CASE_DIR/$_n.pipe" 2>"$CASE_DIR/$_n.err" &
	echo $! >"$CASE_DIR/$_n.pid"
	sleep 2147483647 >"$CASE_DIR/$_n.in" &
	echo $! >"$CASE_DIR/$_n.keeper"
	date +%s >"$CASE_DIR/$_n.started"
}

# mig_console_drops NAME: "; NAME's console output was dropped: ..." when
# hearth logged a stalled console reader (the lines it lost are not the
# guest's), nothing otherwise.
mig_console_drops() {
	_d=$(grep -e 'serial console: the reader' "$CASE_DIR/$1.err" | tr '\n' ' ')
	[ -z "$_d" ] || printf '; %s console output was dropped: %s' "$1" "$_d"
}

# mig_mark: CLOCK_MONOTONIC now, in microseconds, as line-stamp reads it.
mig_mark() {
	echo mark | "$LINE_STAMP" "$CASE_DIR/.mark" >/dev/null
	tail -n1 "$CASE_DIR/.mark" | cut -d' ' -f1
}

# mig_fail_before NAME REASON: fail the case, before any migration began,
# with REASON. If NAME's guest, which counts every 10 ms, had printed
# nothing for 20 s while its hearth ran with every vCPU thread inside
# KVM_RUN (in the ioctl or running), the guest was stalled under hearth, not
# by it: the emulated SVM stalls L2 guests now and then (README), so the
# failure is marked for the runner's retry ($CASE_DIR/.stalled). A stall
# after a migration began is never marked.
mig_fail_before() {
	_last=$(mig_stamps "$1" | tail -n1 | cut -d' ' -f1)
	_pid=$(vm_pid "$1")
	if [ -n "$_last" ] && vm_running "$1" &&
		[ $((($(mig_mark) - _last) / 1000000)) -ge 20 ]; then
		_in_run=1 _vcpus=0
		for _t in /proc/"$_pid"/task/*; do
			case "$(cat "$_t/comm" 2>/dev/null)" in
			vcpu*)
				_vcpus=$((_vcpus + 1))
				# In the ioctl (16), or running (in the guest, mostly).
				case "$(cut -d' ' -f1 "$_t/syscall" 2>/dev/null)" in
				16 | running) ;;
				*) _in_run= ;;
				esac
				;;
			esac
		done
		[ -n "$_in_run" ] && [ "$_vcpus" -gt 0 ] &&
			echo "$1: silent for 20 s or more, every vCPU in KVM_RUN" >"$CASE_DIR/.stalled"
	fi
	fail "$2"
}

# mig_boot_source NAME [hearth run options]: the shared disk image
# $CASE_DIR/disk.img (8 MiB of zeros), the network (removed at exit), and
# the source hearth on host A with the migration test guest (256 MiB, 2
# vCPUs, the disk, a NIC on the tap, its API on $CASE_DIR/NAME.sock).
mig_boot_source() {
	_bn=$1
	shift
	dd if=/dev/zero of="$CASE_DIR/disk.img" bs=1M count=8 2>/dev/null ||
		fail "cannot make the disk image"
	mig_net_up
	trap 'mig_peer_stop; mig_net_down' EXIT
	mig_start "$_bn" $MIG_SRC --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
		--cmdline "$GUEST_CMDLINE hearth.test=migrate" --memory 256M --cpus 2 \
		--disk "path=$CASE_DIR/disk.img,id=disk0" --net "tap=$MIG_TAP,mac=$MIG_GUEST_MAC" \
		--api-sock "$CASE_DIR/$_bn.sock" "$@"
}

# Complete lines only (from NAME.stamped): a line still being written
# ("CNT-12" of "CNT-123") would read as a smaller count.
mig_counts() {
	sed -n 's/^[0-9][0-9]* CNT-\([0-9][0-9]*\)$/\1/p' "$CASE_DIR/$1.stamped"
}

mig_stamps() {
	sed -n 's/^\([0-9][0-9]*\) CNT-\([0-9][0-9]*\)$/\1 \2/p' "$CASE_DIR/$1.stamped"
}

mig_peer_start() {
	# In a session of its own: mig_peer_stop ends the loop and nc together.
	# No fork per line (read -t on a FIFO that never gets data waits).
	# shellcheck disable=SC2016
	setsid "$IP" netns exec $MIG_PEER sh -c '
		mkfifo /tmp/hm-peer-never.$$ && exec 3<>/tmp/hm-peer-never.$$
		rm -f /tmp/hm-peer-never.$$
		i=0
		while :; do
			i=$((i + 1))
			echo $i
			read -t 0.01 -u 3 x
		done | nc '"$MIG_GUEST_ADDR"' 7000
		echo "peer: nc ended with status $?" >&2' &
	echo $! >"$CASE_DIR/peer.pid"
}

# The peer's TCP connection to the guest, as the peer sees it: established
# (state 01) to port 7000 (1B58).
mig_peer_alive() {
	"$IP" netns exec $MIG_PEER cat /proc/net/tcp | grep -q ':1B58 01 '
}

mig_peer_stop() {
	[ -f "$CASE_DIR/peer.pid" ] && kill -TERM -- "-$(cat "$CASE_DIR/peer.pid")" 2>/dev/null
	rm -f "$CASE_DIR/peer.pid"
}

# mig_gaps SRC DST FROM: the guest's counter lines from both VMMs' consoles
# (SRC then DST), in counter order, as one line:
#   "pre=MS during=MS post=MS gap=MS at=N missing=N dup=N src_last=N dst_first=N"
# gap: the largest gap (ms) between consecutive counter lines after count
# FROM (the guest-visible pause), and the count after which it came (at);
# the ticks for comparison, the largest gaps: pre, in the 200 counts up to
# FROM (steady running); during, at the source after FROM but before its
# last line (the migration under way), post, in the 200 counts after the
# destination's first; missing: counts printed by neither (at most one, cut
# in two at the hand-over); dup: counts printed twice (the guest ran in two
# places).
mig_gaps() {
	{
		mig_stamps "$1" | sed 's/$/ s/'
		mig_stamps "$2" | sed 's/$/ d/'
	} | sort -n -k2,2 -k1,1 | awk -v from="$3" '
		$3 == "s" { sl = $2 } $3 == "d" && !df { df = $2 }
		NR > 1 && $2 == pv { dup++; next }
		NR > 1 {
			if ($2 > pv + 1) missing += $2 - pv - 1
			g = ($1 - pt) / 1000
			if ($2 > from - 200 && $2 <= from && g > pre) pre = g
			if ($2 > from && $3 == "s" && pw == "s" && g > during) during = g
			if ($3 == "d" && pw == "d" && $2 <= df + 200 && g > post) post = g
			if ($2 > from && g > gap) { gap = g; at = pv }
		}
		{ pv = $2; pt = $1; pw = $3 }
		END { printf "pre=%.1f during=%.1f post=%.1f gap=%.1f at=%d missing=%d dup=%d src_last=%d dst_first=%d\n",
			pre, during, post, gap, at, missing, dup, sl, df }'
}

# mig_field LINE KEY: the value of KEY=... in a mig_gaps line.
mig_field() {
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# mig_switch_port MAC: the switch port (pA, pB, or "-") the switch has
# learned MAC on, from its forwarding database (/sys/class/net/sw0/brforward:
# 16-byte entries, the MAC then the port number's low byte).
mig_switch_port() {
	_mac=$(echo "$1" | tr -d ':' | tr 'A-F' 'a-f')
	_no=$("$IP" netns exec $MIG_PEER od -An -tx1 -v /sys/class/net/sw0/brforward |
		tr -s ' \n' '  ' | awk -v m="$_mac" '{
			for (i = 1; i + 15 <= NF; i += 16) {
				k = $i $(i + 1) $(i + 2) $(i + 3) $(i + 4) $(i + 5)
				if (k == m) { print $(i + 6); exit }
			}
		}')
	for _p in pA pB; do
		_pn=$("$IP" netns exec $MIG_PEER cat /sys/class/net/$_p/brport/port_no)
		[ -n "$_no" ] && [ $((_pn)) = $((0x$_no)) ] && echo $_p && return
	done
	echo -
}

# mig_net_state: the state of the guest's path on one line, for a failure's
# report: where the switch has the guest's MAC, each tap's bridge port state
# (3 = forwarding) and packet counters (rx: from hearth, tx: to hearth),
# the switch ports' counters, then whether the peer can ping the guest.
mig_net_state() {
	_st="switch: guest on $(mig_switch_port $MIG_GUEST_MAC)"
	for _ns in $MIG_SRC $MIG_DST; do
		_st="$_st; $_ns tap: $("$IP" netns exec "$_ns" sh -c "cd /sys/class/net/$MIG_TAP &&
			echo state \$(cat brport/state) rx \$(cat statistics/rx_packets) tx \$(cat statistics/tx_packets)" 2>&1)"
	done
	for _p in pA pB; do
		_st="$_st; $_p: $("$IP" netns exec $MIG_PEER sh -c "cd /sys/class/net/$_p &&
			echo rx \$(cat statistics/rx_packets) tx \$(cat statistics/tx_packets)" 2>&1)"
	done
	_st="$_st; ping: $("$IP" netns exec $MIG_PEER ping -c 2 -W 2 $MIG_GUEST_ADDR 2>&1 | grep -o '[0-9]* packets received')"
	echo "$_st; then the switch has it on $(mig_switch_port $MIG_GUEST_MAC)"
}
