/*
 * Counts forever: %rbx is incremented and stored at COUNTER_GPA on every
 * step, so the memory word always holds the register's value (a restored
 * %rbx shows in memory at the next step). Prints "counting" once, then a
 * '.' every 2^COUNTER_DOT_SHIFT steps (port output exits while counting).
 * Turns kvmclock on first, so that a pause can tell it through the clock.
 */
#include "guest.inc"
#include "counter.h"
	.code64
	.text
	.globl _start
_start:
	puts msg
	/* kvmclock on: MSR_KVM_SYSTEM_TIME_NEW = area | enable. */
	mov $0x4b564d01, %ecx
	mov $(COUNTER_PVCLOCK_GPA | 1), %eax
	xor %edx, %edx
	wrmsr
	xor %ebx, %ebx
5:	inc %rbx
	mov %rbx, COUNTER_GPA
	test $((1 << COUNTER_DOT_SHIFT) - 1), %ebx
	jnz 5b
	mov $'.', %al
	putc
	jmp 5b
msg:	.asciz "counting\n"
