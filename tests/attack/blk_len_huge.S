/* virtio-blk (mmio): a data descriptor of length 0xffffffff. */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_IN, $0
	blk_chain $BUF, $0xffffffff, D_WRITE
	reject_chain_at_0 msg
msg:	.asciz "descriptor length 2^32-1 -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_len_huge"
