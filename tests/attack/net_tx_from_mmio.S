/* virtio-net (mmio): a frame read from the PCI ECAM (DMA from MMIO). */
#include "attack.inc"
attack:
	mov $1, %esi
	mov $ID_NET, %edi
	call mmio_queue_setup
	mov $ECAM, %rax
	mov $4096, %ecx
	mov $(0), %edx
	call one_buffer
	expect_needs_reset
	call mmio_recover
	lea good(%rip), %rax
	mov $16, %ecx
	mov $0, %edx
	call one_buffer
	call check_used
	reject msg
good:	.asciz "ATTACK good data"
msg:	.asciz "frame from MMIO -> needs-reset; device works after a reset"
attack_name:	.asciz "net_tx_from_mmio"
