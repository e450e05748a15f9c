/* virtio-blk (mmio): an indirect table whose length (40) is not a multiple of 16. */
#include "attack.inc"
attack:
	blk_mmio F_INDIRECT
	header T_IN, $0
	blk_ichain $BUF, $512, D_WRITE
	movl $40, DESC + 8
	reject_chain_at_0 msg
msg:	.asciz "indirect table length 40 -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_indirect_bad_len"
