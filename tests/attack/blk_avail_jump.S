/* virtio-blk (mmio): the available index jumps by 0x8000 at once. */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_IN, $0
	blk_chain $BUF, $512, D_WRITE
	movw $0x8000, AVAIL + 2
	movw $0x8000, V_AVAIL
	call notify
	call wait_used
	expect_needs_reset
	call blk_recover
	reject msg
msg:	.asciz "avail index +0x8000 -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_avail_jump"
