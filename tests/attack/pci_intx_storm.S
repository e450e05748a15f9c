/*
 * virtio-pci: MSI-X left off, so completions raise INTx: 64 requests with
 * interrupts wanted, the command register's INTx-disable bit toggled and
 * the ISR read (which acknowledges) at odd moments.
 */
#include "attack.inc"
attack:
	xor %esi, %esi
	mov $0x1042, %edi
	call pci_setup
	movw $0, AVAIL /* interrupts wanted */
	mov $64, %ebx
1:	push %rbx
	mov %ebx, %eax
	and $1, %eax
	shl $10, %eax /* INTx disable */
	or $6, %eax
	mov %ax, 4(%r13)
	call blk_read0
	movb 0x1000(%r12), %al /* ISR: read to acknowledge */
	movw $6, 4(%r13)
	movb 0x1000(%r12), %al
	pop %rbx
	dec %ebx
	jnz 1b
	pass msg
msg:	.asciz "64 requests raising INTx with it toggled and acknowledged; all completed"
attack_name:	.asciz "pci_intx_storm"
