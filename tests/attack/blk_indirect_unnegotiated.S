/* virtio-blk (mmio): an indirect descriptor without VIRTIO_F_RING_INDIRECT_DESC negotiated. */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_IN, $0
	blk_ichain $BUF, $512, D_WRITE
	reject_chain_at_0 msg
msg:	.asciz "indirect without the feature -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_indirect_unnegotiated"
