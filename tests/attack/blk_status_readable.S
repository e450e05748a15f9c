/* virtio-blk (mmio): the status byte in a device-readable descriptor after a writable one. */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_IN, $0
	blk_chain $BUF, $512, D_WRITE
	movw $0, DESC + 16 * 2 + 12
	reject_chain_at_0 msg
msg:	.asciz "readable descriptor after a writable one -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_status_readable"
