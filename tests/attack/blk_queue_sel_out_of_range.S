/* virtio-blk (mmio): QueueSel 0x1234 and 0xffffffff, then every queue register written and read. */
#include "attack.inc"
attack:
	mov $ID_BLK, %edi
	call mmio_find
	xor %esi, %esi
	call mmio_init
	mov $0x1234, %ebx
	call bad_queue
	mov $0xffffffff, %ebx
	call bad_queue
	xor %edi, %edi
	call mmio_queue
	call mmio_go
	call blk_read0
	pass msg

/* bad_queue: select queue ebx, program it, enable it, kick it: nothing may take. */
bad_queue:
	mov %ebx, R_QUEUE_SEL(%r15)
	cmpl $0, R_QUEUE_MAX(%r15)
	jne 1f
	movl $QSIZE, R_QUEUE_NUM(%r15)
	movl $DESC, R_DESC_LO(%r15)
	movl $AVAIL, R_DRIVER_LO(%r15)
	movl $USED, R_DEVICE_LO(%r15)
	movl $1, R_QUEUE_READY(%r15)
	cmpl $0, R_QUEUE_READY(%r15)
	jne 1f
	cmpl $0, R_DESC_LO(%r15)
	jne 1f
	mov %ebx, R_NOTIFY(%r15)
	call needs_reset
	jnz 1f
	ret
1:	fail msg_taken
msg_taken: .asciz "a queue beyond the device's queues took effect"
msg:	.asciz "queues 0x1234 and 0xffffffff read as absent and ignore writes; queue 0 works"
attack_name:	.asciz "blk_queue_sel_out_of_range"
