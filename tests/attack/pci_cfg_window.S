/*
 * virtio-pci: the PCI_CFG capability's window into BAR 4 through config
 * space: bad windows (another BAR, lengths 0, 3 and 8, a misaligned offset,
 * offsets past the BAR and wrapping 2^32) read and written, then a good one
 * used to read num_queues and to kick a pending request (a notification
 * delivered from inside a config-space access), which must complete.
 */
#include "attack.inc"
attack:
	xor %esi, %esi
	mov $0x1042, %edi
	call pci_setup
	/* The vendor capability (0x09) with cfg_type 5. */
	mov $0x09, %edi
	mov $5, %esi
	call pci_cap
	lea (%r13, %rbx), %rbp /* the capability in ECAM */
	lea windows(%rip), %rsi
4:	movzbl (%rsi), %eax
	mov %al, 4(%rbp)
	mov 4(%rsi), %eax
	mov %eax, 8(%rbp)
	mov 8(%rsi), %eax
	mov %eax, 12(%rbp)
	mov 16(%rbp), %eax
	movl $0xffffffff, 16(%rbp)
	movb $0xff, 17(%rbp)
	add $12, %rsi
	cmpb $0xff, (%rsi)
	jne 4b
	/* A good window: num_queues (2 bytes at 0x12). */
	movb $4, 4(%rbp)
	movl $C_NUMQ, 8(%rbp)
	movl $2, 12(%rbp)
	cmpw $1, 16(%rbp)
	jne 8f
	/* A request made available, kicked through the window only. */
	header T_IN, $0
	blk_chain $RBUF, $512, D_WRITE
	xor %edi, %edi
	call publish
	mov V_NOTP, %rax
	sub %r12, %rax
	mov %eax, 8(%rbp)
	movw $0, 16(%rbp)
	call wait_used
	call check_used
	cmpb $0, STATUS
	jne 7f
	pass msg
7:	fail msg_kick
8:	fail msg_numq
	.balign 4
/* bar, offset, length */
windows: .long 0, 0, 4
	.long 5, 0, 4
	.long 4, 0, 0
	.long 4, 0, 3
	.long 4, 0, 8
	.long 4, 2, 4
	.long 4, 0x8000, 4
	.long 4, 0x7ffe, 4
	.long 4, 0xfffffffc, 4
	.long 4, 0xffffffff, 1
	.long 0xff
msg_numq: .asciz "num_queues through the window is not 1"
msg_kick: .asciz "the request kicked through the window failed"
msg:	.asciz "bad PCI_CFG windows ignored; a good one reads and kicks"
attack_name:	.asciz "pci_cfg_window"
