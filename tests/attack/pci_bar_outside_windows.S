/*
 * virtio-pci: virtio-blk's BAR 4 moved over the ECAM, the virtio-mmio
 * slots, the local APIC, address 0 and the top of the 64-bit space (where
 * address + size wraps). None may be mapped: the ECAM must keep answering;
 * moved back into the window, the device must work.
 */
#include "attack.inc"
attack:
	mov $0x1042, %edi
	call pci_find
	lea places(%rip), %rbp
1:	mov (%rbp), %rax
	call pci_set_bar4
	call host_bridge_ok
	mov $ECAM, %rax
	movl $0xffffffff, 0x14(%rax) /* common config's device_status, were it mapped */
	add $8, %rbp
	cmpq $0, (%rbp)
	jne 1b
	mov $0xd0000000, %rax
	call pci_set_bar4
	xor %esi, %esi
	mov $0x1042, %edi
	call pci_setup
	call blk_read0
	pass msg
	.balign 8
places:	.quad ECAM, MMIO_BASE, 0xfee00000, 0xfec00000, 0xffffffffffff8000, 0xdfff8000 + 0x8000, 0
msg:	.asciz "BARs outside the windows not mapped; ECAM intact; the device works"
attack_name:	.asciz "pci_bar_outside_windows"
