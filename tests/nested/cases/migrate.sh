#!/bin/sh
# Live migration between two hosts (network namespaces, a veth link, a learning switch, a shared disk image): `hearth migrate` exits 0, the guest's 10 ms counter goes on with no count lost or doubled, hearth's own stop-to-resume window is the downtime it reports, the guest printed within a tick before it and within a second after it (its warm-up on the new host), the switch learns the guest's new port and the peer's TCP stream to the guest goes on unbroken, the disk reads back what was written before, synced or not.
# timeout: 600
# l1-memory-mib: 1024
. "$HEARTH_ROOT/tests/nested/lib.sh"
. "$HEARTH_ROOT/tests/nested/migrate_env.sh"
[ "$HEARTH_VMM" = hearth ] || skip "hearth's own migration"
hearth=${HEARTH_BIN:-$HEARTH_ROOT/build/hearth}
"$hearth" migrate --help >/dev/null 2>&1 || skip "this hearth has no migrate command"

img=$CASE_DIR/disk.img
# Host A runs the guest; host B waits for it.
# -v: each side logs when its vCPUs stopped or resumed (CLOCK_MONOTONIC, as line-stamp's).
mig_boot_source src -v
mig_start dst $MIG_DST --incoming "tcp:$MIG_DST_ADDR:$MIG_PORT" -v
vm_wait_for dst "migration: listening on" 60 || fail "the destination did not listen"

vm_wait_for src HEARTH-MIG-READY 240 || fail "the guest did not start its counter"
vm_wait_for src 'DISK-W [0-9a-f]\{64\}' 10 || mig_fail_before src "the guest did not write its disk"
w1=$(tr -d '\r' <"$CASE_DIR/src.out" | sed -n 's/^DISK-W \([0-9a-f]*\)$/\1/p' | head -n1)

# The peer connects and streams; the guest counts what arrives.
mig_peer_start
vm_wait_for src '^NET-100' 60 || mig_fail_before src "the peer's stream did not reach the guest"
# Some of the disk write stays in the guest's page cache (no sync).
vm_send src write2
vm_wait_for src 'DISK-W2 [0-9a-f]\{64\}' 30 || mig_fail_before src "the guest did not do its second write"
w2=$(tr -d '\r' <"$CASE_DIR/src.out" | sed -n 's/^DISK-W2 \([0-9a-f]*\)$/\1/p' | head -n1)
# Two seconds of steady counting to compare the pause with.
c0=$(mig_counts src | tail -n1)
vm_wait_for src "^CNT-$((c0 + 200))" 60 || mig_fail_before src "the counter does not count"
from=$(mig_counts src | tail -n1)
port=$(mig_switch_port $MIG_GUEST_MAC)
[ "$port" = pA ] || fail "the switch has the guest's MAC on port $port, not on host A's pA"

"$hearth" migrate --api-sock "$CASE_DIR/src.sock" --to "tcp:$MIG_DST_ADDR:$MIG_PORT" \
	--max-downtime 100 >"$CASE_DIR/migrate.out" 2>&1
rc=$?
cat "$CASE_DIR/migrate.out"
[ "$rc" = 0 ] || fail "hearth migrate exited $rc: $(tail -n1 "$CASE_DIR/migrate.out")"
done_line=$(grep '^hearth migrate: completed in' "$CASE_DIR/migrate.out")
downtime=$(echo "$done_line" | sed -n 's/.*downtime \([0-9]*\) ms.*/\1/p')
total=$(echo "$done_line" | sed -n 's/.*completed in \([0-9]*\) ms.*/\1/p')
[ -n "$downtime" ] || fail "no downtime in: $done_line"

# The source hands over and ends; the destination runs the guest.
vm_wait_exit src 30 || fail "the source hearth still runs after the hand-over"
[ "$VM_RC" = 0 ] || fail "the source hearth exited $VM_RC after the hand-over"
vm_expect dst "migration: received VM"
# The source counted on during the pre-copy: 300 counts past its last.
last=$(mig_counts src | tail -n1)
vm_wait_for dst "^CNT-$((last + 300))" 60 || fail "the counter did not go on at the destination"

# No count lost or doubled; the pause is within the downtime plus one tick.
g=$(mig_gaps src dst "$from")
echo "counter: $g; hearth: total $total ms, downtime $downtime ms"
[ "$(mig_field "$g" dup)" = 0 ] || fail "counts printed by both hosts: the guest ran twice ($g)"
[ "$(mig_field "$g" missing)" -le 1 ] ||
	fail "counts lost at the hand-over ($g)$(mig_console_drops src)$(mig_console_drops dst)"
[ "$(mig_field "$g" dst_first)" -gt "$(mig_field "$g" src_last)" ] ||
	fail "the destination counted before the source stopped ($g)"

# The TCP stream goes on: numbers past what arrived before, none out of order.
net_from=$(tr -d '\r' <"$CASE_DIR/src.out" | sed -n 's/^NET-\([0-9]*\)$/\1/p' | tail -n1)
if ! vm_wait_for dst "^NET-$(((net_from / 50 + 4) * 50))" 60; then
	vm_send dst netinfo
	vm_wait_for dst NETINFO 30
	echo "guest: $(grep -a NETINFO "$CASE_DIR/dst.out" | tr -d '\r' | tail -n1)"
	echo "$(mig_net_state)"
	fail "the peer's stream stopped after the move (was at $net_from; the state of the path is in the log)"
