/*
 * Drives a virtio-blk device over virtio-mmio by polling, from CPL 3.
 *
 * At CPL 0 it only builds its own page tables (the first 4 GiB identity
 * mapped, user-accessible), a GDT with user segments and a TSS whose I/O
 * bitmap opens ports 0-0x7ff, masks the PICs, and drops to CPL 3 with
 * iretq. Everything else runs at CPL 3, where a PVM host runs it natively:
 * port I/O there traps and is emulated through the TSS bitmap, MMIO exits.
 *
 * The device: hearth's first virtio-mmio slot (0xf0000000), else the first
 * of QEMU microvm's transports (0xfeb00000 + i * 0x200) with device id 2.
 * It checks magic, version 2 and device id, negotiates VIRTIO_F_VERSION_1
 * only, sets up queue 0 (16 entries) in its own memory, asks the device not
 * to interrupt, and waits for each request by polling the used ring.
 *
 * Functional run: GET_ID (printed), read sector 0, write a pattern over
 * sectors 8-71 (two requests: one with its data split over two
 * descriptors), FLUSH, read the 32 KiB back (three data descriptors, the
 * last also holding the status byte) and compare, then a read past the end
 * must fail with IOERR. Prints "BLK-OK" or "BLK-FAIL <what>", resets the
 * device and the machine (i8042). The pattern's 64-bit word at byte offset
 * o of the disk is (o ^ 0x426c6b506f6c6c21) * 0x9e3779b97f4a7c15.
 *
 * Bench run: when sector 0 starts with "BLKBENCH" followed by a 64-bit
 * count N, it does N 4 KiB reads (sectors 8 + 8 * (i % 256)) one at a time
 * between the lines "BENCH-START" and "BENCH-END", then "BLK-OK".
 *
 * Built twice: a bzImage (64-bit entry, the other tiny guests' way) and,
 * with PVH defined, an ELF with a PVH entry (32-bit protected mode) for
 * VMMs that start kernels that way (QEMU's microvm).
 */
#include "guest.inc"
#include "pvh.inc"

#define PT_BASE	 0x200000 /* PML4, PDPT, 4 PDs (2 MiB pages) */
#define TSS_BASE 0x206000
#define PVH_PT	 0x210000 /* the PVH entry's temporary tables */
#define USER_SP	 0x280000

#define QSIZE	 16
#define DESC	 0x300000
#define AVAIL	 0x301000
#define USED	 0x302000
#define HDR	 0x303000 /* type, ioprio, sector */
#define STATUS	 0x303010
#define IDBUF	 0x303020 /* 20 bytes + NUL */
#define V_AVAIL	 0x303100 /* driver's avail index */
#define V_USED	 0x303102 /* last used index seen */
#define V_CAP	 0x303108 /* capacity in sectors */
#define V_RO	 0x303110 /* VIRTIO_BLK_F_RO offered */
#define SECT0	 0x304000
#define WBUF	 0x400000 /* 32 KiB */
#define RBUF	 0x410000 /* 32 KiB + the status byte */
#define BBUF	 0x420000 /* bench: 4 KiB */

#define START_SECTOR 8
#define TEST_BYTES   0x8000

#define PAT_XOR 0x426c6b506f6c6c21
#define PAT_MUL 0x9e3779b97f4a7c15

/* virtio-mmio registers */
#define R_MAGIC	      0x000
#define R_VERSION     0x004
#define R_DEVICE_ID   0x008
#define R_DEV_FEAT    0x010
#define R_DEV_FEAT_SEL 0x014
#define R_DRV_FEAT    0x020
#define R_DRV_FEAT_SEL 0x024
#define R_QUEUE_SEL   0x030
#define R_QUEUE_MAX   0x034
#define R_QUEUE_NUM   0x038
#define R_QUEUE_READY 0x044
#define R_NOTIFY      0x050
#define R_STATUS      0x070
#define R_DESC_LO     0x080
#define R_DESC_HI     0x084
#define R_DRIVER_LO   0x090
#define R_DRIVER_HI   0x094
#define R_DEVICE_LO   0x0a0
#define R_DEVICE_HI   0x0a4
#define R_CONFIG      0x100

#define T_IN	 0
#define T_OUT	 1
#define T_FLUSH	 4
#define T_GET_ID 8

#define D_NEXT	1
#define D_WRITE 2

/* desc i, addr, len, flags, next: fill descriptor i (addr: immediate or register). */
.macro desc i, addr, len, flags, next
	mov \addr, %rax
	mov %rax, DESC + 16 * \i
	movl \len, DESC + 16 * \i + 8
	movw $\flags, DESC + 16 * \i + 12
	movw $\next, DESC + 16 * \i + 14
