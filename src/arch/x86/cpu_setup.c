/* SPDX-License-Identifier: MIT */
#include "arch/x86/cpu_setup.h"
#include "arch/x86/layout.h"
#include "core/util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_IA32_SYSENTER_CS	0x174
#define MSR_IA32_SYSENTER_ESP	0x175
#define MSR_IA32_SYSENTER_EIP	0x176
#define MSR_IA32_MISC_ENABLE	0x1a0
#define MSR_MTRR_DEF_TYPE	0x2ff
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SYSCALL_MASK	0xc0000084
#define MSR_KERNEL_GS_BASE	0xc0000102
#define MISC_ENABLE_FAST_STRING 1ULL
#define MTRR_ENABLE		(1ULL << 11)
#define MTRR_TYPE_WB		6ULL

#define X86_CR0_PE   0x1ULL
#define X86_CR0_ET   0x10ULL
#define X86_CR0_NE   0x20ULL
#define X86_CR0_PG   0x80000000ULL
#define X86_CR4_PAE  0x20ULL
#define X86_EFER_LME 0x100ULL
#define X86_EFER_LMA 0x400ULL

#define APIC_LVT0	 0x350
#define APIC_LVT1	 0x360
#define APIC_MODE_NMI	 0x4
#define APIC_MODE_EXTINT 0x7

/* A GDT descriptor from flags (bits 8-15 access, 20-23 G/DB/L/AVL), base, limit. */
static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000U) << 32) | ((uint64_t)(flags & 0xf0ffU) << 40) |
	       ((uint64_t)(limit & 0x000f0000U) << 32) | ((uint64_t)(base & 0x00ffffffU) << 16) |
	       (uint64_t)(limit & 0x0000ffffU);
}

int x86_write_boot_tables(struct guest_memory *gm)
{
	uint64_t gdt[6] = {0};
	uint64_t idt = 0;
	uint64_t pml4[512] = {0}, pdpt[512] = {0}, pd[512];

	gdt[X86_BOOT_CS64 / 8] = gdt_entry(0xa09b, 0, 0xfffff);
	gdt[X86_BOOT_DS / 8] = gdt_entry(0xc093, 0, 0xfffff);
	gdt[X86_BOOT_TSS / 8] = gdt_entry(0x008b, 0, 0x67);
	gdt[X86_BOOT_CS32 / 8] = gdt_entry(0xc09b, 0, 0xfffff);
	if (gm_write(gm, LAYOUT_GDT_ADDR, gdt, sizeof(gdt)) ||
	    gm_write(gm, LAYOUT_IDT_ADDR, &idt, sizeof(idt)))
		return -EFAULT;
	pml4[0] = LAYOUT_PDPT_ADDR | 0x3;
	for (uint64_t i = 0; i < 4; i++) {
		pdpt[i] = (LAYOUT_PD_ADDR + i * 0x1000) | 0x3;
		for (uint64_t j = 0; j < 512; j++)
			pd[j] = ((i * 512 + j) << 21) | 0x83;
		if (gm_write(gm, LAYOUT_PD_ADDR + i * 0x1000, pd, sizeof(pd)))
			return -EFAULT;
	}
	if (gm_write(gm, LAYOUT_PML4_ADDR, pml4, sizeof(pml4)) ||
	    gm_write(gm, LAYOUT_PDPT_ADDR, pdpt, sizeof(pdpt)))
		return -EFAULT;
	return 0;
}

