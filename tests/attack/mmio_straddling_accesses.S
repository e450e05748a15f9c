/*
 * MMIO accesses straddling devices: a dword across the end of the ECAM into
 * the first virtio-mmio slot, a qword across two slots, accesses just past
 * the last slot. None may reach a device; the blk must keep working.
 */
#include "attack.inc"
attack:
	blk_mmio 0
	mov $0xeffffffe, %rbx
	mov (%rbx), %eax
	movl $0, (%rbx)
	mov $MMIO_BASE + 0xffc, %rbx
	mov (%rbx), %rax
	movq $0, (%rbx)
	mov $MMIO_BASE + 0x6ffe, %rbx
	mov (%rbx), %eax
	movl $0, (%rbx)
	mov $MMIO_BASE + 0x7000, %rbx
	mov (%rbx), %rax
	movq $0, (%rbx)
	cmpl $15, R_STATUS(%r15)
	jne 9f
	call blk_read0
	pass msg
9:	fail msg_status
msg_status: .asciz "the blk's status changed"
msg:	.asciz "straddling accesses reached nothing; the blk works"
attack_name:	.asciz "mmio_straddling_accesses"
