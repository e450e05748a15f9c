/*
 * virtio-net (mmio): 200 rounds of: set the card up, queue four frames on
 * the transmit queue, kick, and reset at once. The card must work at the end.
 */
#include "attack.inc"
attack:
	mov $ID_NET, %edi
	call mmio_find
	mov $200, %r13d
1:	xor %esi, %esi
	call mmio_init
	mov $1, %edi
	call mmio_queue
	call mmio_go
	xor %ebx, %ebx
2:	mov %ebx, %eax
	shl $4, %eax
	movq $BUF, DESC(%rax)
	movl $(12 + 60), DESC + 8(%rax)
	movl $0, DESC + 12(%rax)
	mov %ebx, %edi
	call publish
	inc %ebx
	cmp $4, %ebx
	jne 2b
	call notify
	call mmio_reset_check
	dec %r13d
	jnz 1b
	call mmio_recover
	xor %edx, %edx
	call good_buffer
	pass msg
msg:	.asciz "200 resets racing four frames each; the card works"
attack_name:	.asciz "net_reset_storm"