static int set_msrs(int fd)
{
	static const struct {
		uint32_t index;
		uint64_t value;
	} msrs[] = {
	    {MSR_IA32_SYSENTER_CS, 0},
	    {MSR_IA32_SYSENTER_ESP, 0},
	    {MSR_IA32_SYSENTER_EIP, 0},
	    {MSR_STAR, 0},
	    {MSR_CSTAR, 0},
	    {MSR_KERNEL_GS_BASE, 0},
	    {MSR_SYSCALL_MASK, 0},
	    {MSR_LSTAR, 0},
	    {MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING},
	    {MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_TYPE_WB},
	};
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[ARRAY_SIZE(msrs)];
	} buf;
	int r;

	memset(&buf, 0, sizeof(buf));
	buf.hdr.nmsrs = ARRAY_SIZE(msrs);
	for (size_t i = 0; i < ARRAY_SIZE(msrs); i++) {
		buf.e[i].index = msrs[i].index;
		buf.e[i].data = msrs[i].value;
	}
	r = ioctl(fd, KVM_SET_MSRS, &buf);
	if (r < 0)
		return -errno;
	/* KVM stops at the first MSR it refuses; all of these are architectural. */
	return r == (int)ARRAY_SIZE(msrs) ? 0 : -EINVAL;
}

static int set_lapic(int fd)
{
	struct kvm_lapic_state lapic;
	uint32_t v;

	if (ioctl(fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	memcpy(&v, &lapic.regs[APIC_LVT0], 4);
	v = (v & ~0x700U) | (APIC_MODE_EXTINT << 8);
	memcpy(&lapic.regs[APIC_LVT0], &v, 4);
	memcpy(&v, &lapic.regs[APIC_LVT1], 4);
	v = (v & ~0x700U) | (APIC_MODE_NMI << 8);
	memcpy(&lapic.regs[APIC_LVT1], &v, 4);
	return ioctl(fd, KVM_SET_LAPIC, &lapic) < 0 ? -errno : 0;
}

int x86_vcpu_setup_cpu(int vcpu_fd, const struct kvm_cpuid_entry2 *cpuid, unsigned nent)
{
	struct kvm_cpuid2 *c;
	struct kvm_fpu fpu;
	int r;

	c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = nent;
	memcpy(c->entries, cpuid, nent * sizeof(c->entries[0]));
	r = ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	if (r)
		return r;
	r = set_msrs(vcpu_fd);
	if (r)
		return r;
	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	return set_lapic(vcpu_fd);
}

static void flat_segment(struct kvm_segment *s, uint16_t selector, uint8_t type, bool code64,
			 bool db)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = selector;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->db = db;
	s->s = 1;
	s->l = code64;
	s->g = 1;
}

int x86_vcpu_setup_regs(int vcpu_fd, enum x86_entry_mode mode, uint64_t rip, uint64_t boot_info)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_segment data;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.gdt.base = LAYOUT_GDT_ADDR;
	sregs.gdt.limit = 6 * 8 - 1;
	sregs.idt.base = LAYOUT_IDT_ADDR;
	sregs.idt.limit = 0;
	flat_segment(&data, X86_BOOT_DS, 0x3, false, true);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = X86_BOOT_TSS;
	sregs.tr.limit = 0x67;
	sregs.tr.type = 0xb;
	sregs.tr.present = 1;
	memset(&sregs.ldt, 0, sizeof(sregs.ldt));
	sregs.ldt.unusable = 1;
	sregs.ldt.type = 0x2;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = rip;
	switch (mode) {
	case X86_ENTRY_LONG64:
		flat_segment(&sregs.cs, X86_BOOT_CS64, 0xb, true, false);
		sregs.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG;
		sregs.cr3 = LAYOUT_PML4_ADDR;
		sregs.cr4 = X86_CR4_PAE;
		sregs.efer = X86_EFER_LME | X86_EFER_LMA;
		regs.rsi = boot_info;
		break;
	case X86_ENTRY_PROT32:
		flat_segment(&sregs.cs, X86_BOOT_CS32, 0xb, false, true);
		sregs.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE;
		sregs.cr3 = 0;
		sregs.cr4 = 0;
		sregs.efer = 0;
		regs.rbx = boot_info;
		break;
	default:
		return -EINVAL;
	}
	regs.rsp = regs.rbp = LAYOUT_BOOT_STACK;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}
