/* virtio-blk (mmio): a descriptor table beyond guest RAM, then QueueReady. */
#include "attack.inc"
attack:
	mov $0x10000000, %esi
	mov $R_DESC_LO, %edi
	call ring_refused
	reject msg
msg:	.asciz "ring outside RAM -> needs-reset, queue not ready; device works after a reset"
attack_name:	.asciz "blk_ring_outside_ram"
