/* virtio-blk (mmio): a read whose data buffer is the device's own virtio-mmio registers (DMA at MMIO). */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_IN, $0
	blk_chain %r15, $4096, D_WRITE
	xor %edi, %edi
	call submit
	expect_needs_reset
	cmpl $0x74726976, R_MAGIC(%r15)
	je 1f
	fail msg_magic
1:	call blk_recover
	reject msg
msg_magic: .asciz "the virtio-mmio registers changed"
msg:	.asciz "read into the virtio-mmio window -> needs-reset; registers intact; device works after a reset"
attack_name:	.asciz "blk_read_into_mmio"
