/*
 * Dirties memory at a rate chosen on the kernel command line, at CPL 3
 * (tests/guests/user_mode.inc), for the live-migration tests.
 *
 * The command line starts with a decimal number D, then optionally a space
 * and the number of pages of the region to dirty (default and at most
 * DIRTY_SIZE / 4 KiB). With D = 0 (or no number) the guest is idle: it counts in a register and every 2^26
 * steps stores the count at DIRTY_COUNT_GPA and prints "tick N". With
 * D > 0 it writes the step count into the first word of one page after
 * the other of [DIRTY_BASE, DIRTY_BASE + DIRTY_SIZE), spinning D loop
 * iterations (~0.25 ns each at CPL 3) between two pages, and after each
 * sweep over the region stores the sweep count at DIRTY_COUNT_GPA and
 * prints "sweep N". N is in 16 hex digits and only ever grows: a
 * migrated guest goes on from where it was.
 */
#include "guest.inc"
#include "user_mode.inc"
#include "puthex.inc"

#define DIRTY_BASE	0x1000000
#define DIRTY_SIZE	0x2000000 /* 32 MiB: the VM needs at least 64 MiB */
#define DIRTY_COUNT_GPA 0x800000
#define PT_BASE		0x200000
#define TSS_BASE	0x206000
#define USER_SP		0x280000
#define ZERO_PAGE	0x7000 /* struct boot_params: cmd_line_ptr at 0x228 */

/* getnum reg: reg = the decimal number at %rsi, which ends past it (clobbers rax). */
.macro getnum reg
	xor \reg, \reg
1:	movzbl (%rsi), %eax
	sub $'0', %eax
	cmp $9, %eax
	ja 2f
	imul $10, \reg, \reg
	add %rax, \reg
	inc %rsi
	jmp 1b
2:
.endm

	.code64
	.text
	.globl _start
_start:
	/*
	 * IOPL 3: its port I/O never reads the TSS's I/O bitmap. A migrated
	 * vCPU gets TR back from KVM_SET_SREGS, and kvm-amd reports TR as a
	 * busy TSS, which QEMU's TCG (the nested test host's emulated SVM)
	 * then refuses for bitmap checks: the guest's first print after a
	 * migration there was a #GP and a triple fault.
	 */
	to_user_mode PT_BASE, TSS_BASE, USER_SP, user_main, 0x3002
user_main:
	/* r12 = D, the decimal number the command line starts with. */
	mov ZERO_PAGE + 0x228, %esi
	getnum %r12
	/* r14 = the region's end: a second number, its size in pages (default and most 8192). */
	xor %r14, %r14
	cmpb $' ', (%rsi)
	jne 4f
	inc %rsi
	getnum %r14
4:	test %r14, %r14
	jz 5f
	cmp $(DIRTY_SIZE / 0x1000), %r14
	jbe 6f
5:	mov $(DIRTY_SIZE / 0x1000), %r14
6:	shl $12, %r14
	add $DIRTY_BASE, %r14
	puts msg_start
	xor %ebx, %ebx
	test %r12, %r12
	jnz 20f
	/* Idle: count, and tell every 2^26 steps. */
10:	inc %rbx
	test $0x3ffffff, %ebx
	jnz 10b
	mov %rbx, %r13
	shr $26, %r13
	mov %r13, DIRTY_COUNT_GPA
	puts msg_tick
	puthex %r13
	mov $'\n', %al
	putc
	jmp 10b
	/* Dirtying: one page after the other, D spins between two. */
20:	xor %r13, %r13
21:	mov $DIRTY_BASE, %rdi
22:	inc %rbx
	mov %rbx, (%rdi)
	mov %r12, %rcx
23:	dec %rcx
	jnz 23b
	add $0x1000, %rdi
	cmp %r14, %rdi
	jb 22b
	inc %r13
	mov %r13, DIRTY_COUNT_GPA
	puts msg_sweep
	puthex %r13
	mov $'\n', %al
	putc
	jmp 21b
	user_mode_gdt
msg_start:	.asciz "dirty: start\n"
msg_tick:	.asciz "tick "
msg_sweep:	.asciz "sweep "
