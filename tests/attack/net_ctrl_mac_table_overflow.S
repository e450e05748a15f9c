/*
 * virtio-net (mmio): VIRTIO_NET_CTRL_MAC_TABLE_SET on the control queue
 * with entry counts whose byte sizes run past the payload (0xffffffff, and
 * 0x2aaaaaab whose size wraps 2^32 to 2). Each must be answered ERR.
 */
#include "attack.inc"
#define F_CTRL (1 << 17 | 1 << 18) /* CTRL_VQ, CTRL_RX */
attack:
	mov $F_CTRL, %esi
	mov $ID_NET, %edi
	call mmio_find
	call mmio_init
	mov $2, %edi
	call mmio_queue
	call mmio_go
	desc 0, $BUF, $16, D_NEXT, 1
	desc 1, $STATUS, $1, D_WRITE, 0
	movw $0x0001, BUF /* class MAC, command TABLE_SET */
	lea counts(%rip), %rbp
1:	mov (%rbp), %eax
	mov %eax, BUF + 2
	movq $0, BUF + 6
	movl $0, BUF + 12
	movb $0xff, STATUS
	xor %edi, %edi
	call submit
	call check_used
	cmpb $1, STATUS
	jne 9f
	add $4, %rbp
	cmpl $0, (%rbp)
	jne 1b
	reject msg
9:	fail msg_ok
	.balign 4
counts:	.long 0xffffffff, 0x2aaaaaab, 0x00000002, 0
msg_ok:	.asciz "a MAC table larger than its payload was accepted"
msg:	.asciz "MAC tables past the payload -> VIRTIO_NET_ERR"
attack_name:	.asciz "net_ctrl_mac_table_overflow"
