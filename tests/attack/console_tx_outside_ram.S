/* virtio-console (mmio): output from a buffer beyond guest RAM. */
#include "attack.inc"
attack:
	mov $1, %esi
	mov $ID_CONSOLE, %edi
	mov $0x10000000, %rax
	mov $64, %ecx
	mov $(0), %edx
	mov $0, %r13d
	call bad_buffer_refused
	reject msg
msg:	.asciz "output from outside RAM -> needs-reset; device works after a reset"
attack_name:	.asciz "console_tx_outside_ram"
