/* virtio-blk (mmio): an available ring entry naming descriptor 200 of 16. */
#include "attack.inc"
attack:
	blk_mmio 0
	mov $200, %edi
	call submit
	expect_needs_reset
	call blk_recover
	reject msg
msg:	.asciz "head 200 of 16 -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_head_out_of_range"
