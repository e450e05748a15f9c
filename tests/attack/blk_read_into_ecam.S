/* virtio-blk (mmio): a read whose data buffer is the PCI ECAM (DMA at MMIO). */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_IN, $0
	blk_chain $ECAM, $512, D_WRITE
	xor %edi, %edi
	call submit
	expect_needs_reset
	mov $ECAM, %rbx
	cmpl $0x00081b36, (%rbx)
	je 1f
	fail msg_ecam
1:	call blk_recover
	reject msg
msg_ecam: .asciz "the host bridge's ID changed"
msg:	.asciz "read into the PCI ECAM -> needs-reset; ECAM intact; device works after a reset"
attack_name:	.asciz "blk_read_into_ecam"
