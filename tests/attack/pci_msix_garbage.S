/*
 * virtio-pci: MSI-X enabled with every table entry unmasked and aimed at a
 * garbage address/data, the queue and config vectors pointing at them (and
 * at absent vectors), then requests complete and raise those interrupts.
 */
#include "attack.inc"
attack:
	xor %esi, %esi
	mov $0x1042, %edi
	call pci_setup
	/* Find the MSI-X capability (id 0x11) and enable MSI-X. */
	mov $0x11, %edi
	call pci_cap
	orw $0x8000, 2(%r13, %rbx)
	mov $0x4000, %ebx
3:	movl $0xdeadbeef, (%r12, %rbx)
	movl $0xffffffff, 4(%r12, %rbx)
	movl $0xffffffff, 8(%r12, %rbx)
	movl $0, 12(%r12, %rbx)
	add $16, %ebx
	cmp $0x4100, %ebx
	jb 3b
	movw $0, C_MSIX(%r12)
	movw $0, C_Q_SELECT(%r12)
	movw $1, C_Q_MSIX(%r12)
	movw $0, AVAIL /* interrupts wanted */
	call blk_read0
	movw $0x7fff, C_Q_MSIX(%r12)
	call blk_read0
	movw $0x7fff, C_MSIX(%r12)
	pass msg
msg:	.asciz "interrupts through garbage MSI-X entries; requests complete"
attack_name:	.asciz "pci_msix_garbage"
