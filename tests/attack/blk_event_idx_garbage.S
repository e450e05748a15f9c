/*
 * virtio-blk (mmio): VIRTIO_F_RING_EVENT_IDX negotiated, then 64 requests
 * with used_event set to garbage (behind, far ahead, wrapping) and the
 * available ring's flags set to undefined bits, interrupts acknowledged with
 * garbage. Every request must complete.
 */
#include "attack.inc"
#define F_EVENT_IDX (1 << 29)
attack:
	blk_mmio F_EVENT_IDX
	mov $64, %r13d
1:	mov %r13d, %eax
	imul $0x9e37, %eax
	mov %ax, AVAIL + 4 + 2 * QSIZE /* used_event */
	mov %ax, AVAIL /* flags: undefined bits */
	call blk_read0
	mov %r13d, %eax
	imul $0x7f4a7c15, %eax
	mov %eax, R_INT_ACK(%r15)
	dec %r13d
	jnz 1b
	pass msg
msg:	.asciz "64 requests with garbage used_event, flags and acks; all completed"
attack_name:	.asciz "blk_event_idx_garbage"
