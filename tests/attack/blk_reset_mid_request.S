/*
 * virtio-blk (mmio): four 64 KiB reads made available and kicked, then the
 * device reset at once. The reset must complete (status reads 0), nothing
 * may land in the used ring set up afterwards, and the device must work.
 */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_IN, $0
	mov $4, %esi
	mov $0x10000, %edx
	call blk_chains
	xor %ebx, %ebx
1:	lea (%rbx, %rbx, 2), %edi
	call publish
	inc %ebx
	cmp $4, %ebx
	jne 1b
	call notify
	call mmio_reset_check
	call blk_recover
	/* Wait about 2^28 cycles: no late completion may show up. */
	call rdtsc64
	mov %rax, %rbx
2:	pause
	call rdtsc64
	sub %rbx, %rax
	shr $28, %rax
	jz 2b
	cmpw $1, USED + 2
	je 3f
	fail msg_late
3:	pass msg
msg_late: .asciz "a request from before the reset completed into the new ring"
msg:	.asciz "reset with four reads in flight; nothing late; device works"
attack_name:	.asciz "blk_reset_mid_request"
