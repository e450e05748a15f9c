#!/bin/bash
# Runs tests/guests/blk_poll.S (a CPL-3 guest driving virtio-blk over
# virtio-mmio by polling) under hearth on the local /dev/kvm, then checks
# the image from the host.
#   rw: the guest must print BLK-OK and the disk's serial; afterwards the
#       image holds the guest's pattern at bytes [4096, 36864) and its
#       original bytes everywhere else.
#   ro: the disk is readonly=on: the guest's write must fail with IOERR
#       ("BLK-FAIL write status=01") and the image must be unchanged.
# Usage: blk_poll.sh HEARTH GUEST rw|ro
# Exit 0 on success, 1 on failure, 77 (skip) when /dev/kvm cannot be used.
set -u
hearth=$1 guest=$2 mode=$3

if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "SKIP: /dev/kvm is missing or not accessible"
	exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
img=$dir/disk.img

# 1 MiB of reproducible, non-repeating bytes, and a copy to compare with.
python3 -c '
import random, sys
r = random.Random(20261126)
sys.stdout.buffer.write(r.randbytes(1 << 20))' >"$img" || exit 1
cp "$img" "$dir/orig.img"

disk="path=$img,serial=blkpoll-serial"
[ "$mode" = ro ] && disk="$disk,readonly=on"
# A hung guest is a failure, never a stuck suite.
timeout 60 "$hearth" run --kernel "$guest" --memory 64 --serial stdio \
	--disk "$disk" --transport mmio </dev/null >"$dir/out" 2>"$dir/err"
status=$?
echo "--- hearth exit status: $status (expected 0)"
echo "--- guest output:"; cat "$dir/out"
echo "--- hearth stderr:"; cat "$dir/err"

fail() {
	echo "FAIL: $*"
	exit 1
}
[ "$status" = 0 ] || fail "exit status $status"
grep -q '^blk: virtio-mmio at f0000000' "$dir/out" || fail "device not found at slot 0"
grep -q '^blk: capacity 00000800 ' "$dir/out" || fail "capacity is not 2048 sectors"

if [ "$mode" = ro ]; then
	grep -q ' ro 1$' "$dir/out" || fail "VIRTIO_BLK_F_RO not offered"
	grep -q '^BLK-FAIL write status=01$' "$dir/out" || fail "the write did not fail with IOERR"
	cmp "$img" "$dir/orig.img" || fail "the read-only image changed"
	echo "PASS"
	exit 0
fi

grep -q ' ro 0$' "$dir/out" || fail "VIRTIO_BLK_F_RO offered on a writable disk"
grep -q '^blk: id=blkpoll-serial$' "$dir/out" || fail "GET_ID did not return the serial"
grep -q '^BLK-OK$' "$dir/out" || fail "no BLK-OK"
# The guest's 64-bit word at disk offset o is (o ^ 0x426c6b506f6c6c21) * 0x9e3779b97f4a7c15.
python3 - "$img" "$dir/orig.img" <<'EOF' || fail "image contents"
import struct, sys
img, orig = (open(p, "rb").read() for p in sys.argv[1:3])
lo, hi, m = 4096, 4096 + 32768, (1 << 64) - 1
want = b"".join(struct.pack("<Q", ((o ^ 0x426c6b506f6c6c21) * 0x9e3779b97f4a7c15) & m)
                for o in range(lo, hi, 8))
ok = len(img) == len(orig)
if img[lo:hi] != want:
    bad = next(i for i in range(hi - lo) if img[lo + i] != want[i])
    print(f"pattern differs at image byte {lo + bad}")
    ok = False
if img[:lo] != orig[:lo] or img[hi:] != orig[hi:]:
    print("bytes outside the written range changed")
    ok = False
print("image: pattern at [4096, 36864), rest unchanged" if ok else "image check failed")
sys.exit(0 if ok else 1)
EOF
echo "PASS"