.endm

/* header type, sector: fill the request header (sector: immediate or register). */
.macro header type, sector
	movl $\type, HDR
	movl $0, HDR + 4
	mov \sector, %rax
	mov %rax, HDR + 8
.endm

/* fail label: print "BLK-FAIL " and the string at label, then stop. */
.macro fail label
	lea \label(%rip), %rdi
	jmp do_fail
.endm

	.code64
	.text
	.globl _start
_start:
	jmp start64

#ifdef PVH
/* PVH entry: 32-bit protected mode, paging off. Map the first 1 GiB, enter long mode. */
	.code32
pvh_entry:
	pvh_long_mode PVH_PT, pvh_gdtr, start64
	.balign 8
pvh_gdtr:
	.word gdt_end - gdt - 1
	.long gdt
	.code64
#endif

start64:
	cli
	/* Mask both PICs: nothing may interrupt the guest at CPL 3. */
	mov $0xff, %al
	out %al, $0x21
	out %al, $0xa1

	/* Page tables: the first 4 GiB in 2 MiB pages, present, writable, user. */
	mov $PT_BASE, %rdi
	xor %eax, %eax
	mov $(6 * 4096 / 8), %ecx
	rep stosq
	mov $PT_BASE, %rdi
	lea 0x1007(%rdi), %rax
	mov %rax, (%rdi)
	lea 0x2007(%rdi), %rax
	mov %rax, 0x1000(%rdi)
	add $0x1000, %rax
	mov %rax, 0x1008(%rdi)
	add $0x1000, %rax
	mov %rax, 0x1010(%rdi)
	add $0x1000, %rax
	mov %rax, 0x1018(%rdi)
	lea 0x2000(%rdi), %rdi
	mov $0x87, %eax
	mov $2048, %ecx
11:	mov %rax, (%rdi)
	add $0x200000, %rax
	add $8, %rdi
	dec %ecx
	jnz 11b
	mov $PT_BASE, %rax
	mov %rax, %cr3

	/* TSS: I/O bitmap at 0x68 opening ports 0-0x7ff, then the 0xff end byte. */
	mov $TSS_BASE, %rdi
	xor %eax, %eax
	mov $((0x68 + 256 + 8) / 8), %ecx
	rep stosq
	movw $0x68, TSS_BASE + 102
	movb $0xff, TSS_BASE + 0x68 + 256
	/* Its 16-byte descriptor in GDT slot 0x28: base TSS_BASE, limit 0x168. */
	lea gdt(%rip), %rbx
	movw $(0x68 + 256), 0x28(%rbx)
	movw $(TSS_BASE & 0xffff), 0x2a(%rbx)
	movb $((TSS_BASE >> 16) & 0xff), 0x2c(%rbx)
	movb $0x89, 0x2d(%rbx)
	movb $0, 0x2e(%rbx)
	movb $(TSS_BASE >> 24), 0x2f(%rbx)
	movq $0, 0x30(%rbx)
	mov %rbx, gdtr + 2(%rip)
	lgdt gdtr(%rip)
	mov $0x28, %ax
	ltr %ax
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss

	/* To CPL 3: user data 0x18|3, user code 0x20|3, IF clear, IOPL 0. */
	lea user_main(%rip), %rcx
	pushq $0x1b
	pushq $USER_SP
	pushq $0x0002
	pushq $0x23
	push %rcx
	iretq

/* ---- CPL 3 from here on ------------------------------------------------------ */

user_main:
	puts msg_hello

	/* Find the device. */
	mov $0xf0000000, %r15
	call probe
	jz found
	mov $0xfeb00000, %r15
	mov $24, %r12d
11:	call probe
	jz found
	add $0x200, %r15
	dec %r12d
	jnz 11b
	xor %r15d, %r15d /* nothing to reset */
	fail msg_nodev
found:
	puts msg_at
	mov %r15, %rax
	mov $8, %ecx
	call print_hex
	mov $'\n', %al
	putc
	cmpl $2, R_VERSION(%r15)
	je 11f
	puts msg_fail
	puts msg_version
	mov R_VERSION(%r15), %eax
	mov $8, %ecx
	call print_hex
	jmp fail_tail
