#!/bin/sh
# --transport mmio: the guest finds its virtio disk on virtio-mmio, reads the host's marker and writes one back, and copies 16 MiB within the disk with O_DIRECT that the host finds intact.
# timeout: 180
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
[ "$HEARTH_VMM" = hearth ] || skip "hearth's own transport and disk options"
img=$CASE_DIR/disk.img
# 40 MiB: markers in the first MiB, 16 MiB of random bytes at 8 MiB that the
# guest copies to 24 MiB.
truncate -s 40M "$img" || fail "cannot create the image"
printf 'HOST-MARKER' | dd of="$img" bs=512 seek=8 conv=notrunc 2>/dev/null
head -c 16777216 /dev/urandom | dd of="$img" bs=1M seek=8 conv=notrunc 2>/dev/null ||
	fail "cannot write random bytes into the image"
want=$(dd if="$img" bs=1M skip=8 count=16 2>/dev/null | sha256sum | cut -d' ' -f1)
vm_boot vm blk_mmio --transport mmio --disk "path=$img,serial=hearth-mmio-0"
vm_expect_exit vm 150
vm_expect vm HEARTH-TEST-END
dev=$(vm_result vm vdadev)
case "$dev" in
*/LNRO0005:*/virtio*) ;;
*) fail "vda is not on a virtio-mmio device: '$dev'" ;;
esac
[ "$(vm_result vm vdasectors)" = 81920 ] || fail "vda has $(vm_result vm vdasectors) sectors, not 81920"
[ "$(vm_result vm vdaread)" = HOST-MARKER ] || fail "the guest read '$(vm_result vm vdaread)'"
[ "$(vm_result vm vdawrite)" = 0 ] || fail "the guest's marker write failed"
[ "$(dd if="$img" bs=512 skip=16 count=1 2>/dev/null | head -c 11)" = GUEST-WROTE ] ||
	fail "the guest's marker is not in the image"
[ "$(vm_result vm vdacopy)" = 0 ] || fail "the guest's 16 MiB O_DIRECT copy failed"
got=$(dd if="$img" bs=1M skip=24 count=16 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "the guest's copy at 24 MiB has sha256 $got, the original $want"
pass
