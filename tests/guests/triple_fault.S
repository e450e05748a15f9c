/* With the boot IDT empty (limit 0), an invalid opcode escalates to a
 * double fault and then a triple fault (KVM_EXIT_SHUTDOWN). */
#include "guest.inc"
	.code64
	.text
	.globl _start
_start:
	puts msg
	ud2
	spin
msg:	.asciz "about to triple fault\n"
