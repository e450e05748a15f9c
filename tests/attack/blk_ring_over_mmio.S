/* virtio-blk (mmio): the used ring placed on the virtio-mmio window, then QueueReady. */
#include "attack.inc"
attack:
	mov $MMIO_BASE, %esi
	mov $R_DEVICE_LO, %edi
	call ring_refused
	reject msg
msg:	.asciz "used ring on the MMIO window -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_ring_over_mmio"
