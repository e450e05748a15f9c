/* virtio-rng (mmio): entropy requested into the virtio-mmio window (DMA at MMIO). */
#include "attack.inc"
attack:
	mov $0, %esi
	mov $ID_RNG, %edi
	call mmio_queue_setup
	mov $MMIO_BASE, %rax
	mov $4096, %ecx
	mov $(D_WRITE), %edx
	call one_buffer
	expect_needs_reset
	call mmio_recover
	lea good(%rip), %rax
	mov $16, %ecx
	mov $D_WRITE, %edx
	call one_buffer
	call check_used
	reject msg
good:	.asciz "ATTACK good data"
msg:	.asciz "entropy into MMIO -> needs-reset; device works after a reset"
attack_name:	.asciz "rng_read_into_mmio"
