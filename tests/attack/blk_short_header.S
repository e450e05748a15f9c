/* virtio-blk (mmio): a request header of 8 bytes (16 required). */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_OUT, $8
	blk_chain $BUF, $512, 0
	movl $8, DESC + 8
	call submit_ioerr
	call blk_read0
	reject msg
msg:	.asciz "short header -> IOERR; image unchanged; the queue keeps working"
attack_name:	.asciz "blk_short_header"
