/* SPDX-License-Identifier: MIT */
/* Kernel loading: bzImage (64-bit entry) and vmlinux ELF (PVH entry). */
#include "arch/x86/boot.h"
#include "arch/x86/bzimage.h"
#include "arch/x86/elf_pvh.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info size");
_Static_assert(offsetof(struct hvm_start_info, rsdp_paddr) == 32, "rsdp_paddr");
_Static_assert(offsetof(struct hvm_start_info, memmap_paddr) == 40, "memmap_paddr");
_Static_assert(offsetof(struct hvm_start_info, memmap_entries) == 48, "memmap_entries");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry size");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry size");
_Static_assert(BOOT_PVH_MEMMAP_ADDR + LAYOUT_MAX_E820 * sizeof(struct hvm_memmap_table_entry) <=
		   LAYOUT_ZERO_PAGE_ADDR,
	       "PVH structures overrun the zero page");
_Static_assert(LAYOUT_MAX_E820 <= BZ_E820_MAX, "zero page e820 table too small");
_Static_assert(sizeof(struct e820_entry) == sizeof(struct bz_e820_entry), "e820 entry size");

#define MiB_OF(x) ((unsigned long long)((x) >> 20))

int boot_kernel_kind(const uint8_t *data, size_t len)
{
	if (bzimage_probe(data, len))
		return 'b';
	if (elf_pvh_probe(data, len))
		return 'e';
	return 0;
}

static int write_guest(struct guest_memory *gm, uint64_t gpa, const void *src, uint64_t len,
		       const char *what, char *err, size_t errlen)
{
	if (gm_write(gm, gpa, src, len) == 0)
		return 0;
	snprintf(err, errlen, "cannot write the %s to guest memory at 0x%llx (0x%llx bytes)", what,
		 (unsigned long long)gpa, (unsigned long long)len);
	return -EFAULT;
}

static int zero_guest(struct guest_memory *gm, uint64_t gpa, uint64_t len, const char *what,
		      char *err, size_t errlen)
{
	static const uint8_t zeros[64 * KiB];

	while (len) {
		uint64_t n = MIN(len, (uint64_t)sizeof(zeros));
		int ret = write_guest(gm, gpa, zeros, n, what, err, errlen);

		if (ret)
			return ret;
		gpa += n;
		len -= n;
	}
	return 0;
}

/* Check the command line's length against the kernel's limit and write it. */
static int load_cmdline(struct guest_memory *gm, const char *cmdline, uint64_t kernel_max,
			char *err, size_t errlen)
{
	size_t n = strlen(cmdline);
	uint64_t max = MIN(kernel_max, LAYOUT_CMDLINE_MAX - 1);

	if (n > max) {
		snprintf(err, errlen,
			 "kernel command line is %zu bytes long, the kernel accepts at most %llu",
			 n, (unsigned long long)max);
		return -E2BIG;
	}
	return write_guest(gm, LAYOUT_CMDLINE_ADDR, cmdline, n + 1, "command line", err, errlen);
}

/*
 * Put the initrd at the highest 4 KiB-aligned address below limit and at or
 * above floor.
 */
static int load_initrd(struct guest_memory *gm, const struct boot_input *in, uint64_t floor,
		       uint64_t limit, struct boot_entry *out, char *err, size_t errlen)
{
	uint64_t addr;

	if (!in->initrd || !in->initrd_len)
		return 0;
	if (in->initrd_len > limit ||
	    ALIGN_DOWN(limit - in->initrd_len, BOOT_INITRD_ALIGN) < floor) {
		snprintf(err, errlen,
			 "initrd of %zu bytes does not fit in memory between the kernel's end at "
			 "0x%llx and 0x%llx",
			 in->initrd_len, (unsigned long long)floor, (unsigned long long)limit);
		return -ENOMEM;
	}
	addr = ALIGN_DOWN(limit - in->initrd_len, BOOT_INITRD_ALIGN);
	out->initrd_gpa = addr;
	out->initrd_size = in->initrd_len;
	return write_guest(gm, addr, in->initrd, in->initrd_len, "initrd", err, errlen);
}

