/*
 * virtio-blk (mmio): 200 rounds of: set the device up, make four 16 KiB
 * reads available, kick, and reset at once, racing the device's processing.
 * Every reset must take, and the device must work at the end.
 */
#include "attack.inc"
attack:
	mov $ID_BLK, %edi
	call mmio_find
	mov $200, %r13d
1:	xor %esi, %esi
	call mmio_init
	xor %edi, %edi
	call mmio_queue
	call mmio_go
	mov $0x4000, %edx
	call blk_kick_four
	call mmio_reset_check
	dec %r13d
	jnz 1b
	call blk_recover
	pass msg
msg:	.asciz "200 resets racing four reads each; device works"
attack_name:	.asciz "blk_reset_storm"
