/*
 * Counts forever: %rbx is incremented and stored at COUNTER_GPA on every
 * step, so the memory word always holds the register's value (a restored
 * %rbx shows in memory at the next step). Prints "counting" once, then a
 * '.' every 2^COUNTER_DOT_SHIFT steps (port output exits while counting).
 */
#include "guest.inc"
#include "counter.h"
	.code64
	.text
	.globl _start
_start:
	puts msg
	xor %ebx, %ebx
5:	inc %rbx
	mov %rbx, COUNTER_GPA
	test $((1 << COUNTER_DOT_SHIFT) - 1), %ebx
	jnz 5b
	mov $'.', %al
	putc
	jmp 5b
msg:	.asciz "counting\n"
