/*
 * virtio-pci: virtio-blk's BAR 4 moved back and forth between two places
 * 200 times (its notifications re-registered each time), a request kicked
 * and completed at each stop, some made available just before the move
 * and kicked just after.
 */
#include "attack.inc"
attack:
	xor %esi, %esi
	mov $0x1042, %edi
	call pci_setup
	mov %r12, %rbp /* the first place */
	mov $200, %r15d
1:	mov $0xd0000000, %rax
	test $1, %r15d
	jz 2f
	mov %rbp, %rax
2:	mov V_NOTP, %rcx
	sub %r12, %rcx
	mov %rax, %r12
	add %rax, %rcx
	mov %rcx, V_NOTP
	lea C_STATUS(%r12), %rcx
	mov %rcx, V_STATP
	header T_IN, $0
	blk_chain $RBUF, $512, D_WRITE
	xor %edi, %edi
	call publish
	mov %r12, %rax
	call pci_set_bar4
	call notify
	call wait_used
	call check_used
	cmpb $0, STATUS
	jne 9f
	dec %r15d
	jnz 1b
	call blk_read0
	pass msg
9:	fail msg_badstatus
msg:	.asciz "200 BAR moves with requests across them; all completed"
attack_name:	.asciz "pci_bar_move_storm"
