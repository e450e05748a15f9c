/* virtio-net (mmio): a 128 KiB frame over four descriptors (64 KiB + headers at most). */
#include "attack.inc"
attack:
	mov $1, %esi
	mov $ID_NET, %edi
	call mmio_queue_setup
	desc 0, $BUF, $0x8000, D_NEXT, 1
	desc 1, $BUF, $0x8000, D_NEXT, 2
	desc 2, $BUF, $0x8000, D_NEXT, 3
	desc 3, $BUF, $0x8000, 0, 0
	xor %edi, %edi
	call submit
	expect_needs_reset
	call mmio_recover
	xor %edx, %edx
	call good_buffer
	reject msg
msg:	.asciz "128 KiB frame -> needs-reset; device works after a reset"
attack_name:	.asciz "net_tx_oversized"
