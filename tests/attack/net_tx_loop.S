/* virtio-net (mmio): a transmit descriptor that links to itself. */
#include "attack.inc"
attack:
	mov $1, %esi
	mov $ID_NET, %edi
	call mmio_queue_setup
	mov $BUF, %rax
	mov $64, %ecx
	mov $(D_NEXT), %edx
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
msg:	.asciz "self-linked descriptor -> needs-reset; device works after a reset"
attack_name:	.asciz "net_tx_loop"
