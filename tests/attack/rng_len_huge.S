/* virtio-rng (mmio): a buffer of 0xffffffff bytes. */
#include "attack.inc"
attack:
	mov $0, %esi
	mov $ID_RNG, %edi
	mov $BUF, %rax
	mov $0xffffffff, %ecx
	mov $(D_WRITE), %edx
	mov $D_WRITE, %r13d
	call bad_buffer_refused
	reject msg
msg:	.asciz "2^32-1 byte buffer -> needs-reset; device works after a reset"
attack_name:	.asciz "rng_len_huge"
