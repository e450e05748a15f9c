/* virtio-net (mmio): a transmit buffer of 0xffffffff bytes. */
#include "attack.inc"
attack:
	mov $1, %esi
	mov $ID_NET, %edi
	mov $BUF, %rax
	mov $0xffffffff, %ecx
	mov $(0), %edx
	mov $0, %r13d
	call bad_buffer_refused
	reject msg
msg:	.asciz "2^32-1 byte frame -> needs-reset; device works after a reset"
attack_name:	.asciz "net_tx_len_huge"
