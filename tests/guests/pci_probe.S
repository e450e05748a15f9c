/* PCI configuration through ports 0xcf8/0xcfc, as Linux's type-1 probe does:
 * prints "cf8=XXXXXXXX id=XXXXXXXX" (the address register read back and the
 * vendor/device id of 00:00.0), then resets. */
#include "guest.inc"
	.code64
	.text
	.globl _start
_start:
	mov $0x01, %al
	mov $0xcfb, %dx
	out %al, %dx
	mov $0x80000000, %eax
	mov $0xcf8, %dx
	out %eax, %dx
	puts msg_a
	mov $0xcf8, %dx
	in %dx, %eax
	call print_hex32
	puts msg_b
	mov $0x80000000, %eax
	mov $0xcf8, %dx
	out %eax, %dx
	mov $0xcfc, %dx
	in %dx, %eax
	call print_hex32
	mov $'\n', %al
	putc
	i8042_reset
	spin

/* print_hex32: print %eax as 8 hex digits. */
print_hex32:
	mov %eax, %ebx
	mov $8, %ecx
1:	rol $4, %ebx
	mov %bl, %al
	and $0xf, %al
	cmp $10, %al
	jb 2f
	add $('a' - 10 - '0'), %al
2:	add $'0', %al
	putc
	dec %ecx
	jnz 1b
	ret
msg_a:	.asciz "cf8="
msg_b:	.asciz " id="
