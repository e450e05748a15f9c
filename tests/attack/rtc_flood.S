/*
 * MC146818 RTC: every index (with and without the NMI-disable bit) selected,
 * read and written 8 times over, including the fastest periodic rate with
 * every interrupt enabled, the SET bit, binary and 12-hour modes. Set up
 * again, the RTC must report valid RAM and keep a CMOS byte.
 */
#include "attack.inc"
attack:
	mov $8, %r13d
1:	xor %ebx, %ebx
2:	mov %bl, %al
	out %al, $0x70
	in $0x71, %al
	mov %bl, %al
	imul $37, %eax
	xor %r13b, %al
	out %al, $0x71
	in $0x71, %al
	inc %ebx
	cmp $256, %ebx
	jb 2b
	mov $0x0a, %al /* periodic interrupts at 8192 Hz, all interrupts on */
	out %al, $0x70
	mov $0x23, %al
	out %al, $0x71
	mov $0x0b, %al
	out %al, $0x70
	mov $0x70, %al
	out %al, $0x71
	mov $0x0c, %al
	out %al, $0x70
	in $0x71, %al
	dec %r13d
	jnz 1b
	mov $0x0a, %al /* set up again */
	out %al, $0x70
	mov $0x26, %al
	out %al, $0x71
	mov $0x0b, %al
	out %al, $0x70
	mov $0x02, %al
	out %al, $0x71
	mov $0x0d, %al
	out %al, $0x70
	in $0x71, %al
	test $0x80, %al
	jz 8f
	mov $0x40, %al
	out %al, $0x70
	mov $0xa5, %al
	out %al, $0x71
	mov $0x0c, %al
	out %al, $0x70
	in $0x71, %al
	mov $0x40, %al
	out %al, $0x70
	in $0x71, %al
	cmp $0xa5, %al
	jne 9f
	pass msg
8:	fail msg_vrt
9:	fail msg_cmos
msg_vrt: .asciz "register D lost its valid-RAM bit"
msg_cmos: .asciz "a CMOS byte did not keep its value"
msg:	.asciz "every RTC register hammered; the RTC still works"
attack_name:	.asciz "rtc_flood"
