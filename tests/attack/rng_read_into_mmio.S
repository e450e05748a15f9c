/* virtio-rng (mmio): entropy requested into the virtio-mmio window (DMA at MMIO). */
#include "attack.inc"
attack:
	mov $0, %esi
	mov $ID_RNG, %edi
	mov $MMIO_BASE, %rax
	mov $4096, %ecx
	mov $(D_WRITE), %edx
	mov $D_WRITE, %r13d
	call bad_buffer_refused
	reject msg
msg:	.asciz "entropy into MMIO -> needs-reset; device works after a reset"
attack_name:	.asciz "rng_read_into_mmio"