11:
	/* Reset, ACKNOWLEDGE, DRIVER. */
	movl $0, R_STATUS(%r15)
	movl $1, R_STATUS(%r15)
	movl $3, R_STATUS(%r15)
	/* Features: VIRTIO_F_VERSION_1 (bit 32) must be offered; take only it. */
	movl $0, R_DEV_FEAT_SEL(%r15)
	mov R_DEV_FEAT(%r15), %eax
	shr $5, %eax /* VIRTIO_BLK_F_RO */
	and $1, %eax
	mov %eax, V_RO
	movl $1, R_DEV_FEAT_SEL(%r15)
	testl $1, R_DEV_FEAT(%r15)
	jnz 11f
	fail msg_nover1
11:	movl $0, R_DRV_FEAT_SEL(%r15)
	movl $0, R_DRV_FEAT(%r15)
	movl $1, R_DRV_FEAT_SEL(%r15)
	movl $1, R_DRV_FEAT(%r15)
	movl $11, R_STATUS(%r15)
	testl $8, R_STATUS(%r15)
	jnz 11f
	fail msg_featok
11:
	/* Queue 0. */
	movl $0, R_QUEUE_SEL(%r15)
	cmpl $0, R_QUEUE_READY(%r15)
	je 11f
	fail msg_qready
11:	cmpl $QSIZE, R_QUEUE_MAX(%r15)
	jae 11f
	fail msg_qmax
11:	mov $DESC, %rdi
	xor %eax, %eax
	mov $(0x3000 / 8), %ecx
	rep stosq
	movw $1, AVAIL /* VRING_AVAIL_F_NO_INTERRUPT: we poll */
	movw $0, V_AVAIL
	movw $0, V_USED
	movl $QSIZE, R_QUEUE_NUM(%r15)
	movl $DESC, R_DESC_LO(%r15)
	movl $0, R_DESC_HI(%r15)
	movl $AVAIL, R_DRIVER_LO(%r15)
	movl $0, R_DRIVER_HI(%r15)
	movl $USED, R_DEVICE_LO(%r15)
	movl $0, R_DEVICE_HI(%r15)
	movl $1, R_QUEUE_READY(%r15)
	movl $15, R_STATUS(%r15) /* DRIVER_OK */
	mov R_STATUS(%r15), %eax
	test $0x40, %al /* DEVICE_NEEDS_RESET */
	jz 11f
	fail msg_needs_reset
11:
	/* Capacity (config offset 0, two 32-bit reads). */
	mov R_CONFIG + 4(%r15), %eax
	shl $32, %rax
	mov R_CONFIG(%r15), %ecx
	or %rcx, %rax
	mov %rax, V_CAP
	puts msg_cap
	mov V_CAP, %rax
	mov $8, %ecx
	call print_hex
	puts msg_ro
	mov V_RO, %eax
	mov $1, %ecx
	call print_hex
	mov $'\n', %al
	putc

	/* GET_ID into a 20-byte buffer. */
	mov $IDBUF, %rdi
	xor %eax, %eax
	mov $4, %ecx
	rep stosq
	header T_GET_ID, $0
	desc 0, $HDR, $16, D_NEXT, 1
	desc 1, $IDBUF, $20, D_WRITE | D_NEXT, 2
	desc 2, $STATUS, $1, D_WRITE, 0
	movb $0xff, STATUS
	call submit
	lea msg_getid(%rip), %rdi
	call check_status
	puts msg_id
	mov $IDBUF, %rsi
	call puts_rsi
	mov $'\n', %al
	putc

	/* Sector 0: bench parameters? */
	header T_IN, $0
	desc 0, $HDR, $16, D_NEXT, 1
	desc 1, $SECT0, $512, D_WRITE | D_NEXT, 2
	desc 2, $STATUS, $1, D_WRITE, 0
	movb $0xff, STATUS
	call submit
	lea msg_read0(%rip), %rdi
	call check_status
	mov $0x48434e45424b4c42, %rax /* "BLKBENCH" */
	cmp %rax, SECT0
	je bench

	/* The pattern for disk bytes [START_SECTOR * 512, + TEST_BYTES). */
	mov $WBUF, %rdi
	mov $(START_SECTOR * 512), %rbx
	mov $(TEST_BYTES / 8), %ecx
	mov $PAT_XOR, %r8
	mov $PAT_MUL, %r9
