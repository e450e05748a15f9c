/* virtio-rng (mmio): a buffer of 0xffffffff bytes. */
#include "attack.inc"
attack:
	mov $0, %esi
	mov $ID_RNG, %edi
	call mmio_queue_setup
	mov $BUF, %rax
	mov $0xffffffff, %ecx
	mov $(D_WRITE), %edx
	call one_buffer
	expect_needs_reset
	call mmio_recover
	lea good(%rip), %rax
	mov $16, %ecx
	mov $D_WRITE, %edx
	call one_buffer
	call check_used
	reject msg
good:	.asciz "ATTACK good data"
msg:	.asciz "2^32-1 byte buffer -> needs-reset; device works after a reset"
attack_name:	.asciz "rng_len_huge"
