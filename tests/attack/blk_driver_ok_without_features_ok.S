/* virtio-blk (mmio): DRIVER_OK set without FEATURES_OK (and without features). */
#include "attack.inc"
attack:
	mov $ID_BLK, %edi
	call mmio_begin
	xor %edi, %edi
	call mmio_queue
	movl $7, R_STATUS(%r15)
	call needs_reset
	jnz 1f
	fail msg_taken
1:	call blk_recover
	reject msg
msg_taken: .asciz "DRIVER_OK accepted without FEATURES_OK"
msg:	.asciz "DRIVER_OK without FEATURES_OK -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_driver_ok_without_features_ok"
