/* virtio-blk (mmio): buffers of 0xf0000000 bytes each whose lengths sum past 2^32. */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_OUT, $8
	desc 0, $HDR, $16, D_NEXT, 1
	desc 1, $BUF, $0xf0000000, D_NEXT, 2
	desc 2, $BUF, $0xf0000000, D_NEXT, 3
	desc 3, $BUF, $0x20000000, D_NEXT, 4
	desc 4, $STATUS, $1, D_WRITE, 0
	reject_chain_at_0 msg
msg:	.asciz "lengths summing past 2^32 -> needs-reset; image unchanged; device works after a reset"
attack_name:	.asciz "blk_len_sum_overflow"
