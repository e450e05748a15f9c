/* virtio-blk (mmio): the driver accepts feature 63 and words 2-3 that were never offered. */
#include "attack.inc"
attack:
	mov $ID_BLK, %edi
	call mmio_begin
	movl $1, R_DRV_FEAT_SEL(%r15)
	movl $0x80000001, R_DRV_FEAT(%r15)
	movl $2, R_DRV_FEAT_SEL(%r15)
	movl $0xffffffff, R_DRV_FEAT(%r15)
	movl $0xffffffff, R_DRV_FEAT_SEL(%r15)
	movl $0xffffffff, R_DRV_FEAT(%r15)
	movl $11, R_STATUS(%r15)
	testl $8, R_STATUS(%r15)
	jz 1f
	fail msg_taken
1:	call blk_recover
	reject msg
msg_taken: .asciz "FEATURES_OK kept with unoffered features"
msg:	.asciz "unoffered features -> FEATURES_OK refused; device works after a reset"
attack_name:	.asciz "blk_unoffered_features"
