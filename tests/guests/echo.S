/* Serial input: echoes every byte received on COM1 (polling LSR.DR), and
 * resets when it receives 'q'. */
#include "guest.inc"
	.code64
	.text
	.globl _start
_start:
	puts msg
wait:	mov $(COM1 + 5), %dx
	in %dx, %al
	test $1, %al
	jz wait
	mov $COM1, %dx
	in %dx, %al
	cmp $'q', %al
	je done
	out %al, %dx
	jmp wait
done:	puts bye
	i8042_reset
	spin
msg:	.asciz "echo ready\n"
bye:	.asciz "\nbye\n"
