#!/bin/sh
# --transport pci: virtio-rng on virtio-pci; driver binds, bytes flow, MSI-X vectors, INTx with pci=nomsi.
# timeout: 300
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
[ "$HEARTH_VMM" = hearth ] || skip "hearth's own transport option"
"$VMM" run --help 2>&1 | grep -q -- '--transport' || skip "hearth run has no --transport option yet"
vm_start vm --transport pci --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE hearth.test=virtio_mmio"
vm_expect_exit vm
out=$(tr -d '\r' <"$CASE_DIR/vm.out")
# Linux 6.1 lists MSI-X vectors under its "PCI-MSI" interrupt domain.
for want in "dev=virtio[0-9]*:0x0004:virtio_rng" "rng=virtio_rng" "PCI-MSI.*virtio[0-9]*-config" \
	"PCI-MSI.*virtio[0-9]*-input"; do
	echo "$out" | grep -q "$want" || fail "no '$want' in the guest's report"
done
echo "$out" | grep -q "no ioeventfd" && fail "KVM refused the notify ioeventfds"
[ "$(vm_result vm rngbytes)" = 4096 ] || fail "read $(vm_result vm rngbytes) of 4096 bytes from /dev/hwrng"

# Without MSI-X the device interrupts through INTA (level, IOAPIC) and the ISR.
vm_start intx --transport pci --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE pci=nomsi hearth.test=virtio_mmio"
vm_expect_exit intx
out=$(tr -d '\r' <"$CASE_DIR/intx.out")
echo "$out" | grep -q "IO-APIC.*fasteoi.*virtio[0-9]" || fail "no INTx line for virtio with pci=nomsi"
[ "$(vm_result intx rngbytes)" = 4096 ] || fail "INTx: read $(vm_result intx rngbytes) of 4096 bytes"
pass
