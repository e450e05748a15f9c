/*
 * i8042: 2000 keyboard ECHO commands and 2000 mouse commands sent without
 * reading a byte, parameter-taking commands (LEDs, typematic, scan-code
 * set 0x55, mouse sample rate, resolution 0xff) given odd parameters, and
 * the controller's output buffer written from both sides. Drained, the
 * controller must pass its self test.
 */
#include "attack.inc"
attack:
	mov $2000, %ebx
1:	mov $0xee, %al /* keyboard: echo */
	out %al, $0x60
	mov $0xd4, %al /* mouse: get device id */
	out %al, $0x64
	mov $0xf2, %al
	out %al, $0x60
	dec %ebx
	jnz 1b
	lea params(%rip), %rsi
2:	mov (%rsi), %bl /* prefix: 0 keyboard, 0xd4 mouse, 0xff the end */
	cmp $0xff, %bl
	je 4f
	call send
	mov 1(%rsi), %al
	out %al, $0x60
	call send
	mov 2(%rsi), %al
	out %al, $0x60
	add $3, %rsi
	jmp 2b
4:	mov $0xd2, %al
	out %al, $0x64
	mov $0x11, %al
	out %al, $0x60
	mov $0xd3, %al
	out %al, $0x64
	mov $0x22, %al
	out %al, $0x60
	mov $0x10000, %ecx
5:	in $0x64, %al
	test $1, %al
	jz 6f
	in $0x60, %al
	dec %ecx
	jnz 5b
	fail msg_full
6:	mov $0xaa, %al
	out %al, $0x64
	mov $0x10000, %ecx
7:	in $0x64, %al
	test $1, %al
	jnz 8f
	dec %ecx
	jnz 7b
	fail msg_noanswer
8:	in $0x60, %al
	cmp $0x55, %al
	jne 9f
	pass msg
9:	fail msg_selftest

/* send: for the mouse (bl = 0xd4), prefix the next data byte with 0xd4. */
send:
	test %bl, %bl
	jz 1f
	mov %bl, %al
	out %al, $0x64
1:	ret
/* prefix, command, parameter; a prefix of 0xff ends */
params:	.byte 0, 0xed, 0xff, 0, 0xf3, 0xff, 0, 0xf0, 0x55, 0, 0xf0, 0x00, 0, 0xed, 0xed
	.byte 0xd4, 0xf3, 0x00, 0xd4, 0xe8, 0xff, 0xd4, 0xf3, 0xfe, 0xff
msg_full: .asciz "the output buffer never empties"
msg_noanswer: .asciz "no answer to the self test"
msg_selftest: .asciz "self test did not answer 0x55"
msg:	.asciz "keyboard and mouse queues overflowed; the controller still works"
attack_name:	.asciz "i8042_queue_overflow"
