/*
 * virtio-blk (mmio): WRITE_ZEROES segments that run off the disk: sector
 * 2^64-1 with 2^32-1 sectors (sector + count overflows), 2047 with 2, and
 * 2^55 (its byte offset wraps to 0). Each must fail with IOERR and the
 * image must not change.
 */
#include "attack.inc"
#define F_WRITE_ZEROES (1 << 14)
#define T_WRITE_ZEROES 13
attack:
	blk_mmio F_WRITE_ZEROES
	header T_WRITE_ZEROES, $0
	desc 0, $HDR, $16, D_NEXT, 1
	desc 1, $BUF, $16, D_NEXT, 2
	desc 2, $STATUS, $1, D_WRITE, 0
	lea segs(%rip), %rbx
1:	mov (%rbx), %rax
	mov %rax, BUF
	mov 8(%rbx), %rax
	mov %rax, BUF + 8
	movb $0xff, STATUS
	push %rbx
	call submit_ioerr
	pop %rbx
	add $16, %rbx
	cmpq $0, (%rbx)
	jne 1b
	call blk_read0
	reject msg
	.balign 8
segs:	.quad 0xffffffffffffffff, 0xffffffff
	.quad 2047, 2
	.quad 0x0080000000000000, 1
	.quad 0, 0
msg:	.asciz "write-zeroes off the disk -> IOERR; image unchanged"
attack_name:	.asciz "blk_write_zeroes_out_of_range"
