/*
 * virtio-blk (mmio), 2 vCPUs: the second vCPU (started with INIT and SIPI,
 * brought to CPL 3) writes QueueNotify for queue 0 without pause, while the
 * first runs 200 rounds of: set the device up, make four 16 KiB reads
 * available and kick them, and reset at once. Notifications arrive on
 * another vCPU thread before, during and after every reset, and while the
 * queue is not ready. Every reset must take, and once the second vCPU has
 * stopped, the device must work.
 */
#include "attack.inc"

#define LAPIC	  0xfee00000
#define TRAMP	  0x8000 /* the second vCPU's real-mode start (SIPI vector 8) */
#define AP_GDTR	  0x8f00 /* a copy of gdtr (10 bytes) */
#define AP_ENTRY  0x8f10 /* ap_user's address */
#define AP_SLOT	  0x8f18 /* the virtio-mmio slot to notify */
#define AP_STOP	  0x8f20 /* set by the first vCPU: stop notifying */
#define AP_COUNT  0x8f28 /* notifications written */
#define AP_DONE	  0x8f30 /* set by the second vCPU once it stopped */
#define AP_COUNT0 0x8f38 /* AP_COUNT when the resets began */
#define AP_SP	  0x2c0000

attack:
	mov $ID_BLK, %edi
	call mmio_find
	/* What the second vCPU needs at fixed addresses, then its start-up code. */
	mov %r15, AP_SLOT
	movq $0, AP_STOP
	movq $0, AP_COUNT
	movq $0, AP_DONE
	lea ap_user(%rip), %rax
	mov %rax, AP_ENTRY
	mov gdtr(%rip), %rax
	mov %rax, AP_GDTR
	mov gdtr + 8(%rip), %ax
	mov %ax, AP_GDTR + 8
	lea ap_start(%rip), %rsi
	mov $TRAMP, %rdi
	mov $(ap_end - ap_start), %ecx
	rep movsb
	/* INIT, then SIPI (vector 8: 0x8000) to APIC ID 1. */
	mov $LAPIC, %rbx
	movl $0x1ff, 0xf0(%rbx)
	movl $(1 << 24), 0x310(%rbx)
	movl $0x4500, 0x300(%rbx)
	movl $(1 << 24), 0x310(%rbx)
	movl $0x4608, 0x300(%rbx)
	/* Until it notifies (about 2^33 TSC cycles at most). */
	call rdtsc64
	mov %rax, %r9
1:	cmpq $0, AP_COUNT
	jne 2f
	pause
	call rdtsc64
	sub %r9, %rax
	shr $33, %rax
	jz 1b
	fail msg_no_ap

2:	mov AP_COUNT, %rax
	mov %rax, AP_COUNT0
	mov $200, %r13d
	call blk_reset_rounds
	mov AP_COUNT, %rbx
	movq $1, AP_STOP
4:	pause
	cmpq $0, AP_DONE
	je 4b
	/* How many of its notifications fell within the resets: at least 200. */
	sub AP_COUNT0, %rbx
	print msg_count
	mov %rbx, %rax
	mov $8, %ecx
	call print_hex
	mov $'\n', %al
	putc
	cmp $200, %rbx
	jae 5f
	fail msg_ap_idle
5:	call blk_recover
	pass msg

/* The second vCPU, at CPL 3: notify queue 0 until told to stop. */
ap_user:
	mov AP_SLOT, %rbx
1:	movl $0, R_NOTIFY(%rbx)
	incq AP_COUNT
	cmpq $0, AP_STOP
	je 1b
	movq $1, AP_DONE
2:	pause
	jmp 2b

/* Copied to TRAMP: real mode to long mode on the first vCPU's page tables, then CPL 3. */
	.code16
ap_start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	lgdtl AP_GDTR
	mov %cr4, %eax
	or $0x20, %eax /* PAE */
	mov %eax, %cr4
	mov $PT_BASE, %eax
	mov %eax, %cr3
	mov $0xc0000080, %ecx /* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax /* PG, PE */
	mov %eax, %cr0
	ljmpl $0x08, $(TRAMP + ap_long - ap_start)
	.code64
ap_long:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $(AP_SP - 0x1000), %rsp
	mov AP_ENTRY, %rcx
	pushq $0x1b
	pushq $AP_SP
	pushq $0x0002
	pushq $0x23
	push %rcx
	iretq
ap_end:

msg:	.asciz "200 resets with four reads in flight each, while a second vCPU notifies queue 0 non-stop; device works"
msg_no_ap:	.asciz "the second vCPU did not start (no notification from it)"
msg_ap_idle:	.asciz "fewer than 200 notifications from the second vCPU during the resets"
msg_count:	.asciz "notifications from vCPU 1 during the resets: 0x"
attack_name:	.asciz "blk_notify_2vcpu_reset"
