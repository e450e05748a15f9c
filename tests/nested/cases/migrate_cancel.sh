#!/bin/sh
# Live migration that does not happen: cancelled through the API during the first pass, then (after a second start) the migration link cut and `hearth migrate` interrupted (Ctrl-C cancels): each time hearth migrate exits 1 naming why, the guest counts on at the source without a lost count, its peer's TCP stream goes on, and a last migration over a new link completes.
# timeout: 900
# l1-memory-mib: 1024
. "$HEARTH_ROOT/tests/nested/lib.sh"
. "$HEARTH_ROOT/tests/nested/migrate_env.sh"
[ "$HEARTH_VMM" = hearth ] || skip "hearth's own migration"
command -v curl >/dev/null || fail "no curl in the nested host (tests/nested/l1.sh adds it)"
hearth=${HEARTH_BIN:-$HEARTH_ROOT/build/hearth}
"$hearth" migrate --help >/dev/null 2>&1 || skip "this hearth has no migrate command"
sock=$CASE_DIR/src.sock
to=tcp:$MIG_DST_ADDR:$MIG_PORT

mig_boot_source src
vm_wait_for src HEARTH-MIG-READY 240 || fail "the guest did not start its counter"
mig_peer_start
vm_wait_for src '^NET-100' 60 || mig_fail_before src "the peer's stream did not reach the guest"

# dst_start N: a destination (named dstN) listening on host B.
dst_start() {
	mig_start "dst$1" $MIG_DST --incoming "$to"
	vm_wait_for "dst$1" "migration: listening on" 60 || fail "destination $1 did not listen"
}

# dst_gone N: the destination keeps no VM: it has ended, or is ended now.
dst_gone() {
	vm_has "dst$1" "migration: received VM" && fail "destination $1 took the VM over"
	vm_kill "dst$1" KILL
	vm_wait_exit "dst$1" 30
}

# migrate_bg NAME [options]: hearth migrate in the background, slowed down
# so that the first pass lasts long enough to interrupt.
migrate_bg() {
	_mn=$1
	shift
	"$hearth" migrate --api-sock "$sock" --to "$to" "$@" >"$CASE_DIR/$_mn.out" 2>&1 &
	echo $! >"$CASE_DIR/$_mn.pid"
}

# migrate_wait_pass1 NAME: until the pre-copy has begun (the first pass;
# hearth numbers it 0).
migrate_wait_pass1() {
	_deadline=$(($(date +%s) + 120))
	until grep -q '^migrate: precopy pass' "$CASE_DIR/$1.out"; do
		kill -0 "$(cat "$CASE_DIR/$1.pid")" 2>/dev/null ||
			fail "$1: hearth migrate ended before its first pass: $(tail -n1 "$CASE_DIR/$1.out")"
		[ "$(date +%s)" -lt "$_deadline" ] || fail "$1: the first pass never started"
		sleep 0.05
	done
}

# migrate_end NAME: wait for hearth migrate; its status in MIG_RC.
migrate_end() {
	_p=$(cat "$CASE_DIR/$1.pid")
	_deadline=$(($(date +%s) + 60))
	while kill -0 "$_p" 2>/dev/null; do
		[ "$(date +%s)" -lt "$_deadline" ] || fail "$1: hearth migrate did not end"
		sleep 0.05
	done
	wait "$_p"
	MIG_RC=$?
	cat "$CASE_DIR/$1.out"
}

# counts_on WHAT: the source's guest counts 200 more, without a gap, and the
# peer's stream goes on.
counts_on() {
	_c=$(mig_counts src | tail -n1)
	_k=$(tr -d '\r' <"$CASE_DIR/src.out" | sed -n 's/^NET-\([0-9]*\)$/\1/p' | tail -n1)
	vm_wait_for src "^CNT-$((_c + 200))" 60 || fail "$1: the guest stopped counting at the source"
	vm_wait_for src "^NET-$(((_k / 50 + 4) * 50))" 60 || fail "$1: the peer's stream stopped"
	vm_has src NET-CLOSED && fail "$1: the peer's connection closed"
	vm_has src NET-GAP && fail "$1: the peer's stream has a gap"
	mig_peer_alive || fail "$1: the peer's connection is gone"
	_g=$(mig_gaps src src 0)
	[ "$(mig_field "$_g" missing)" = 0 ] ||
		fail "$1: counts lost at the source ($_g)$(mig_console_drops src)"
	echo "$1: the source counts on ($_g)"
}

# 1. Cancelled through the API during the first pass.
dst_start 1
migrate_bg m1 --max-bandwidth 8
migrate_wait_pass1 m1
vm_api "$sock" PUT /migrate/cancel '{}' || fail "PUT /migrate/cancel: $API_CODE $API_BODY"
migrate_end m1
[ "$MIG_RC" = 1 ] || fail "hearth migrate exited $MIG_RC after the cancel"
grep -q '^hearth migrate: cancelled: ' "$CASE_DIR/m1.out" || fail "hearth migrate did not say cancelled"
vm_api "$sock" GET /migrate && echo "$API_BODY" | grep -q '"state": *"cancelled"' ||
	fail "GET /migrate after the cancel: $API_BODY"
vm_running src || fail "the source hearth ended after the cancel"
counts_on "after the API cancel"
dst_gone 1

# 2. The migration link cut during the first pass, then Ctrl-C.
dst_start 2
migrate_bg m2 --max-bandwidth 8
migrate_wait_pass1 m2
"$IP" -n $MIG_SRC link del mgA || fail "cannot cut the migration link"
# The guest runs on while the migration is stuck.
counts_on "with the link cut"
kill -INT "$(cat "$CASE_DIR/m2.pid")"
migrate_end m2
[ "$MIG_RC" = 1 ] || fail "hearth migrate exited $MIG_RC after Ctrl-C"
grep -q 'cancel' "$CASE_DIR/m2.out" || fail "hearth migrate did not say it cancelled"
vm_running src || fail "the source hearth ended after the cut link and the cancel"
counts_on "after the cut link and Ctrl-C"
dst_gone 2

# 3. A new link: the guest moves after all, nothing lost.
"$IP" -n $MIG_SRC link add mgA type veth peer name mgB netns $MIG_DST || fail "no new link"
"$IP" -n $MIG_SRC addr add $MIG_SRC_ADDR/24 dev mgA
"$IP" -n $MIG_DST addr add $MIG_DST_ADDR/24 dev mgB
"$IP" -n $MIG_SRC link set mgA up
"$IP" -n $MIG_DST link set mgB up
dst_start 3
from=$(mig_counts src | tail -n1)
"$hearth" migrate --api-sock "$sock" --to "$to" >"$CASE_DIR/m3.out" 2>&1 ||
	fail "the last migration failed: $(tail -n1 "$CASE_DIR/m3.out")"
cat "$CASE_DIR/m3.out"
vm_wait_exit src 30 || fail "the source hearth still runs after the hand-over"
last=$(mig_counts src | tail -n1)
vm_wait_for dst3 "^CNT-$((last + 200))" 60 || fail "the counter did not go on at the destination"
g=$(mig_gaps src dst3 "$from")
[ "$(mig_field "$g" dup)" = 0 ] || fail "counts printed by both hosts ($g)"
[ "$(mig_field "$g" missing)" -le 1 ] || fail "counts lost ($g)"
vm_has dst3 NET-CLOSED && fail "the peer's connection closed after the move"
echo "last migration: $g"
mig_peer_stop
vm_kill dst3 TERM
vm_expect_exit dst3
pass
