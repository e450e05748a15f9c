/*
 * An idle guest that ticks, for bench/migrate-local: a PVH ELF (both
 * hearth and QEMU's microvm start it the same way) that enters long mode,
 * drops to CPL 3 (tests/guests/user_mode.inc; a PVM host runs CPL 3
 * natively) and prints "t" and a newline on COM1 every 2^23 turns of a
 * register loop (about 2 ms at native speed), forever. It touches a few
 * pages: the rest of its RAM stays zero, an idle guest of any size. The
 * host times the lines as they arrive: the longest gap between two of them
 * across a migration is the pause the guest saw.
 */
#include "guest.inc"
#include "pvh.inc"
#include "user_mode.inc"

#define PVH_PT	 0x210000 /* the PVH entry's temporary tables (3 pages) */
#define PT_BASE	 0x200000 /* to_user_mode's tables (6 pages) */
#define TSS_BASE 0x206000
#define USER_SP	 0x280000
#define BOOT_SP	 0x2f0000
#define TICK_SHIFT 23

	.code32
	.text
	.globl _start
_start:
pvh_entry:
	mov $BOOT_SP, %esp
	pvh_long_mode PVH_PT, boot_gdtr, start64

	.code64
start64:
	mov $BOOT_SP, %rsp
	to_user_mode PT_BASE, TSS_BASE, USER_SP, user_main
user_main:
	puts msg
1:	mov $(1 << TICK_SHIFT), %ecx
2:	dec %ecx
	jnz 2b
	mov $'t', %al
	putc
	mov $'\n', %al
	putc
	jmp 1b

msg:	.asciz "tick: at CPL 3\n"

	.balign 8
boot_gdt:
	.quad 0
	.quad 0x00af9b000000ffff /* 0x08: 64-bit code */
	.quad 0x00cf93000000ffff /* 0x10: data */
boot_gdt_end:
boot_gdtr:
	.word boot_gdt_end - boot_gdt - 1
	.long boot_gdt

	user_mode_gdt

	pvh_note pvh_entry
