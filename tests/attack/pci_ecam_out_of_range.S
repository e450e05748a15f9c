/*
 * PCI ECAM: the last dword of the last function of bus 255, 8-byte accesses
 * crossing functions, accesses running off the end of the ECAM, all-ones
 * written over the host bridge's whole 4 KiB config space. The host bridge
 * must keep its IDs and absent functions must read all-ones.
 */
#include "attack.inc"
attack:
	mov $(ECAM + 0x0ffffffc), %rbx /* bus 255, device 31, function 7, register 0xffc */
	cmpl $0xffffffff, (%rbx)
	jne 8f
	movl $0, (%rbx)
	mov $(ECAM + 0xffc), %rbx
	mov (%rbx), %rax /* crosses into function 1 */
	movq $0, (%rbx)
	mov $(ECAM + 0xffe), %rbx
	mov (%rbx), %rax
	mov %rax, (%rbx)
	mov $(ECAM + 0x0ffffffe), %rbx /* runs off the end of the ECAM */
	mov (%rbx), %eax
	mov %eax, (%rbx)
	mov $ECAM, %rbx
	xor %ecx, %ecx
1:	movl $0xffffffff, (%rbx, %rcx)
	add $4, %ecx
	cmp $0x1000, %ecx
	jb 1b
	call host_bridge_ok
	mov $ECAM, %rbx
	cmpl $0x06000000, 8(%rbx)
	jne 9f
	mov $(ECAM + 0x0ff00000), %rbx /* bus 255, device 0 */
	cmpl $0xffffffff, (%rbx)
	jne 8f
	pass msg
8:	fail msg_absent
9:	fail msg_class
msg_absent: .asciz "an absent function does not read all-ones"
msg_class: .asciz "the host bridge's class code changed"
msg:	.asciz "ECAM accesses off the edges ignored; host bridge intact"
attack_name:	.asciz "pci_ecam_out_of_range"
