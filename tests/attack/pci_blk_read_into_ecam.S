/* virtio-pci: virtio-blk reads into the PCI ECAM (DMA at MMIO). */
#include "attack.inc"
attack:
	xor %esi, %esi
	mov $0x1042, %edi
	call pci_setup
	header T_IN, $0
	blk_chain $ECAM, $4096, D_WRITE
	xor %edi, %edi
	call submit
	expect_needs_reset
	call host_bridge_ok
	xor %esi, %esi
	mov $0x1042, %edi
	call pci_setup
	call blk_read0
	reject msg
msg:	.asciz "read into the ECAM -> needs-reset; ECAM intact; device works after a reset"
attack_name:	.asciz "pci_blk_read_into_ecam"
