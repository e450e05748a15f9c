#!/bin/sh
# --transport mmio --console virtio: virtio-rng and virtio-console (hvc0) on virtio-mmio, found through ACPI.
# timeout: 200
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
[ "$HEARTH_VMM" = hearth ] || skip "hearth's own transport option"
"$VMM" run --help 2>&1 | grep -q -- '--transport' || skip "hearth run has no --transport option yet"
vm_start vm --transport mmio --console virtio --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE hearth.test=virtio_mmio"
vm_wait_for vm HEARTH-HVC-WAITING 120 || fail "the guest found no hvc0"
vm_send vm "typed-into-hvc0-$$"
vm_expect_exit vm
out=$(tr -d '\r' <"$CASE_DIR/vm.out")
for want in "dev=virtio[0-9]*:0x0004:virtio_rng" "dev=virtio[0-9]*:0x0003:virtio_console" \
	"rng=virtio_rng" "IO-APIC [0-9]*-edge virtio"; do
	echo "$out" | grep -q "$want" || fail "no '$want' in the guest's report"
done
[ "$(vm_result vm rngbytes)" = 4096 ] || fail "read $(vm_result vm rngbytes) of 4096 bytes from /dev/hwrng"
vm_expect vm HEARTH-HVC-HELLO-FROM-GUEST
[ "$(vm_result vm hvcin)" = "typed-into-hvc0-$$" ] || fail "hvc0 read '$(vm_result vm hvcin)'"
pass
