/* SPDX-License-Identifier: MIT */
/*
 * Kernel loading: place a Linux kernel (bzImage, entered at its 64-bit entry
 * point, or an uncompressed vmlinux ELF, entered through its 32-bit PVH
 * entry), an optional initrd and the command line into guest memory for the
 * machine layout, together with the boot information the kernel reads (the
 * zero page or the PVH hvm_start_info), and say how to enter it. Setting up
 * the vCPU registers, page tables and GDT is the caller's job.
 */
#ifndef HEARTH_ARCH_X86_BOOT_H
#define HEARTH_ARCH_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/layout.h"
#include "core/guest_memory.h"

#define BOOT_INITRD_ALIGN 4096ULL
/* heap_end_ptr: end of the real-mode heap (the 64-bit entry does not use it) */
#define BOOT_HEAP_END_PTR 0xfe00

/* PVH boot information (Xen's arch-x86/hvm/start_info.h, version 1). */
#define HVM_START_MAGIC 0x336ec578U

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr; /* version 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* E820_* */
	uint32_t reserved;
};

/* Where the PVH structures go: start_info, then the module list, then the memory map. */
#define BOOT_PVH_MODLIST_ADDR (LAYOUT_PVH_INFO_ADDR + sizeof(struct hvm_start_info))
#define BOOT_PVH_MEMMAP_ADDR  (BOOT_PVH_MODLIST_ADDR + sizeof(struct hvm_modlist_entry))

struct boot_input {
	const uint8_t *kernel;
	size_t kernel_len;
	const uint8_t *initrd; /* NULL or initrd_len 0: no initrd */
	size_t initrd_len;
	const char *cmdline; /* NULL: empty */
	uint64_t rsdp_gpa;   /* 0: no ACPI */
};

enum boot_entry_mode {
	BOOT_ENTRY_LINUX64, /* 64-bit long mode at rip, rsi = zero page */
	BOOT_ENTRY_PVH32,   /* 32-bit protected mode, paging off, at rip, rbx = hvm_start_info */
};

struct boot_entry {
	enum boot_entry_mode mode;
	uint64_t rip;
	uint64_t boot_info_gpa;		   /* zero page (rsi) or hvm_start_info (rbx) */
	uint64_t kernel_start, kernel_end; /* guest memory the kernel occupies while booting */
	uint64_t initrd_gpa, initrd_size;  /* 0, 0 without an initrd */
};

/*
 * boot_kernel_kind - what the kernel file in data[0, len) is, judged by its
 * content: 'b' for a bzImage, 'e' for an ELF file, 0 for neither. Only the
 * magic numbers are looked at; boot_load() does the full checks.
 */
int boot_kernel_kind(const uint8_t *data, size_t len);

/*
 * boot_load - load in->kernel (bzImage or PVH ELF), in->initrd and
 * in->cmdline into gm for layout l, write the zero page (with the e820 map
 * of l and the RSDP address) or the PVH start info, and fill *out with the
 * entry mode, entry point and where things landed. The initrd goes at the
 * highest 4 KiB-aligned address in low RAM the kernel allows. Returns 0, or
 * a negative errno with a message in err: -ENOEXEC (unknown or malformed
 * kernel), -ENOTSUP (kernel too old / no 64-bit or PVH entry), -E2BIG
 * (command line too long), -ENOMEM (kernel or initrd does not fit in
 * memory), -EFAULT (a write outside guest RAM).
 */
int boot_load(struct guest_memory *gm, const struct machine_layout *l, const struct boot_input *in,
	      struct boot_entry *out, char *err, size_t errlen);

#endif
