/*
 * virtio-pci: 200 rounds of: set virtio-blk up, make four 16 KiB reads
 * available, kick, and reset (device_status 0) at once, racing the device.
 * The device must work at the end.
 */
#include "attack.inc"
attack:
	mov $200, %r13d
1:	push %r13
	xor %esi, %esi
	mov $0x1042, %edi
	call pci_setup
	mov $0x4000, %edx
	call blk_kick_four
	movb $0, C_STATUS(%r12)
	cmpb $0, C_STATUS(%r12)
	jne 9f
	pop %r13
	dec %r13d
	jnz 1b
	xor %esi, %esi
	mov $0x1042, %edi
	call pci_setup
	call blk_read0
	pass msg
9:	fail msg_noreset
msg:	.asciz "200 resets racing four reads each; device works"
attack_name:	.asciz "pci_blk_reset_storm"
