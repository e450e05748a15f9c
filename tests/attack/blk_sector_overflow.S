/*
 * virtio-blk (mmio): writes at sectors whose byte offset overflows 2^64
 * (2^55 wraps to offset 0) or lies just past the end (2047, 2 sectors).
 * Both must fail with IOERR; the image must not change.
 */
#include "attack.inc"
attack:
	blk_mmio 0
	mov $0x0080000000000000, %rbx
	header T_OUT, %rbx
	blk_chain $BUF, $512, 0
	call submit_ioerr
	header T_OUT, $2047
	blk_chain $BUF, $1024, 0
	call submit_ioerr
	call blk_read0
	reject msg
msg:	.asciz "sector 2^55 and a write past the end -> IOERR; image unchanged"
attack_name:	.asciz "blk_sector_overflow"
