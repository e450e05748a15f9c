/* virtio-blk (mmio): an indirect table whose NEXT links loop (2 -> 1). */
#include "attack.inc"
attack:
	blk_mmio F_INDIRECT
	header T_IN, $0
	blk_ichain $BUF, $512, D_WRITE
	movw $D_WRITE | D_NEXT, INDIRECT + 16 * 2 + 12
	movw $1, INDIRECT + 16 * 2 + 14
	reject_chain_at_0 msg
msg:	.asciz "indirect descriptor loop -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_indirect_loop"
