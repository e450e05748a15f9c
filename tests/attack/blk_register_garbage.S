/*
 * virtio-mmio register space: 0xffffffff written to every register of a
 * live virtio-blk, then 1- and 2-byte writes and reads at every offset.
 * The device must survive and work after a reset.
 */
#include "attack.inc"
attack:
	blk_mmio 0
	xor %ebx, %ebx
1:	movl $0xffffffff, (%r15, %rbx)
	mov (%r15, %rbx), %eax
	add $4, %ebx
	cmp $0x100, %ebx
	jb 1b
	xor %ebx, %ebx
2:	movb $0xa5, (%r15, %rbx)
	movw $0x5a5a, (%r15, %rbx)
	movb (%r15, %rbx), %al
	movw (%r15, %rbx), %ax
	inc %ebx
	cmp $0xff, %ebx
	jb 2b
	cmpl $0x74726976, R_MAGIC(%r15)
	je 3f
	fail msg_magic
3:	call blk_recover
	pass msg
msg_magic: .asciz "MagicValue changed"
msg:	.asciz "garbage in every register; device works after a reset"
attack_name:	.asciz "blk_register_garbage"
