/* virtio-console (mmio): output read from the virtio-mmio window (DMA from MMIO). */
#include "attack.inc"
attack:
	mov $1, %esi
	mov $ID_CONSOLE, %edi
	mov $MMIO_BASE, %rax
	mov $4096, %ecx
	mov $(0), %edx
	mov $0, %r13d
	call bad_buffer_refused
	reject msg
msg:	.asciz "output from MMIO -> needs-reset; device works after a reset"
attack_name:	.asciz "console_tx_from_mmio"
