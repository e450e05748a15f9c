/*
 * Every I/O port 0-0xffff read; the first 4096 (where all of hearth's
 * devices live) also read as words and dwords and written with a zero byte
 * (harmless to the devices hearth and KVM emulate: no reset, no sleep
 * state). hearth must survive; the UART, set up again, must still print
 * the report.
 */
#include "attack.inc"
attack:
	xor %ebx, %ebx
1:	mov %bx, %dx
	in %dx, %al
	cmp $0x1000, %ebx
	jae 2f
	in %dx, %ax
	in %dx, %eax
	xor %eax, %eax
	out %al, %dx
2:	inc %ebx
	cmp $0x10000, %ebx
	jb 1b
	mov $0xff, %al /* the PICs masked again */
	out %al, $0x21
	out %al, $0xa1
	mov $3, %al
	mov $COM1 + 3, %dx
	out %al, %dx
	pass msg
msg:	.asciz "all 65536 ports read, 4096 written; hearth still serves the UART"
attack_name:	.asciz "port_scan"
