/* virtio-blk (mmio): a NEXT link to descriptor 1000 of 16. */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_IN, $0
	blk_chain $BUF, $512, D_WRITE
	movw $1000, DESC + 16 * 1 + 14
	reject_chain_at_0 msg
msg:	.asciz "next index 1000 of 16 -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_next_out_of_range"