fi
mig_peer_alive || fail "the peer's connection is gone"
# The nested host's KVM (kvm-amd) has a dirty ring: the dirty pages came from it.
grep -q "dirty pages: KVM's dirty ring" "$CASE_DIR/src.err" ||
	fail "the source did not use KVM's dirty ring ($(grep 'dirty pages:' "$CASE_DIR/src.err"))"
port=$(mig_switch_port $MIG_GUEST_MAC)
[ "$port" = pB ] || fail "the switch has the guest's MAC on port $port, not on host B's pB"
vm_has dst NET-GAP && fail "the guest's stream has a gap: $(grep NET-GAP "$CASE_DIR/dst.out" | head -n1)"
vm_has dst NET-CLOSED && fail "the peer's connection closed"
vm_has src NET-CLOSED && fail "the peer's connection closed at the source"

# The disk: what the guest wrote (the second MiB unsynced) reads back, past
# its page cache, and is in the image.
vm_send dst readback
if ! vm_wait_for dst 'DISK-R [0-9a-f]\{64\}' 60; then
	vm_running dst || fail "the destination's hearth ended: $(tail -n1 "$CASE_DIR/dst.err")"
	# Is it the disk or the console input? A second command says.
	vm_send dst blkinfo
	vm_wait_for dst BLKINFO 30
	fail "the guest did not read its disk back (guest: $(grep -a BLKINFO "$CASE_DIR/dst.out" |
		tr -d '\r' | tail -n1 || true); none: it takes no console input)"
fi
r=$(tr -d '\r' <"$CASE_DIR/dst.out" | sed -n 's/^DISK-R \([0-9a-f]*\)$/\1/p' | head -n1)
[ "$r" = "$w2" ] || fail "the guest read back $r, it wrote $w2"
h=$(head -c 2097152 "$img" | sha256sum | cut -d' ' -f1)
[ "$h" = "$w2" ] || fail "the image holds $h, the guest wrote $w2"
[ -n "$w1" ] || fail "no first write"

mig_peer_stop
vm_kill dst TERM
vm_expect_exit dst

# The pause the guest saw, taken apart on one clock: the source's last line
# before its vCPUs stopped, hearth's own window (stopped there to resumed
# here), the destination's first line after they resumed, and (-v) when the
# guest first wrote to its console there. Hearth's window must be the
# downtime it reports (within 5 ms: the commit's way over is estimated as
# half a round trip), and before it the guest must have printed within a
# tick (under TCG on a loaded machine a tick is anything but 10 ms: the
# longest gap seen before, during or after the move): hearth stopped it no
# earlier than it says. After the window the guest warms up on its new
# host: under TCG the emulator translates the guest's code afresh for
# memory at new addresses and KVM maps its pages anew, so its first lines
# take tens to hundreds of ms more than a tick (the same happens to QEMU's
# guest, bench/migrate); they must come within a second.
stop=$(sed -n 's/.*migration: vCPUs stopped at \([0-9]*\) us.*/\1/p' "$CASE_DIR/src.err" | tail -n1)
resume=$(sed -n 's/.*migration: vCPUs resumed at \([0-9]*\) us.*/\1/p' "$CASE_DIR/dst.err" | tail -n1)
out=$(sed -n 's/.*first output since the resume at \([0-9]*\) us.*/\1/p' "$CASE_DIR/dst.err" | tail -n1)
[ -n "$stop" ] && [ -n "$resume" ] && [ -n "$out" ] ||
	fail "no stop, resume or first output time from hearth (-v)"
last_at=$(mig_stamps src | tail -n1 | cut -d' ' -f1)
first_at=$(mig_stamps dst | head -n1 | cut -d' ' -f1)
tick=$(echo "$g" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "=")
	if ((kv[1] == "pre" || kv[1] == "during" || kv[1] == "post") && kv[2] > t) t = kv[2] } }
	END { print t + 0 }')
parts=$(awk -v s="$stop" -v r="$resume" -v l="$last_at" -v f="$first_at" -v o="$out" 'BEGIN {
	printf "before %.1f window %.1f after %.1f (the guest wrote at %.1f)",
		(s - l) / 1000, (r - s) / 1000, (f - r) / 1000, (o - r) / 1000 }')
echo "the guest's pause of $(mig_field "$g" gap) ms: $parts ms; downtime reported $downtime ms, tick $tick ms"
awk -v s="$stop" -v r="$resume" -v d="$downtime" 'BEGIN { exit !((r - s) / 1000 <= d + 5) }' ||
	fail "hearth's vCPUs were stopped longer than the downtime it reports ($parts; downtime $downtime ms)"
awk -v s="$stop" -v l="$last_at" -v t="$tick" 'BEGIN { exit !((s - l) / 1000 <= t) }' ||
	fail "the guest was silent longer than a tick before its vCPUs stopped ($parts; tick $tick ms)"
awk -v r="$resume" -v f="$first_at" 'BEGIN { exit !((f - r) / 1000 <= 1000) }' ||
	fail "the guest's first line came more than a second after the resume ($parts)"
pass
