/* virtio-blk (mmio): ring addresses and size rewritten while the queue is in use. */
#include "attack.inc"
attack:
	blk_mmio 0
	call blk_read0
	movl $0x10000000, R_DESC_LO(%r15)
	movl $MMIO_BASE, R_DRIVER_LO(%r15)
	movl $1, R_DEVICE_HI(%r15)
	movl $4, R_QUEUE_NUM(%r15)
	cmpl $DESC, R_DESC_LO(%r15)
	jne 1f
	cmpl $AVAIL, R_DRIVER_LO(%r15)
	jne 1f
	cmpl $0, R_DEVICE_HI(%r15)
	jne 1f
	cmpl $QSIZE, R_QUEUE_NUM(%r15)
	jne 1f
	call blk_read0
	pass msg
1:	fail msg_changed
msg_changed: .asciz "the ring moved while ready"
msg:	.asciz "ring writes while ready ignored; the queue keeps working"
attack_name:	.asciz "blk_ring_change_while_ready"
