/* Prints a line on COM1, then resets the machine through the i8042. */
#include "guest.inc"
	.code64
	.text
	.globl _start
_start:
	puts msg
	i8042_reset
	spin
msg:	.asciz "hello from the tiny guest\n"
