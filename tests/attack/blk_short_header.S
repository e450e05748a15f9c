/* virtio-blk (mmio): a request header of 8 bytes (16 required). */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_OUT, $8
	blk_chain $BUF, $512, 0
	movl $8, DESC + 8
	xor %edi, %edi
	call submit
	call check_used
	cmpb $1, STATUS
	jne 1f
	call blk_read0
	reject msg
1:	fail msg_status
msg_status: .asciz "status is not IOERR"
msg:	.asciz "short header -> IOERR; image unchanged; the queue keeps working"
attack_name:	.asciz "blk_short_header"
