/* Port-I/O dispatch: reads the RTC's register B and D through 0x70/0x71,
 * reads an unclaimed port (expects 0xff), writes to an unclaimed port, and
 * prints "rtc-d=XX unclaimed=XX" in hex, then resets. */
#include "guest.inc"
	.code64
	.text
	.globl _start
_start:
	puts msg_d
	mov $0x0d, %al
	out %al, $0x70
	in $0x71, %al
	call print_hex
	puts msg_u
	mov $0x2e0, %dx
	in %dx, %al
	call print_hex
	mov $0x2e0, %dx
	out %al, %dx
	mov $'\n', %al
	putc
	i8042_reset
	spin

/* print_hex: print %al as two hex digits. */
print_hex:
	mov %al, %bl
	shr $4, %al
	call nibble
	mov %bl, %al
	and $0xf, %al
	call nibble
	ret
nibble:
	cmp $10, %al
	jb 1f
	add $('a' - 10 - '0'), %al
1:	add $'0', %al
	putc
	ret
msg_d:	.asciz "rtc-d="
msg_u:	.asciz " unclaimed="
