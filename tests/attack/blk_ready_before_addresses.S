/*
 * virtio-blk (mmio): QueueReady before any ring address is written (the
 * rings all at 0), then the addresses written while the queue is ready.
 */
#include "attack.inc"
attack:
	mov $ID_BLK, %edi
	call mmio_find
	xor %esi, %esi
	call mmio_init
	movl $0, R_QUEUE_SEL(%r15)
	movl $1, R_QUEUE_READY(%r15)
	call needs_reset
	jnz 1f
	movl $DESC, R_DESC_LO(%r15)
	movl $AVAIL, R_DRIVER_LO(%r15)
	movl $USED, R_DEVICE_LO(%r15)
	movl $QSIZE, R_QUEUE_NUM(%r15)
	cmpl $1, R_QUEUE_READY(%r15)
	jne 2f
	cmpl $0, R_DESC_LO(%r15)
	jne 2f
	cmpl $0, R_DEVICE_LO(%r15)
	jne 2f
	cmpl $QSIZE, R_QUEUE_NUM(%r15)
	je 2f
	movl $0, R_QUEUE_READY(%r15)
	xor %edi, %edi
	call mmio_queue
	call mmio_go
	call blk_read0
	pass msg
1:	fail msg_refused
2:	fail msg_changed
msg_refused: .asciz "rings at 0 (in RAM) refused"
msg_changed: .asciz "ring addresses or size changed while the queue was ready"
msg:	.asciz "ready with rings at 0; writes while ready ignored; works once programmed"
attack_name:	.asciz "blk_ready_before_addresses"
