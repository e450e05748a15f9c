/* virtio-pci: virtio-blk's available index jumps by 0xffff (one short of a full wrap). */
#include "attack.inc"
attack:
	xor %esi, %esi
	mov $0x1042, %edi
	call pci_setup
	header T_IN, $0
	blk_chain $BUF, $512, D_WRITE
	movw $0xffff, AVAIL + 2
	call notify
	call wait_used
	expect_needs_reset
	xor %esi, %esi
	mov $0x1042, %edi
	call pci_setup
	call blk_read0
	reject msg
msg:	.asciz "avail index +0xffff -> needs-reset; device works after a reset"
attack_name:	.asciz "pci_blk_avail_jump"
