/*
 * 16550A UART (COM1): every value written to every register 8 times over
 * (divisor latch, loopback, FIFO control, the receive FIFO overrun through
 * loopback), with reads in between. Then the UART, set up again, must
 * report an empty transmitter and keep its scratch register.
 */
#include "attack.inc"
attack:
	mov $8, %r13d
1:	xor %ebx, %ebx /* value */
2:	mov $COM1, %dx
3:	mov %bl, %al
	cmp $COM1, %dx
	jne 4f
	and $0x7f, %al /* printable noise only on the data register */
4:	out %al, %dx
	in %dx, %al
	inc %dx
	cmp $COM1 + 8, %dx
	jb 3b
	inc %ebx
	cmp $256, %ebx
	jb 2b
	dec %r13d
	jnz 1b
	mov $0x80, %al /* set up again: 115200 8N1, no loopback, FIFOs cleared */
	mov $COM1 + 3, %dx
	out %al, %dx
	mov $1, %al
	mov $COM1, %dx
	out %al, %dx
	xor %eax, %eax
	mov $COM1 + 1, %dx
	out %al, %dx
	mov $3, %al
	mov $COM1 + 3, %dx
	out %al, %dx
	xor %eax, %eax
	mov $COM1 + 4, %dx
	out %al, %dx
	mov $COM1 + 1, %dx
	out %al, %dx
	mov $7, %al
	mov $COM1 + 2, %dx
	out %al, %dx
	mov $COM1 + 5, %dx
	in %dx, %al
	and $0x60, %al
	cmp $0x60, %al
	jne 8f
	mov $0x5a, %al
	mov $COM1 + 7, %dx
	out %al, %dx
	in %dx, %al
	cmp $0x5a, %al
	jne 9f
	pass msg
8:	fail msg_lsr
9:	fail msg_scratch
msg_lsr: .asciz "transmitter not empty after the flood"
msg_scratch: .asciz "scratch register lost its value"
msg:	.asciz "16384 writes to every UART register; the UART still works"
attack_name:	.asciz "uart_flood"
