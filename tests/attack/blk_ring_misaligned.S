/* virtio-blk (mmio): a descriptor table 8-byte aligned (16 required), then QueueReady. */
#include "attack.inc"
attack:
	mov $(DESC + 8), %esi
	mov $R_DESC_LO, %edi
	call ring_refused
	reject msg
msg:	.asciz "misaligned descriptor table -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_ring_misaligned"