11:	mov %rbx, %rax
	xor %r8, %rax
	imul %r9, %rax
	mov %rax, (%rdi)
	add $8, %rdi
	add $8, %rbx
	dec %ecx
	jnz 11b

	/* Write the first half, its data split over two descriptors. */
	header T_OUT, $START_SECTOR
	desc 0, $HDR, $16, D_NEXT, 1
	desc 1, $WBUF, $0x2000, D_NEXT, 2
	desc 2, $(WBUF + 0x2000), $0x2000, D_NEXT, 3
	desc 3, $STATUS, $1, D_WRITE, 0
	movb $0xff, STATUS
	call submit
	lea msg_write(%rip), %rdi
	call check_status
	/* The second half in one descriptor. */
	header T_OUT, $(START_SECTOR + 0x4000 / 512)
	desc 0, $HDR, $16, D_NEXT, 1
	desc 1, $(WBUF + 0x4000), $0x4000, D_NEXT, 2
	desc 2, $STATUS, $1, D_WRITE, 0
	movb $0xff, STATUS
	call submit
	lea msg_write(%rip), %rdi
	call check_status

	/* FLUSH. */
	header T_FLUSH, $0
	desc 0, $HDR, $16, D_NEXT, 1
	desc 1, $STATUS, $1, D_WRITE, 0
	movb $0xff, STATUS
	call submit
	lea msg_flush(%rip), %rdi
	call check_status

	/* Read it all back: 4 KiB + 12 KiB + (16 KiB and the status byte). */
	mov $RBUF, %rdi
	mov $0xa5a5a5a5a5a5a5a5, %rax
	mov $(TEST_BYTES / 8 + 1), %ecx
	rep stosq
	header T_IN, $START_SECTOR
	desc 0, $HDR, $16, D_NEXT, 1
	desc 1, $RBUF, $0x1000, D_WRITE | D_NEXT, 2
	desc 2, $(RBUF + 0x1000), $0x3000, D_WRITE | D_NEXT, 3
	desc 3, $(RBUF + 0x4000), $(0x4000 + 1), D_WRITE, 0
	call submit
	cmp $(TEST_BYTES + 1), %eax
	je 11f
	fail msg_usedlen
11:	movb RBUF + TEST_BYTES, %al
	lea msg_readback(%rip), %rdi
	call check_status_al
	mov $WBUF, %rsi
	mov $RBUF, %rdi
	mov $TEST_BYTES, %ecx
	repe cmpsb
	je 11f
	puts msg_fail
	puts msg_mismatch
	lea -1-RBUF(%rdi), %rax
	mov $8, %ecx
	call print_hex
	jmp fail_tail
11:
	/* A read past the end must fail with IOERR. */
	header T_IN, V_CAP
	desc 0, $HDR, $16, D_NEXT, 1
	desc 1, $SECT0, $512, D_WRITE | D_NEXT, 2
	desc 2, $STATUS, $1, D_WRITE, 0
	movb $0xff, STATUS
	call submit
	cmpb $1, STATUS
	je 11f
	puts msg_fail
	puts msg_pastend
	movzbl STATUS, %eax
	mov $2, %ecx
	call print_hex
	jmp fail_tail
11:	puts msg_ok
	jmp finish

/* N 4 KiB reads, one at a time; the chain stays, only the sector changes. */
bench:
	mov SECT0 + 8, %r12
	puts msg_bstart
	desc 0, $HDR, $16, D_NEXT, 1
	desc 1, $BBUF, $4096, D_WRITE | D_NEXT, 2
	desc 2, $STATUS, $1, D_WRITE, 0
	movl $T_IN, HDR
	xor %r13d, %r13d
	test %r12, %r12
	jz 12f
11:	mov %r13d, %eax
	and $255, %eax
	lea START_SECTOR(, %rax, 8), %rax
	mov %rax, HDR + 8
	movb $0xff, STATUS
	call submit
	cmpb $0, STATUS
	jne 13f
	inc %r13
	cmp %r12, %r13
	jb 11b
12:	puts msg_bend
	puts msg_ok
	jmp finish
13:	lea msg_bread(%rip), %rdi
	call check_status

/*
 * probe: is there a virtio-blk at %r15? ZF set when magic and device id match.
 * Clobbers rax.
 */
probe:
	cmpl $0x74726976, R_MAGIC(%r15)
	jne 11f
	cmpl $2, R_DEVICE_ID(%r15)
11:	ret

/*
 * submit: make the chain at descriptor 0 available, notify, and poll the used
 * ring until the device gives it back. Returns the used length in eax.
 * Gives up ("timeout") after about 2^34 TSC cycles. Clobbers rax-rdx, r8, r9.
 */
