/*
 * virtio-blk (mmio): config-space reads and writes of every width across the
 * whole 4 KiB slot past the registers, far beyond the device's config size.
 * Capacity must still read 2048 sectors and the device must keep working.
 */
#include "attack.inc"
attack:
	blk_mmio 0
	mov $0x100, %ebx
1:	mov (%r15, %rbx), %eax
	movb (%r15, %rbx), %al
	movw 1(%r15, %rbx), %ax
	cmp $0x140, %ebx
	jb 2f
	movl $0xffffffff, (%r15, %rbx)
	movb $0xff, 3(%r15, %rbx)
	movw $0xffff, 1(%r15, %rbx)
2:	add $4, %ebx
	cmp $0x1000, %ebx
	jb 1b
	cmpl $0x800, R_CONFIG(%r15)
	jne 3f
	cmpl $0, R_CONFIG + 4(%r15)
	jne 3f
	mov $0xffc, %ebx
	cmpl $0, (%r15, %rbx)
	jne 4f
	call blk_read0
	pass msg
3:	fail msg_cap
4:	fail msg_beyond
msg_cap: .asciz "capacity changed"
msg_beyond: .asciz "a read beyond the config space returned data"
msg:	.asciz "config accesses to 4 KiB ignored beyond the config; capacity intact"
attack_name:	.asciz "blk_config_out_of_range"
