/*
 * virtio-blk (mmio): a read scattered over 200 buffers of 512 bytes (seg_max
 * is below that) through a 202-entry indirect table. The device must refuse
 * it (IOERR, or needs-reset) and work afterwards.
 */
#include "attack.inc"
#define NSEG 200
attack:
	blk_mmio F_INDIRECT
	header T_IN, $0
	desc 0, $INDIRECT, $(16 * (NSEG + 2)), D_INDIRECT, 0
	idesc 0, $HDR, $16, D_NEXT, 1
	mov $INDIRECT + 16, %rdi
	mov $BUF, %eax
	mov $2, %ecx
1:	mov %rax, (%rdi)
	movl $512, 8(%rdi)
	movw $D_WRITE | D_NEXT, 12(%rdi)
	mov %cx, 14(%rdi)
	add $512, %eax
	add $16, %rdi
	inc %ecx
	cmp $NSEG + 2, %ecx
	jb 1b
	movq $STATUS, (%rdi)
	movl $1, 8(%rdi)
	movw $D_WRITE, 12(%rdi)
	movb $0xff, STATUS
	xor %edi, %edi
	call submit
	cmp $1, %eax
	je 2f
	call check_used
	cmpb $1, STATUS
	jne 9f
	call blk_read0
	reject msg
2:	call blk_recover
	reject msg
9:	fail msg_taken
msg_taken: .asciz "200 segments were accepted"
msg:	.asciz "200 data segments refused; device works afterwards"
attack_name:	.asciz "blk_too_many_segments"
