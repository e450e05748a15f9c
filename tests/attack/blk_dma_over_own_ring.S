/* virtio-blk (mmio): a read whose data lands on the descriptor table it was described by. */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_IN, $0
	desc 0, $HDR, $16, D_NEXT, 1
	desc 1, $DESC, $512, D_WRITE | D_NEXT, 2
	desc 2, $STATUS, $1, D_WRITE, 0
	movb $0xff, STATUS
	xor %edi, %edi
	call submit
	call check_used
	cmp $513, %ebx
	jne 1f
	cmpb $0, STATUS
	jne 1f
	call blk_recover
	pass msg
1:	fail msg_bad
msg_bad: .asciz "the read did not complete normally"
msg:	.asciz "read over its own descriptors completed; device works after a reset"
attack_name:	.asciz "blk_dma_over_own_ring"