submit:
	movzwl V_AVAIL, %eax
	mov %eax, %ecx
	and $(QSIZE - 1), %ecx
	movw $0, AVAIL + 4(, %rcx, 2)
	inc %eax
	mov %ax, V_AVAIL
	mov %ax, AVAIL + 2
	movl $0, R_NOTIFY(%r15)
	rdtsc
	shl $32, %rdx
	or %rdx, %rax
	mov %rax, %r8
	movzwl V_USED, %ecx
11:	cmpw %cx, USED + 2
	jne 12f
	pause
	rdtsc
	shl $32, %rdx
	or %rdx, %rax
	sub %r8, %rax
	shr $34, %rax
	jz 11b
	fail msg_timeout
12:	inc %ecx
	mov %cx, V_USED
	dec %ecx
	and $(QSIZE - 1), %ecx
	cmpl $0, USED + 4(, %rcx, 8)
	je 13f
	fail msg_usedid
13:	mov USED + 8(, %rcx, 8), %eax
	ret

/*
 * check_status: the request named by the string at rdi must have status 0
 * (check_status_al: the status is in al). Otherwise "BLK-FAIL <name>
 * status=XX" and stop.
 */
check_status:
	movb STATUS, %al
check_status_al:
	test %al, %al
	jnz 11f
	ret
11:	movzbl %al, %ebx
	push %rdi
	puts msg_fail
	pop %rsi
	call puts_rsi
	puts msg_status
	mov %ebx, %eax
	mov $2, %ecx
	call print_hex
	jmp fail_tail

/* do_fail: "BLK-FAIL <string at rdi>", then stop. */
do_fail:
	push %rdi
	puts msg_fail
	pop %rsi
	call puts_rsi
fail_tail:
	mov $'\n', %al
	putc
finish:
	test %r15, %r15
	jz 11f
	movl $0, R_STATUS(%r15) /* device reset */
11:	i8042_reset
	spin

/* puts_rsi: print the NUL-terminated string at rsi. */
puts_rsi:
	mov $COM1, %dx
11:	lodsb
	test %al, %al
	jz 12f
	out %al, %dx
	jmp 11b
12:	ret

/* print_hex: print the low ecx hex digits of rax. Clobbers rax, rcx, rdx, r8. */
print_hex:
	mov %rax, %r8
	lea (, %rcx, 4), %ecx
11:	sub $4, %ecx
	mov %r8, %rax
	shr %cl, %rax
	and $0xf, %al
	cmp $10, %al
	jb 12f
	add $('a' - 10 - '0'), %al
12:	add $'0', %al
	mov $COM1, %dx
	out %al, %dx
	test %ecx, %ecx
	jnz 11b
	ret

msg_hello:	.asciz "blk_poll: at CPL 3\n"
msg_at:		.asciz "blk: virtio-mmio at "
msg_cap:	.asciz "blk: capacity "
msg_ro:		.asciz " ro "
msg_id:		.asciz "blk: id="
msg_ok:		.asciz "BLK-OK\n"
msg_fail:	.asciz "BLK-FAIL "
msg_status:	.asciz " status="
msg_nodev:	.asciz "no virtio-blk device found"
msg_version:	.asciz "version="
msg_nover1:	.asciz "VIRTIO_F_VERSION_1 not offered"
msg_featok:	.asciz "FEATURES_OK not accepted"
msg_qready:	.asciz "queue 0 already ready"
msg_qmax:	.asciz "queue 0 too small"
msg_needs_reset: .asciz "device needs reset"
msg_getid:	.asciz "get_id"
msg_read0:	.asciz "read sector 0"
msg_write:	.asciz "write"
msg_flush:	.asciz "flush"
msg_readback:	.asciz "read back"
msg_usedlen:	.asciz "read back: used length is not 32769"
msg_mismatch:	.asciz "read back: data differs at byte "
msg_pastend:	.asciz "read past the end: status="
msg_timeout:	.asciz "timeout waiting for the used ring"
msg_usedid:	.asciz "used ring returned an unknown id"
msg_bstart:	.asciz "BENCH-START\n"
msg_bend:	.asciz "BENCH-END\n"
msg_bread:	.asciz "bench read"

	.balign 16
/* 0x08 kernel code, 0x10 kernel data, 0x18 user data, 0x20 user code, 0x28 TSS */
gdt:	.quad 0
	.quad 0x00af9b000000ffff
	.quad 0x00cf93000000ffff
	.quad 0x00cff3000000ffff
	.quad 0x00affb000000ffff
	.quad 0, 0
gdt_end:
gdtr:	.word gdt_end - gdt - 1
	.quad 0

#ifdef PVH
	pvh_note pvh_entry
#endif
