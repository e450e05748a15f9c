/* Resets through the reset control register at port 0xcf9. */
#include "guest.inc"
	.code64
	.text
	.globl _start
_start:
	puts msg
	mov $0xcf9, %dx
	mov $0x06, %al
	out %al, %dx
	spin
msg:	.asciz "resetting through 0xcf9\n"
