/* virtio-blk (mmio): a write whose data is the virtio-mmio window itself (DMA from MMIO). */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_OUT, $8
	blk_chain $MMIO_BASE, $4096, 0
	reject_chain_at_0 msg
msg:	.asciz "write sourced from the virtio-mmio window -> needs-reset; image unchanged"
attack_name:	.asciz "blk_write_from_mmio"
