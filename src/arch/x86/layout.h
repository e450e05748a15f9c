/* SPDX-License-Identifier: MIT */
/*
 * The x86 machine layout: the guest-physical map, fixed addresses of boot
 * structures, and interrupt (GSI) assignment. One function computes the
 * whole layout from the configuration; the same configuration always gives
 * the same layout. docs/MACHINE.md describes it for people.
 *
 *   0x0000_0000 .. 0x0009_fc00  RAM (boot structures live in the first 1 MiB)
 *   0x0009_fc00 .. 0x000a_0000  reserved: MP table (EBDA)
 *   0x000a_0000 .. 0x000e_0000  hole (legacy VGA/option ROM area, not RAM)
 *   0x000e_0000 .. 0x0010_0000  reserved: ACPI tables, RSDP at 0xe0000
 *   0x0010_0000 .. low_ram_end  RAM (low_ram_end = min(memory, 3 GiB))
 *   0xc000_0000 .. 0xe000_0000  32-bit MMIO window for device BARs
 *   0xe000_0000 .. 0xf000_0000  PCI ECAM (buses 0-255), reserved in e820
 *   0xf000_0000 .. 0xf000_7000  virtio-mmio devices, one 4 KiB slot each
 *   0xfec0_0000                 IOAPIC
 *   0xfee0_0000                 local APIC
 *   4 GiB .. 4 GiB + high_ram   RAM above 4 GiB (memory beyond 3 GiB)
 *   mmio64_base ..              64-bit MMIO window for device BARs
 */
#ifndef HEARTH_ARCH_X86_LAYOUT_H
#define HEARTH_ARCH_X86_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

/* Fixed addresses of boot structures in low memory. */
#define LAYOUT_GDT_ADDR	      0x500ULL	/* boot GDT (null, null, code 0x10, data 0x18) */
#define LAYOUT_IDT_ADDR	      0x520ULL	/* empty IDT */
#define LAYOUT_PVH_INFO_ADDR  0x6000ULL /* hvm_start_info, modlist and memmap follow */
#define LAYOUT_ZERO_PAGE_ADDR 0x7000ULL /* struct boot_params */
#define LAYOUT_PML4_ADDR      0x9000ULL /* identity page tables: PML4, PDPT, 4 PDs */
#define LAYOUT_PDPT_ADDR      0xa000ULL
#define LAYOUT_PD_ADDR	      0xb000ULL	 /* 4 pages: 0xb000..0xf000, 2 MiB pages for 4 GiB */
#define LAYOUT_BOOT_STACK     0x8ff0ULL	 /* initial stack for 32-bit entries */
#define LAYOUT_CMDLINE_ADDR   0x20000ULL /* kernel command line */
#define LAYOUT_CMDLINE_MAX    0x10000ULL /* room reserved for it (64 KiB) */
#define LAYOUT_EBDA_START     0x9fc00ULL /* MP table lives here */
#define LAYOUT_EBDA_END	      0xa0000ULL
#define LAYOUT_HOLE_START     0xa0000ULL
#define LAYOUT_ACPI_START     0xe0000ULL /* RSDP first, then the tables */
#define LAYOUT_ACPI_END	      0x100000ULL
#define LAYOUT_HIGH_MEM_START 0x100000ULL /* kernels load at or above 1 MiB */

#define LAYOUT_MMIO32_START 0xc0000000ULL
#define LAYOUT_MMIO32_SIZE  0x20000000ULL /* 0xc0000000..0xe0000000 for BARs */
#define LAYOUT_ECAM_BASE    0xe0000000ULL
#define LAYOUT_ECAM_SIZE    0x10000000ULL
#define LAYOUT_IOAPIC_ADDR  0xfec00000ULL
#define LAYOUT_LAPIC_ADDR   0xfee00000ULL
#define LAYOUT_4G	    0x100000000ULL
#define LAYOUT_MMIO64_ALIGN 0x40000000ULL   /* 1 GiB */
#define LAYOUT_MMIO64_SIZE  0x1000000000ULL /* 64 GiB, less if phys bits are short */

/*
 * virtio-mmio devices: slot i at BASE + i * SLOT_SIZE, interrupt GSI
 * element i of LAYOUT_GSIS_VIRTIO_MMIO (ISA IRQs no other device uses; Linux sets
 * them up edge-triggered, active high). Outside the PCI windows and ECAM.
 */
#define LAYOUT_VIRTIO_MMIO_BASE	     0xf0000000ULL
#define LAYOUT_VIRTIO_MMIO_SLOT_SIZE 0x1000ULL
#define LAYOUT_VIRTIO_MMIO_SLOTS     7
#define LAYOUT_GSIS_VIRTIO_MMIO	     5, 6, 7, 10, 11, 14, 15 /* an initializer list */

/* Fixed I/O ports. */
#define LAYOUT_PORT_COM1     0x3f8
#define LAYOUT_PORT_I8042    0x60  /* data; command/status at 0x64 */
#define LAYOUT_PORT_RTC	     0x70  /* index 0x70, data 0x71 */
#define LAYOUT_PORT_PM1A_EVT 0x600 /* 4 bytes: PM1 status (2), enable (2) */
#define LAYOUT_PORT_PM1A_CNT 0x604 /* 2 bytes: PM1 control */
#define LAYOUT_PORT_RESET    0xcf9 /* reset control register */
#define LAYOUT_PORT_PCI_CFG  0xcf8 /* 0xcf8 address, 0xcfc data */

/* Fixed interrupt assignment (GSIs on the IOAPIC; 0-15 are ISA IRQs). */
#define LAYOUT_GSI_KEYBOARD 1
#define LAYOUT_GSI_COM1	    4
#define LAYOUT_GSI_RTC	    8
#define LAYOUT_GSI_SCI	    9 /* ACPI SCI: level triggered, active high */
#define LAYOUT_GSI_MOUSE    12
#define LAYOUT_GSI_PCI_BASE 16 /* GSIs 16..23 for PCI INTx */
#define LAYOUT_IOAPIC_PINS  24

/* ACPI sleep type written to PM1a_CNT.SLP_TYP for S5 (soft off). */
#define LAYOUT_SLP_TYP_S5 5

#define LAYOUT_MAX_CPUS 254

struct machine_layout {
	uint64_t ram_size;	/* what the user asked for */
	unsigned ncpus;		/* 1..LAYOUT_MAX_CPUS */
	uint64_t low_ram_end;	/* RAM [0, low_ram_end) (minus the legacy hole) */
	uint64_t high_ram_size; /* RAM [4 GiB, 4 GiB + high_ram_size) */
	uint64_t mmio64_base;	/* 64-bit BAR window */
	uint64_t mmio64_size;
	uint8_t phys_bits; /* guest physical address width */
};

/*
 * layout_compute - compute the layout for ram_size bytes and ncpus vCPUs on
 * a guest with phys_bits physical address bits. ram_size must be a multiple
 * of 4 KiB and at least 8 MiB. Returns 0, or -EINVAL/-ERANGE (memory beyond
 * the address width) with a message in err.
 */
int layout_compute(struct machine_layout *l, uint64_t ram_size, unsigned ncpus, uint8_t phys_bits,
		   char *err, size_t errlen);

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_ACPI     3

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

#define LAYOUT_MAX_E820 16

/*
 * layout_e820 - fill out[] with the guest's memory map in ascending order.
 * Returns the number of entries (at most max).
 */
int layout_e820(const struct machine_layout *l, struct e820_entry *out, int max);

/* layout_ram_bytes - RAM the guest sees in its e820 map (ram_size less holes). */
uint64_t layout_ram_bytes(const struct machine_layout *l);

#endif
