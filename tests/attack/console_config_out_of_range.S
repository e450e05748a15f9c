/*
 * virtio-console (mmio): VIRTIO_CONSOLE_F_EMERG_WRITE negotiated, then
 * config-space writes of every width at every offset of the slot's config
 * window (emerg_wr among them, partly overlapped by wider writes) and reads
 * of all of it. The console must keep working.
 */
#include "attack.inc"
#define F_EMERG_WRITE (1 << 2)
attack:
	mov $F_EMERG_WRITE, %esi
	mov $ID_CONSOLE, %edi
	call mmio_find
	call mmio_init
	mov $1, %edi
	call mmio_queue
	call mmio_go
	mov $0x100, %ebx
1:	movb $'.', (%r15, %rbx)
	movw $0x2e2e, (%r15, %rbx)
	movl $0x2e2e2e2e, (%r15, %rbx)
	mov (%r15, %rbx), %eax
	movb (%r15, %rbx), %al
	inc %ebx
	cmp $0xffc, %ebx
	jb 1b
	xor %edx, %edx
	call good_buffer
	pass msg
msg:	.asciz "config writes of every width and offset; the console works"
attack_name:	.asciz "console_config_out_of_range"
