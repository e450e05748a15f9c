/*
 * PCI configuration through ports 0xcf8/0xcfc: absent functions, the enable
 * bit clear, reserved bits set, odd widths and offsets (an access at 0xcfd
 * running past 0xcff, words at 0xcf8/0xcf9 next to the reset register),
 * writes to read-only IDs. The host bridge must still read 1b36:0008 and
 * absent functions all-ones.
 */
#include "attack.inc"
attack:
	mov $0x80000000, %eax
	call cf8_read
	cmp $0x00081b36, %eax
	jne 9f
	mov $0x80fffffc, %eax /* bus 255, device 31, function 7, register 0xfc */
	call cf8_read
	cmp $0xffffffff, %eax
	jne 8f
	mov $0x80fffffc, %eax
	mov $0x12345678, %ebx
	call cf8_write
	mov $0x7f0000fc, %eax /* enable bit clear */
	mov $0x12345678, %ebx
	call cf8_write
	mov $0x8f0000fc, %eax /* reserved bits 24-30 */
	call cf8_read
	mov $0x800000fc, %eax
	mov $0xcf8, %dx
	out %eax, %dx
	mov $0xcfd, %dx
	in %dx, %eax
	out %eax, %dx
	mov $0xcfe, %dx
	in %dx, %eax
	out %eax, %dx
	in %dx, %ax
	out %ax, %dx
	mov $0xcff, %dx
	in %dx, %al
	in %dx, %eax
	out %eax, %dx
	mov $0xcf8, %dx
	mov $0x0606, %ax
	out %ax, %dx
	mov $0xcf9, %dx
	out %ax, %dx
	mov $0xcfa, %dx
	out %al, %dx
	in %dx, %eax
	mov $0xcfb, %dx
	out %eax, %dx
	mov $0x80000000, %eax /* the host bridge's IDs are read-only */
	mov $0xdeadbeef, %ebx
	call cf8_write
	mov $0x80000000, %eax
	call cf8_read
	cmp $0x00081b36, %eax
	jne 9f
	call host_bridge_ok
	pass msg
8:	fail msg_absent
9:	fail msg_bridge
msg_absent: .asciz "an absent function does not read all-ones"
msg:	.asciz "odd 0xcf8/0xcfc accesses ignored; IDs intact"
attack_name:	.asciz "pci_cf8_out_of_range"
