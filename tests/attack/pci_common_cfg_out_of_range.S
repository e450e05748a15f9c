/*
 * virtio-pci: a live virtio-blk's BAR attacked: queue_select 0xffff with its
 * queue fields written, wrong-width accesses, the rest of every 4 KiB page
 * (common config past 0x40, ISR past its byte, device config past its size,
 * notifications for absent queues, MSI-X entries past the table, the PBA,
 * the unused pages). Queue 0 must be untouched and keep working.
 */
#include "attack.inc"
attack:
	xor %esi, %esi
	mov $0x1042, %edi
	call pci_setup
	movw $0xffff, C_Q_SELECT(%r12)
	movw $QSIZE, C_Q_SIZE(%r12)
	movl $0x10000000, C_Q_DESCLO(%r12)
	movw $1, C_Q_ENABLE(%r12)
	cmpw $0, C_Q_SIZE(%r12)
	jne 9f
	cmpw $0, C_Q_ENABLE(%r12)
	jne 9f
	movb $0xff, C_DFSELECT(%r12) /* wrong widths */
	movl $0xffffffff, C_Q_SELECT(%r12)
	movq $-1, C_Q_DESCLO(%r12)
	mov C_NUMQ - 1(%r12), %eax
	mov $0x40, %ebx /* common config past its fields */
1:	mov (%r12, %rbx), %eax
	movl $0xffffffff, (%r12, %rbx)
	add $4, %ebx
	cmp $0x1000, %ebx
	jb 1b
	mov $0x1001, %ebx /* ISR past its byte, then device config past the blk's */
1:	mov (%r12, %rbx), %al
	movb $0xff, (%r12, %rbx)
	add $7, %ebx
	cmp $0x1ff0, %ebx
	jb 1b
	mov $0x2060, %ebx
1:	mov (%r12, %rbx), %eax
	movl $0xffffffff, (%r12, %rbx)
	add $4, %ebx
	cmp $0x3000, %ebx
	jb 1b
	mov $0x3004, %ebx /* notifications of queues 1-1023 */
1:	movw $0xffff, (%r12, %rbx)
	mov %bx, (%r12, %rbx)
	add $4, %ebx
	cmp $0x4000, %ebx
	jb 1b
	mov $0x4100, %ebx /* MSI-X entries 16-255, the PBA, the unused pages */
1:	mov (%r12, %rbx), %eax
	movl $0xffffffff, (%r12, %rbx)
	add $4, %ebx
	cmp $0x8000, %ebx
	jb 1b
	movw $0, C_Q_SELECT(%r12)
	cmpw $QSIZE, C_Q_SIZE(%r12)
	jne 8f
	cmpw $1, C_Q_ENABLE(%r12)
	jne 8f
	mov $DESC, %eax
	cmp C_Q_DESCLO(%r12), %eax
	jne 8f
	call blk_read0
	pass msg
8:	fail msg_q0
9:	fail msg_absent
msg_absent: .asciz "queue 0xffff took a setting"
msg_q0: .asciz "queue 0 changed"
msg:	.asciz "garbage across the whole BAR ignored; queue 0 works"
attack_name:	.asciz "pci_common_cfg_out_of_range"
