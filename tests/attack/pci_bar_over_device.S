/*
 * virtio-pci: virtio-blk's BAR 4 moved onto virtio-rng's BAR 4. The rng must
 * keep answering there (its device config is empty; blk's would show the
 * capacity); moved to a free place, the blk must work again.
 */
#include "attack.inc"
attack:
	mov $0x1044, %edi
	call pci_find
	call pci_bar4
	mov %rax, %rbp /* rng's BAR 4 */
	mov $0x1042, %edi
	call pci_find
	mov %rbp, %rax
	call pci_set_bar4
	cmpl $0x800, 0x2000(%rbp)
	je 9f
	movl $1, C_DFSELECT(%rbp)
	testl $1, C_DF(%rbp)
	jz 8f
	mov $0x1042, %edi
	call pci_find
	mov $0xd0000000, %rax
	call pci_set_bar4
	mov $0xd0002000, %eax
	cmpl $0x800, (%rax)
	jne 7f
	xor %esi, %esi
	mov $0x1042, %edi
	call pci_setup
	call blk_read0
	pass msg
7:	fail msg_blk
8:	fail msg_rng
9:	fail msg_over
msg_over: .asciz "the blk BAR took over the rng's place"
msg_rng: .asciz "the rng stopped answering at its BAR"
msg_blk: .asciz "the blk does not answer at its new place"
msg:	.asciz "BAR over another device refused; both devices still work"
attack_name:	.asciz "pci_bar_over_device"
