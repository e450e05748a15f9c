/* virtio-net (mmio): a frame read from the PCI ECAM (DMA from MMIO). */
#include "attack.inc"
attack:
	mov $1, %esi
	mov $ID_NET, %edi
	mov $ECAM, %rax
	mov $4096, %ecx
	mov $(0), %edx
	mov $0, %r13d
	call bad_buffer_refused
	reject msg
msg:	.asciz "frame from MMIO -> needs-reset; device works after a reset"
attack_name:	.asciz "net_tx_from_mmio"
