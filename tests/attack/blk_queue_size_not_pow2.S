/* virtio-blk (mmio): QueueNum 3 (not a power of two), then QueueReady. */
#include "attack.inc"
attack:
	mov $3, %esi
	mov $R_QUEUE_NUM, %edi
	call ring_refused
	reject msg
msg:	.asciz "queue size 3 -> needs-reset, queue not ready; device works after a reset"
attack_name:	.asciz "blk_queue_size_not_pow2"
