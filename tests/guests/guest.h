/* Shared macros for the tiny test guests (GNU as, AT&T syntax, 64-bit code
 * entered at the Linux boot protocol's 64-bit entry point, CPL 0, with the
 * first 4 GiB identity-mapped). Everything is position independent. */
#define COM1 0x3f8

/* putc: send %al to COM1. */
.macro putc
	mov $COM1, %dx
	out %al, %dx
.endm

/* puts label: send the NUL-terminated string at label to COM1. */
.macro puts label
	lea \label(%rip), %rsi
	mov $COM1, %dx
1:	lodsb
	test %al, %al
	jz 2f
	out %al, %dx
	jmp 1b
2:
.endm

/* i8042_reset: pulse the reset line through the keyboard controller. */
.macro i8042_reset
	mov $0xfe, %al
	out %al, $0x64
.endm

.macro spin
3:	pause
	jmp 3b
.endm
