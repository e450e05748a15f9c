/* virtio-blk (mmio): a descriptor whose NEXT link points at itself. */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_IN, $0
	desc 0, $HDR, $16, D_NEXT, 0
	reject_chain_at_0 msg
msg:	.asciz "self-linked descriptor -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_desc_self_loop"
