/*
 * virtio-net (mmio), receive side, while the test feeds frames into the tap:
 * VIRTIO_NET_F_MRG_RXBUF negotiated, a good 64-byte receive buffer made
 * available followed by a bad one (beyond guest RAM, over the virtio-mmio
 * window, an address plus length that wraps 2^64), so that a frame longer
 * than the first buffer makes the device take the bad one. Each must end in
 * needs-reset; before and after them, a good 2 KiB buffer must receive a
 * frame.
 */
#include "attack.inc"

#define F_MRG_RXBUF (1 << 15)

attack:
	mov $ID_NET, %edi
	call mmio_find
	call rx_good
	lea bad_buffers(%rip), %rbx
1:	mov (%rbx), %rsi
	test %rsi, %rsi
	jz 2f
	call rx_setup
	desc 0, $BUF, $64, D_WRITE, 0
	mov (%rbx), %rsi
	mov 8(%rbx), %ecx
	desc 1, %rsi, %ecx, D_WRITE, 0
	xor %edi, %edi
	call publish
	mov $1, %edi
	call publish
	call notify
	call rx_wait
	expect_needs_reset
	add $16, %rbx
	jmp 1b
2:	call rx_good
	reject msg

/* rx_setup: reset the card, MRG_RXBUF, the receive queue (0) ready, DRIVER_OK. */
rx_setup:
	call mmio_reset_check
	mov $F_MRG_RXBUF, %esi
	call mmio_init
	xor %edi, %edi
	call mmio_queue
	jmp mmio_go

/* rx_good: a 2 KiB receive buffer alone must get a frame (longer than the header). */
rx_good:
	call rx_setup
	desc 0, $BUF, $2048, D_WRITE, 0
	xor %edi, %edi
	call publish
	call notify
	call rx_wait
	call check_used
	cmp $12, %ebx
	ja 1f
	fail msg_short
1:	ret

/* rx_wait: wait_used, up to 40 times while it times out (frames come from the host). */
rx_wait:
	push %rbx
	mov $40, %r10d
1:	call wait_used
	cmp $2, %eax
	jne 2f
	dec %r10d
	jnz 1b
2:	pop %rbx
	ret

	.balign 8
/* address, length (as 8 bytes each); a zero address ends the list */
bad_buffers:
	.quad 0x10000000, 0x1000		/* 256 MiB: beyond the 64 MiB of RAM */
	.quad MMIO_BASE, 0x1000			/* the virtio-mmio window */
	.quad 0xfffffffffffff000, 0x2000	/* wraps 2^64 */
	.quad 0, 0

msg:	.asciz "receive buffers beyond RAM, over MMIO and wrapping 2^64, taken for frames from the tap -> needs-reset each; the card receives after a reset"
msg_short:	.asciz "a received frame no longer than the header"
attack_name:	.asciz "net_rx_bad_buffers"
