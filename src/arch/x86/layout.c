/* SPDX-License-Identifier: MIT */
#include "arch/x86/layout.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>

int layout_compute(struct machine_layout *l, uint64_t ram_size, unsigned ncpus, uint8_t phys_bits,
		   char *err, size_t errlen)
{
	uint64_t top, addr_limit;

	if (ncpus < 1 || ncpus > LAYOUT_MAX_CPUS) {
		snprintf(err, errlen, "vCPU count %u is out of range (1-%u)", ncpus,
			 LAYOUT_MAX_CPUS);
		return -EINVAL;
	}
	if (ram_size < 8 * MiB || !IS_ALIGNED(ram_size, 4 * KiB)) {
		snprintf(err, errlen,
			 "memory size %llu bytes is too small or not 4 KiB aligned "
			 "(minimum 8 MiB)",
			 (unsigned long long)ram_size);
		return -EINVAL;
	}
	if (phys_bits < 32 || phys_bits > 52) {
		snprintf(err, errlen, "unsupported guest physical address width %u", phys_bits);
		return -EINVAL;
	}
	l->ram_size = ram_size;
	l->ncpus = ncpus;
	l->phys_bits = phys_bits;
	l->low_ram_end = MIN(ram_size, LAYOUT_MMIO32_START);
	l->high_ram_size = ram_size - l->low_ram_end;
	top = l->high_ram_size ? LAYOUT_4G + l->high_ram_size : LAYOUT_4G;
	addr_limit = 1ULL << phys_bits;
	if (top > addr_limit) {
		snprintf(err, errlen,
			 "memory size %llu MiB exceeds the guest's %u-bit physical address space",
			 (unsigned long long)(ram_size / MiB), phys_bits);
		return -ERANGE;
	}
	l->mmio64_base = ALIGN_UP(top, LAYOUT_MMIO64_ALIGN);
	if (l->mmio64_base >= addr_limit) {
		l->mmio64_size = 0;
	} else {
		l->mmio64_size = MIN(LAYOUT_MMIO64_SIZE, addr_limit - l->mmio64_base);
	}
	return 0;
}

int layout_e820(const struct machine_layout *l, struct e820_entry *out, int max)
{
	struct e820_entry all[6];
	int n = 0;

	all[n++] = (struct e820_entry){0, LAYOUT_EBDA_START, E820_RAM};
	all[n++] = (struct e820_entry){LAYOUT_EBDA_START, LAYOUT_EBDA_END - LAYOUT_EBDA_START,
				       E820_RESERVED};
	all[n++] = (struct e820_entry){LAYOUT_ACPI_START, LAYOUT_ACPI_END - LAYOUT_ACPI_START,
				       E820_RESERVED};
	all[n++] = (struct e820_entry){LAYOUT_HIGH_MEM_START,
				       l->low_ram_end - LAYOUT_HIGH_MEM_START, E820_RAM};
	all[n++] = (struct e820_entry){LAYOUT_ECAM_BASE, LAYOUT_ECAM_SIZE, E820_RESERVED};
	if (l->high_ram_size)
		all[n++] = (struct e820_entry){LAYOUT_4G, l->high_ram_size, E820_RAM};
	if (n > max)
		n = max;
	for (int i = 0; i < n; i++)
		out[i] = all[i];
	return n;
}

uint64_t layout_ram_bytes(const struct machine_layout *l)
{
	return l->ram_size - (LAYOUT_EBDA_END - LAYOUT_EBDA_START) -
	       (LAYOUT_HIGH_MEM_START - LAYOUT_HOLE_START);
}
