#!/bin/sh
# virtio-blk, virtio-net and virtio-rng over virtio-pci with MSI-X, driven by the
# stock kernel's own drivers: bytes the guest writes land in the image file,
# bytes the host wrote reach the guest, the guest pings the host over the tap.
# timeout: 240
# l1-memory-mib: 900
. "$HEARTH_ROOT/tests/nested/lib.sh"
[ "$HEARTH_VMM" = hearth ] || skip "hearth's own disk and network options"
img=$CASE_DIR/disk.img
dd if=/dev/zero of="$img" bs=1048576 count=16 2>/dev/null || fail "cannot create the image"
printf 'HOST-MARKER' | dd of="$img" bs=512 seek=8 conv=notrunc 2>/dev/null
vm_boot vm virtio_devices --disk "path=$img,serial=hearth-disk-0" --net tap=hvt0,mac=52:54:00:12:34:56
i=0
while ! ip link show hvt0 >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "the tap hvt0 never appeared"
	vm_running vm || fail "hearth exited before creating its tap"
	sleep 0.1
done
ip addr add 169.254.77.1/16 dev hvt0 || fail "cannot address hvt0"
ip link set hvt0 up || fail "cannot bring hvt0 up"
vm_expect_exit vm
out=$(tr -d '\r' <"$CASE_DIR/vm.out")
for want in "dev=0x0002:virtio_blk" "dev=0x0001:virtio_net" "dev=0x0004:virtio_rng"; do
	echo "$out" | grep -q "$want" || fail "no '$want' in the guest's report"
done
[ "$(vm_result vm vdasectors)" = 32768 ] || fail "vda has $(vm_result vm vdasectors) sectors, not 32768"
[ "$(vm_result vm vdaread)" = HOST-MARKER ] || fail "the guest read '$(vm_result vm vdaread)'"
[ "$(vm_result vm vdawrite)" = 0 ] || fail "the guest's write failed"
[ "$(dd if="$img" bs=512 skip=16 count=1 2>/dev/null | head -c 11)" = GUEST-WROTE ] ||
	fail "the guest's bytes are not in the image"
[ "$(vm_result vm rngbytes)" = 4096 ] || fail "read $(vm_result vm rngbytes) of 4096 bytes from /dev/hwrng"
[ "$(vm_result vm mac)" = 52:54:00:12:34:56 ] || fail "eth0 has MAC $(vm_result vm mac)"
[ "$(vm_result vm ping)" = ok ] || fail "the guest could not ping the host over the tap"
[ "$(vm_result vm msix)" -ge 3 ] 2>/dev/null || fail "$(vm_result vm msix) virtio MSI-X interrupts"
pass