static int load_bzimage(struct guest_memory *gm, const struct machine_layout *l,
			const struct boot_input *in, const char *cmdline, struct boot_entry *out,
			char *err, size_t errlen)
{
	struct bzimage_info bi;
	struct bz_boot_params bp;
	struct e820_entry e820[LAYOUT_MAX_E820];
	uint64_t load, run, end, align, limit;
	int ret, n;

	ret = bzimage_parse(in->kernel, in->kernel_len, &bi, err, errlen);
	if (ret)
		return ret;
	ret = load_cmdline(gm, cmdline, bi.cmdline_size, err, errlen);
	if (ret)
		return ret;

	/*
	 * A relocatable kernel goes where it prefers when that fits, else at
	 * the lowest aligned address above 1 MiB. It then decompresses itself
	 * at its run address: its load address rounded up to kernel_alignment
	 * but never below pref_address (the kernel's LOAD_PHYSICAL_ADDR). A
	 * fixed kernel is loaded at 1 MiB and runs at pref_address.
	 */
	align = bi.relocatable ? bi.kernel_alignment : 1;
	load = ALIGN_UP(LAYOUT_HIGH_MEM_START, align);
	if (bi.relocatable && bi.pref_address >= LAYOUT_HIGH_MEM_START &&
	    IS_ALIGNED(bi.pref_address, align) && bi.pref_address < l->low_ram_end &&
	    l->low_ram_end - bi.pref_address >= MAX((uint64_t)bi.init_size, bi.pm_size))
		load = bi.pref_address;
	run = MAX(load, bi.pref_address);
	if (run + bi.init_size < run || load + bi.pm_size < load) {
		snprintf(err, errlen, "bzImage pref_address 0x%llx is out of range",
			 (unsigned long long)bi.pref_address);
		return -ENOEXEC;
	}
	end = MAX(load + bi.pm_size, run + bi.init_size);
	if (end > l->low_ram_end) {
		snprintf(err, errlen,
			 "memory too small for the kernel: it needs RAM up to 0x%llx (%llu MiB), "
			 "low RAM ends at 0x%llx (%llu MiB)",
			 (unsigned long long)end, MiB_OF(end + MiB - 1),
			 (unsigned long long)l->low_ram_end, MiB_OF(l->low_ram_end));
		return -ENOMEM;
	}
	ret = write_guest(gm, load, in->kernel + bi.pm_offset, bi.pm_size, "kernel", err, errlen);
	if (ret)
		return ret;
	out->mode = BOOT_ENTRY_LINUX64;
	out->rip = load + BZ_ENTRY64_OFFSET;
	out->boot_info_gpa = LAYOUT_ZERO_PAGE_ADDR;
	out->kernel_start = MIN(load, run);
	out->kernel_end = end;

	limit = MIN((uint64_t)bi.initrd_addr_max + 1, l->low_ram_end);
	ret = load_initrd(gm, in, end, limit, out, err, errlen);
	if (ret)
		return ret;

	/* The zero page: the image's setup header, then what the loader fills in. */
	memset(&bp, 0, sizeof(bp));
	memcpy((uint8_t *)&bp + BZ_SETUP_HDR_OFFSET, in->kernel + BZ_SETUP_HDR_OFFSET,
	       bi.hdr_end - BZ_SETUP_HDR_OFFSET);
	bp.hdr.vid_mode = BZ_VID_MODE_NORMAL;
	bp.hdr.type_of_loader = BZ_LOADER_TYPE_UNDEFINED;
	bp.hdr.loadflags |= BZ_CAN_USE_HEAP;
	bp.hdr.heap_end_ptr = BOOT_HEAP_END_PTR;
	bp.hdr.code32_start = (uint32_t)load;
	bp.hdr.cmd_line_ptr = (uint32_t)LAYOUT_CMDLINE_ADDR;
	bp.ext_cmd_line_ptr = (uint32_t)(LAYOUT_CMDLINE_ADDR >> 32);
	bp.hdr.ramdisk_image = (uint32_t)out->initrd_gpa;
	bp.hdr.ramdisk_size = (uint32_t)out->initrd_size;
	bp.ext_ramdisk_image = (uint32_t)(out->initrd_gpa >> 32);
	bp.ext_ramdisk_size = (uint32_t)(out->initrd_size >> 32);
	bp.hdr.setup_data = 0;
	if (bi.version >= 0x020e)
		bp.acpi_rsdp_addr = in->rsdp_gpa;

	n = layout_e820(l, e820, LAYOUT_MAX_E820);
	for (int i = 0; i < n; i++) {
		bp.e820_table[i].addr = e820[i].addr;
		bp.e820_table[i].size = e820[i].size;
		bp.e820_table[i].type = e820[i].type;
	}
	bp.e820_entries = (uint8_t)n;
	return write_guest(gm, LAYOUT_ZERO_PAGE_ADDR, &bp, sizeof(bp), "zero page", err, errlen);
}

