/* virtio-blk (mmio): a read buffer that starts in RAM and ends past its end. */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_IN, $0
	blk_chain $(RAM_END - 256), $512, D_WRITE
	reject_chain_at_0 msg
msg:	.asciz "buffer straddling the end of RAM -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_buffer_straddles_ram_end"
