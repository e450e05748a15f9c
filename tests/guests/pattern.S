/*
 * Fills its memory with a known pattern, then verifies it forever, at
 * CPL 3 (tests/guests/user_mode.inc).
 *
 * The RAM it fills is [PAT_BASE, end), end being the top of the usable
 * RAM below 4 GiB that the boot_params e820 table lists (the identity
 * mapping covers 4 GiB). The 64-bit word at address a holds a ^ PAT_XOR.
 * It prints "pattern: filling", then "pattern: filled", then on every pass
 * that verified all of it "pass N" (N the pass count in 16 hex digits,
 * also stored at PAT_PASS_GPA) and a '.' for every 4 MiB verified. A word
 * that does not hold its value prints "PATTERN-BAD at ADDR" and stops.
 * Used by the snapshot tests and bench/snapshot: a restored guest goes on
 * verifying and counting from where it was.
 */
#include "guest.inc"
#include "user_mode.inc"
#include "puthex.inc"

#define PAT_BASE     0x1000000
#define PAT_PASS_GPA 0x800000
#define PT_BASE      0x200000 /* to_user_mode's page tables (6 pages) */
#define TSS_BASE     0x206000
#define USER_SP      0x280000
#define ZERO_PAGE    0x7000 /* struct boot_params: e820_entries at 0x1e8, e820_table at 0x2d0 */

	.code64
	.text
	.globl _start
_start:
	to_user_mode PT_BASE, TSS_BASE, USER_SP, user_main
user_main:
	puts msg_fill
	/* r8 = end: the highest end of a usable e820 range below 4 GiB. */
	xor %r8, %r8
	movzbl ZERO_PAGE + 0x1e8, %ecx
	mov $(ZERO_PAGE + 0x2d0), %rsi
10:	test %ecx, %ecx
	jz 12f
	cmpl $1, 16(%rsi)
	jne 11f
	mov $0x100000000, %rdx
	cmp %rdx, (%rsi) /* a range at or above 4 GiB: not mapped */
	jae 11f
	mov (%rsi), %rax
	add 8(%rsi), %rax
	cmp %rdx, %rax
	cmova %rdx, %rax
	cmp %r8, %rax
	cmova %rax, %r8
11:	add $20, %rsi
	dec %ecx
	jmp 10b
12:	movabs $0x5061747465726e21, %r9
	mov $PAT_BASE, %rdi
20:	cmp %r8, %rdi
	jae 21f
	mov %rdi, %rax
	xor %r9, %rax
	mov %rax, (%rdi)
	add $8, %rdi
	jmp 20b
21:	puts msg_filled
	xor %ebx, %ebx
30:	mov $PAT_BASE, %rdi
31:	cmp %r8, %rdi
	jae 33f
	mov %rdi, %rax
	xor %r9, %rax
	cmp %rax, (%rdi)
	jne 40f
	add $8, %rdi
	test $0x3fffff, %edi
	jnz 31b
	mov $'.', %al
	putc
	jmp 31b
33:	inc %rbx
	mov %rbx, PAT_PASS_GPA
	puts msg_pass
	puthex %rbx
	mov $'\n', %al
	putc
	jmp 30b
40:	puts msg_bad
	puthex %rdi
	mov $'\n', %al
	putc
	spin
	user_mode_gdt
msg_fill:	.asciz "pattern: filling\n"
msg_filled:	.asciz "pattern: filled\n"
msg_pass:	.asciz "pass "
msg_bad:	.asciz "PATTERN-BAD at "
