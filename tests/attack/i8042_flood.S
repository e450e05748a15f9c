/*
 * i8042: every controller command but those that drive the reset line
 * (0xd1 write output port, 0xf0-0xff pulses), each followed by a data byte
 * (to the keyboard, the mouse or the controller's RAM), output-buffer reads
 * in between, 8 times over. Then, drained, the controller must pass its
 * self test, and the final reset through it must still work.
 */
#include "attack.inc"
attack:
	mov $8, %r13d
1:	xor %ebx, %ebx
2:	cmp $0xd1, %ebx
	je 3f
	mov %bl, %al
	out %al, $0x64
	mov %bl, %al
	xor $0x5a, %al
	xor %r13b, %al
	out %al, $0x60
	in $0x64, %al
	in $0x60, %al
3:	inc %ebx
	cmp $0xf0, %ebx
	jb 2b
	dec %r13d
	jnz 1b
	call drain
	mov $0xaa, %al
	out %al, $0x64
	mov $0x10000, %ecx
4:	in $0x64, %al
	test $1, %al
	jnz 5f
	dec %ecx
	jnz 4b
	fail msg_noanswer
5:	in $0x60, %al
	cmp $0x55, %al
	jne 9f
	pass msg
9:	fail msg_selftest

/* drain: read the output buffer until it stays empty. */
drain:
	mov $0x10000, %ecx
1:	in $0x64, %al
	test $1, %al
	jz 2f
	in $0x60, %al
	dec %ecx
	jnz 1b
	fail msg_full
2:	ret
msg_full: .asciz "the output buffer never empties"
msg_noanswer: .asciz "no answer to the self test"
msg_selftest: .asciz "self test did not answer 0x55"
msg:	.asciz "every safe i8042 command with data; self test passes"
attack_name:	.asciz "i8042_flood"
