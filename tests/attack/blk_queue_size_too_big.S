/* virtio-blk (mmio): QueueNum 0x10000 (above QueueNumMax and 16 bits), then QueueReady. */
#include "attack.inc"
attack:
	mov $0x10000, %esi
	mov $R_QUEUE_NUM, %edi
	call ring_refused
	reject msg
msg:	.asciz "queue size 0x10000 -> needs-reset, queue not ready; device works after a reset"
attack_name:	.asciz "blk_queue_size_too_big"
