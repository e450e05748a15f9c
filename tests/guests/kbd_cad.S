/* Keyboard input: prints every byte the i8042 delivers (polling status bit 0
 * of port 0x64) in hex, and resets after the last byte of Ctrl-Alt-Del's
 * release (0x9d, left Ctrl's break code in set 1). */
#include "guest.inc"

/* hexnib: send the low nibble of %al to COM1 as a hex digit. */
.macro hexnib
	and $0xf, %al
	cmp $10, %al
	jb 4f
	add $('a' - 10 - '0'), %al
4:	add $'0', %al
	putc
.endm

	.code64
	.text
	.globl _start
_start:
	puts msg
wait:	in $0x64, %al
	test $1, %al
	jz wait
	in $0x60, %al
	mov %al, %bl
	shr $4, %al
	hexnib
	mov %bl, %al
	hexnib
	mov $' ', %al
	putc
	cmp $0x9d, %bl
	jne wait
	puts done
	i8042_reset
	spin
msg:	.asciz "keyboard ready\n"
done:	.asciz "\nctrl-alt-del received\n"
