/* virtio-blk (mmio): a write whose data lies beyond guest RAM (256 MiB); the image must not change. */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_OUT, $8
	blk_chain $0x10000000, $4096, 0
	reject_chain_at_0 msg
msg:	.asciz "write from outside RAM -> needs-reset; image unchanged; device works after a reset"
attack_name:	.asciz "blk_write_outside_ram"
