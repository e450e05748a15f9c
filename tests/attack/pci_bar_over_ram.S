/*
 * virtio-pci: virtio-blk's BAR 4 moved over guest RAM (1 MiB, where this
 * guest's code lives) with memory decoding on. hearth must not map it: the
 * RAM there keeps behaving as RAM. Moved to a free place in the 32-bit
 * window, the device must work there.
 */
#include "attack.inc"
attack:
	mov $0x1042, %edi
	call pci_find
	mov $0x100000, %rax
	call pci_set_bar4
	mov $0x100000, %rbx
	movl $0x5a5aa5a5, 0x14(%rbx) /* common config's device_status, were it mapped */
	cmpl $0x5a5aa5a5, 0x14(%rbx)
	jne 9f
	movl $0, 0x14(%rbx)
	mov $0xd0000000, %rax
	call pci_set_bar4
	xor %esi, %esi
	mov $0x1042, %edi
	call pci_setup
	mov $0xd0000000, %eax
	cmp %rax, %r12
	jne 8f
	call blk_read0
	pass msg
8:	fail msg_moved
9:	fail msg_ram
msg_moved: .asciz "BAR 4 does not read back where it was put"
msg_ram: .asciz "RAM under the moved BAR stopped behaving as RAM"
msg:	.asciz "BAR over RAM not mapped; the device works from 0xd0000000"
attack_name:	.asciz "pci_bar_over_ram"
