/* virtio-console (mmio): an output descriptor that links to itself. */
#include "attack.inc"
attack:
	mov $1, %esi
	mov $ID_CONSOLE, %edi
	mov $BUF, %rax
	mov $64, %ecx
	mov $(D_NEXT), %edx
	mov $0, %r13d
	call bad_buffer_refused
	reject msg
msg:	.asciz "self-linked descriptor -> needs-reset; device works after a reset"
attack_name:	.asciz "console_tx_loop"
