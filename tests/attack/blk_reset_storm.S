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
	call blk_reset_rounds
	call blk_recover
	pass msg
msg:	.asciz "200 resets racing four reads each; device works"
attack_name:	.asciz "blk_reset_storm"