static int load_elf_pvh(struct guest_memory *gm, const struct machine_layout *l,
			const struct boot_input *in, const char *cmdline, struct boot_entry *out,
			char *err, size_t errlen)
{
	struct elf_pvh_image img;
	struct hvm_start_info si;
	struct hvm_modlist_entry mod;
	struct hvm_memmap_table_entry mm[LAYOUT_MAX_E820];
	struct e820_entry e820[LAYOUT_MAX_E820];
	int ret, n;

	ret = elf_pvh_parse(in->kernel, in->kernel_len, &img, err, errlen);
	if (ret)
		return ret == -ENOENT ? -ENOTSUP : ret;
	ret = load_cmdline(gm, cmdline, LAYOUT_CMDLINE_MAX - 1, err, errlen);
	if (ret)
		return ret;

	for (unsigned i = 0; i < img.nr_segments; i++) {
		const struct elf_pvh_segment *s = &img.segments[i];

		if (s->paddr < LAYOUT_HIGH_MEM_START) {
			snprintf(err, errlen,
				 "ELF kernel segment at 0x%llx would overwrite the boot structures "
				 "below 1 MiB",
				 (unsigned long long)s->paddr);
			return -ENOEXEC;
		}
		if (s->paddr >= l->low_ram_end || s->memsz > l->low_ram_end - s->paddr) {
			snprintf(
			    err, errlen,
			    "memory too small for the kernel: segment 0x%llx-0x%llx lies beyond "
			    "the end of low RAM at 0x%llx (%llu MiB)",
			    (unsigned long long)s->paddr, (unsigned long long)(s->paddr + s->memsz),
			    (unsigned long long)l->low_ram_end, MiB_OF(l->low_ram_end));
			return -ENOMEM;
		}
	}
	for (unsigned i = 0; i < img.nr_segments; i++) {
		const struct elf_pvh_segment *s = &img.segments[i];

		ret = write_guest(gm, s->paddr, in->kernel + s->offset, s->filesz, "kernel", err,
				  errlen);
		if (!ret)
			ret = zero_guest(gm, s->paddr + s->filesz, s->memsz - s->filesz,
					 "kernel bss", err, errlen);
		if (ret)
			return ret;
	}
	out->mode = BOOT_ENTRY_PVH32;
	out->rip = img.entry;
	out->boot_info_gpa = LAYOUT_PVH_INFO_ADDR;
	out->kernel_start = img.paddr_start;
	out->kernel_end = img.paddr_end;

	ret = load_initrd(gm, in, img.paddr_end, l->low_ram_end, out, err, errlen);
	if (ret)
		return ret;

	n = layout_e820(l, e820, LAYOUT_MAX_E820);
	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < n; i++) {
		mm[i].addr = e820[i].addr;
		mm[i].size = e820[i].size;
		mm[i].type = e820[i].type;
	}
	memset(&si, 0, sizeof(si));
	si.magic = HVM_START_MAGIC;
	si.version = 1;
	si.cmdline_paddr = LAYOUT_CMDLINE_ADDR;
	si.rsdp_paddr = in->rsdp_gpa;
	si.memmap_paddr = BOOT_PVH_MEMMAP_ADDR;
	si.memmap_entries = (uint32_t)n;
	memset(&mod, 0, sizeof(mod));
	if (out->initrd_size) {
		mod.paddr = out->initrd_gpa;
		mod.size = out->initrd_size;
		si.nr_modules = 1;
		si.modlist_paddr = BOOT_PVH_MODLIST_ADDR;
	}
	ret = write_guest(gm, LAYOUT_PVH_INFO_ADDR, &si, sizeof(si), "PVH start info", err, errlen);
	if (!ret)
		ret = write_guest(gm, BOOT_PVH_MODLIST_ADDR, &mod, sizeof(mod), "PVH module list",
				  err, errlen);
	if (!ret)
		ret = write_guest(gm, BOOT_PVH_MEMMAP_ADDR, mm, (uint64_t)n * sizeof(mm[0]),
				  "PVH memory map", err, errlen);
	return ret;
}

int boot_load(struct guest_memory *gm, const struct machine_layout *l, const struct boot_input *in,
	      struct boot_entry *out, char *err, size_t errlen)
{
	const char *cmdline = in->cmdline ? in->cmdline : "";

	memset(out, 0, sizeof(*out));
	switch (boot_kernel_kind(in->kernel, in->kernel_len)) {
	case 'b':
		return load_bzimage(gm, l, in, cmdline, out, err, errlen);
	case 'e':
		return load_elf_pvh(gm, l, in, cmdline, out, err, errlen);
	default:
		snprintf(err, errlen, "kernel is neither a bzImage nor an ELF vmlinux");
		return -ENOEXEC;
	}
}
