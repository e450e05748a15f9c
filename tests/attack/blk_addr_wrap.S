/* virtio-blk (mmio): a buffer whose address plus length wraps around 2^64. */
#include "attack.inc"
attack:
	blk_mmio 0
	header T_IN, $0
	mov $0xffffffffffffff00, %rbx
	blk_chain %rbx, $0x200, D_WRITE
	reject_chain_at_0 msg
msg:	.asciz "address + length wrapping 2^64 -> needs-reset; device works after a reset"
attack_name:	.asciz "blk_addr_wrap"
