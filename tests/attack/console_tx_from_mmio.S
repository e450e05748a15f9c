/* virtio-console (mmio): output read from the virtio-mmio window (DMA from MMIO). */
#include "attack.inc"
attack:
	mov $1, %esi
	mov $ID_CONSOLE, %edi
	call mmio_queue_setup
	mov $MMIO_BASE, %rax
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
msg:	.asciz "output from MMIO -> needs-reset; device works after a reset"
attack_name:	.asciz "console_tx_from_mmio"
