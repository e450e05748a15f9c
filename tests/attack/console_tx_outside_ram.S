/* virtio-console (mmio): output from a buffer beyond guest RAM. */
#include "attack.inc"
attack:
	mov $1, %esi
	mov $ID_CONSOLE, %edi
	call mmio_queue_setup
	mov $0x10000000, %rax
	mov $64, %ecx
	mov $(0), %edx
	call one_buffer
	expect_needs_reset
	call mmio_recover
	lea good(%rip), %rax
	mov $16, %ecx
	mov $0, %edx
	call one_buffer
	call check_used
	reject msg
good:	.asciz "ATTACK good data"
msg:	.asciz "output from outside RAM -> needs-reset; device works after a reset"
attack_name:	.asciz "console_tx_outside_ram"
