/*
 * virtio-pci: queue 0's size and ring addresses rewritten while it is
 * enabled, and queue_enable written 0. The queue must keep its setting
 * and keep working.
 */
#include "attack.inc"
attack:
	xor %esi, %esi
	mov $0x1042, %edi
	call pci_setup
	call blk_read0
	movw $0, C_Q_SELECT(%r12)
	movw $4, C_Q_SIZE(%r12)
	movl $0x10000000, C_Q_DESCLO(%r12)
	movl $1, C_Q_AVAILHI(%r12)
	movl $ECAM, C_Q_USEDLO(%r12)
	movw $0, C_Q_ENABLE(%r12)
	cmpw $QSIZE, C_Q_SIZE(%r12)
	jne 9f
	cmpl $DESC, C_Q_DESCLO(%r12)
	jne 9f
	cmpl $0, C_Q_AVAILHI(%r12)
	jne 9f
	cmpl $USED, C_Q_USEDLO(%r12)
	jne 9f
	cmpw $1, C_Q_ENABLE(%r12)
	jne 9f
	call blk_read0
	pass msg
9:	fail msg_changed
msg_changed: .asciz "the enabled queue changed"
msg:	.asciz "writes to an enabled queue ignored; it keeps working"
attack_name:	.asciz "pci_queue_change_while_enabled"
