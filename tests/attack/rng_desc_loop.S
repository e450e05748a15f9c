/* virtio-rng (mmio): a descriptor that links to itself. */
#include "attack.inc"
attack:
	mov $0, %esi
	mov $ID_RNG, %edi
	mov $BUF, %rax
	mov $64, %ecx
	mov $(D_WRITE | D_NEXT), %edx
	mov $D_WRITE, %r13d
	call bad_buffer_refused
	reject msg
msg:	.asciz "self-linked descriptor -> needs-reset; device works after a reset"
attack_name:	.asciz "rng_desc_loop"
