/* virtio-blk (mmio): an indirect table that straddles the end of guest RAM. */
#include "attack.inc"
attack:
	blk_mmio F_INDIRECT
	header T_IN, $0
	desc 0, $(RAM_END - 16), $48, D_INDIRECT, 0
	reject_chain_at_0 msg
msg:	.asciz "indirect table past the end of RAM -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_indirect_table_outside_ram"
