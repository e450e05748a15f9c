/* virtio-blk (mmio): an indirect descriptor inside an indirect table (pointing at itself). */
#include "attack.inc"
attack:
	blk_mmio F_INDIRECT
	header T_IN, $0
	desc 0, $INDIRECT, $48, D_INDIRECT, 0
	idesc 0, $HDR, $16, D_NEXT, 1
	idesc 1, $INDIRECT, $48, D_INDIRECT, 0
	reject_chain_at_0 msg
msg:	.asciz "nested indirect table -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_indirect_nested"
