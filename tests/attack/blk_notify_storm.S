/*
 * virtio-blk (mmio): re-entrant notifications: 100 rounds of four 4 KiB
 * reads, each made available with 8 kicks of its queue and kicks of absent
 * queues in between, kicking on while the device processes. Every request
 * must complete exactly once with status 0.
 */
#include "attack.inc"
#define ROUNDS 100
attack:
	blk_mmio 0
	header T_IN, $8
	mov $4, %esi
	mov $0x1000, %edx
	call blk_chains

	xor %r13d, %r13d /* round */
2:	movl $0xffffffff, STATUS
	xor %ebx, %ebx
3:	lea (%rbx, %rbx, 2), %edi
	call publish
	mov $8, %ecx
4:	call notify
	movl $7, R_NOTIFY(%r15)
	dec %ecx
	jnz 4b
	inc %ebx
	cmp $4, %ebx
	jne 3b
	/* Wait for all four, kicking on meanwhile. */
	call rdtsc64
	mov %rax, %r9
5:	call notify
	movzwl V_AVAIL, %eax
	cmpw %ax, USED + 2
	je 6f
	call needs_reset
	jnz 8f
	call rdtsc64
	sub %r9, %rax
	shr $31, %rax
	jz 5b
	fail msg_timeout
6:	cmpl $0, STATUS
	jne 7f
	inc %r13d
	cmp $ROUNDS, %r13d
	jne 2b
	cmpw $(4 * ROUNDS), USED + 2
	jne 7f
	pass msg
7:	fail msg_bad
8:	fail msg_needed_reset
msg_bad: .asciz "a request failed or the used ring moved wrongly"
msg:	.asciz "400 reads under a kick storm: each completed exactly once"
attack_name:	.asciz "blk_notify_storm"
