/* Powers off through ACPI: SLP_TYP = S5 (5) with SLP_EN in PM1a_CNT. */
#include "guest.inc"
	.code64
	.text
	.globl _start
_start:
	puts msg
	mov $0x604, %dx
	mov $((5 << 10) | (1 << 13)), %ax
	out %ax, %dx
	spin
msg:	.asciz "powering off\n"
