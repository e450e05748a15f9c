#!/bin/sh
# A CPL-3 guest dirtying 32 MiB as fast as it can migrates over loopback with KVM's dirty ring (kvm-amd has one): the source says its dirty pages come from the ring and that a full ring made the vCPU harvest it itself, `hearth migrate` exits 0, the RAM the destination received hashes to what the source had when its vCPUs stopped, and the guest goes on sweeping from where it was.
# timeout: 300
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
[ "$HEARTH_VMM" = hearth ] || skip "hearth's own dirty ring"
hearth=${HEARTH_BIN:-$HEARTH_ROOT/build/hearth}
guest=$HEARTH_ROOT/build/tests/guests/dirty.bzImage
[ -f "$guest" ] || fail "no $guest (ninja -C build builds the tiny guests)"

# Both sides print the SHA-256 of guest RAM: the source once its vCPUs have
# stopped, the destination of what it received, before the guest runs there.
HEARTH_TEST_MIGRATION_HASH=1
export HEARTH_TEST_MIGRATION_HASH
vm_start dst --incoming tcp:127.0.0.1:0
vm_wait_for dst 'listening on 127\.0\.0\.1:[0-9]' 60 || fail "the destination did not listen"
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$CASE_DIR/dst.out" | head -n1)

# Pace 1: the guest writes one page after the other with (almost) no pause,
# 8192 pages a sweep, far more than a 4096-entry ring holds between two
# harvests of the pre-copy.
vm_start src --kernel "$guest" --memory 128 --cpus 1 --cmdline 1 \
	--api-sock "$CASE_DIR/src.sock" -v
vm_wait_for src 'sweep [0-9a-f]\{16\}' 60 || fail "the guest does not sweep"
grep -q "dirty pages: KVM's dirty ring" "$CASE_DIR/src.out" ||
	fail "the source does not use KVM's dirty ring ($(grep 'dirty pages:' "$CASE_DIR/src.out"))"
before=$(sed -n 's/.*sweep \([0-9a-f]\{16\}\).*/\1/p' "$CASE_DIR/src.out" | tail -n1)

"$hearth" migrate --api-sock "$CASE_DIR/src.sock" --to "tcp:127.0.0.1:$port" \
	--max-downtime 300 >"$CASE_DIR/migrate.out" 2>&1
rc=$?
cat "$CASE_DIR/migrate.out"
[ "$rc" = 0 ] || fail "hearth migrate exited $rc: $(tail -n1 "$CASE_DIR/migrate.out")"
vm_wait_exit src 30 || fail "the source did not exit after the hand-over"
[ "$VM_RC" = 0 ] || fail "the source exited $VM_RC"

grep -q 'its dirty ring filled up: the vCPU harvests it itself' "$CASE_DIR/src.out" ||
	fail "no vCPU found its dirty ring full (the guest dirtied too little?)"
a=$(sed -n 's/.*source RAM sha256 \([0-9a-f]\{64\}\).*/\1/p' "$CASE_DIR/src.out" | head -n1)
b=$(sed -n 's/.*received RAM sha256 \([0-9a-f]\{64\}\).*/\1/p' "$CASE_DIR/dst.out" | head -n1)
[ -n "$a" ] && [ "$a" = "$b" ] ||
	fail "guest RAM checksums differ: source '$a', destination '$b'"

# The destination's guest sweeps on, from at least the source's last count.
vm_wait_for dst "sweep [0-9a-f]\{16\}" 60 || fail "the guest does not sweep on the destination"
first=$(sed -n 's/.*sweep \([0-9a-f]\{16\}\).*/\1/p' "$CASE_DIR/dst.out" | head -n1)
[ "$((0x$first))" -ge "$((0x$before))" ] ||
	fail "the destination's guest went back: sweep $first after the source's $before"
vm_kill dst TERM
vm_wait_exit dst 30
pass
