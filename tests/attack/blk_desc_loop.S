/* virtio-blk (mmio): a descriptor chain whose NEXT links loop (0 -> 1 -> 2 -> 1). */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_IN, $0
	blk_chain $BUF, $512, D_WRITE
	movw $D_WRITE | D_NEXT, DESC + 16 * 2 + 12
	movw $1, DESC + 16 * 2 + 14
	reject_chain_at_0 msg
msg:	.asciz "descriptor loop -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_desc_loop"
