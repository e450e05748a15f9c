// SPDX-License-Identifier: MIT
/*
 * ACPI tables (see acpi.h). Every table is first built in its own growable
 * buffer; once all sizes are known the tables are placed, the tables that
 * point at others (FADT, XSDT, RSDT, RSDP) are filled in, and only then is
 * the caller's buffer written.
 */
#include "arch/x86/acpi.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/aml.h"
#include "core/util.h"

#define OEM_TABLE_ID	 "HEARTHVM" /* 8 characters */
#define OEM_REVISION	 1
#define CREATOR_REVISION 1

/* FADT revision 6, minor version 3: the layout of ACPI 6.3. */
#define FADT_REVISION 6
#define FADT_MINOR    3
#define MADT_REVISION 5 /* ACPI 6.3 */
#define DSDT_REVISION 2 /* 64-bit integers */

/* FADT Flags (ACPI 6.3, table 5-34). */
#define FADT_F_WBINVD	     (1u << 0)
#define FADT_F_PROC_C1	     (1u << 2)
#define FADT_F_PWR_BUTTON    (1u << 4) /* set: power button is a control method device */
#define FADT_F_SLP_BUTTON    (1u << 5) /* set: no fixed-feature sleep button */
#define FADT_F_FIX_RTC	     (1u << 6) /* set: no RTC wake status in fixed registers */
#define FADT_F_RESET_REG_SUP (1u << 10)

/* FADT IA-PC boot architecture flags (table 5-35). */
#define FADT_BOOT_LEGACY_DEVICES  (1u << 0)
#define FADT_BOOT_8042		  (1u << 1)
#define FADT_BOOT_VGA_NOT_PRESENT (1u << 2)

/* Generic Address Structure address spaces and access sizes. */
#define GAS_SYSTEM_IO	1
#define GAS_ACCESS_BYTE 1
#define GAS_ACCESS_WORD 2

#define RTC_CENTURY_REG 0x32 /* the MC146818 model keeps the century (BCD) here */
#define RESET_VALUE	0x06 /* 0xcf9: RST_CPU (bit 2) with SYS_RST (bit 1), a hard reset */

/* MADT */
#define MADT_PCAT_COMPAT     (1u << 0)
#define MADT_LAPIC	     0
#define MADT_IOAPIC	     1
#define MADT_INT_OVERRIDE    2
#define MADT_LAPIC_NMI	     4
#define MADT_LAPIC_ENABLED   (1u << 0)
#define MPS_INTI_CONFORMS    0x0000
#define MPS_INTI_ACTIVE_HIGH 0x0001
#define MPS_INTI_LEVEL	     0x000c
#define IOAPIC_ID	     0
#define ACPI_ALL_PROCESSORS  0xff

#define FACS_VERSION 2

uint8_t acpi_checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t sum = 0;
	size_t i;

	for (i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return sum;
}

/* Append a standard 36-byte description header; length and checksum come later. */
static void table_header(struct aml *t, const char *sig, uint8_t revision)
{
	aml_raw(t, sig, 4);
	aml_u32(t, 0); /* Length */
	aml_u8(t, revision);
	aml_u8(t, 0); /* Checksum */
	aml_raw(t, ACPI_OEM_ID, 6);
	aml_raw(t, OEM_TABLE_ID, 8);
	aml_u32(t, OEM_REVISION);
	aml_raw(t, ACPI_CREATOR_ID, 4);
	aml_u32(t, CREATOR_REVISION);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Fill in Length and Checksum of a finished table. */
static int table_finish(struct aml *t)
{
	if (aml_error(t))
		return aml_error(t);
	if (t->len < ACPI_HEADER_SIZE || t->len > UINT32_MAX)
		return -EINVAL;
	put_le32(t->buf + 4, (uint32_t)t->len);
	t->buf[9] = 0;
	t->buf[9] = (uint8_t)-acpi_checksum(t->buf, t->len);
	return 0;
}

/* A Generic Address Structure. */
static void gas(struct aml *t, uint8_t space, uint8_t bit_width, uint8_t access, uint64_t addr)
{
	aml_u8(t, space);
	aml_u8(t, bit_width);
	aml_u8(t, 0); /* bit offset */
	aml_u8(t, access);
	aml_u64(t, addr);
}

static void gas_none(struct aml *t)
{
	aml_zeros(t, 12);
}

static int build_facs(struct aml *t)
{
	aml_raw(t, "FACS", 4);
	aml_u32(t, ACPI_FACS_SIZE);
	aml_u32(t, 0); /* hardware signature */
	aml_u32(t, 0); /* firmware waking vector */
	aml_u32(t, 0); /* global lock */
	aml_u32(t, 0); /* flags: no S4BIOS, no 64-bit wake */
	aml_u64(t, 0); /* X firmware waking vector */
	aml_u8(t, FACS_VERSION);
	aml_zeros(t, 3);
	aml_u32(t, 0); /* OSPM flags */
	aml_zeros(t, 24);
	if (aml_error(t))
		return aml_error(t);
	return t->len == ACPI_FACS_SIZE ? 0 : -EINVAL;
}

static void dsdt_legacy_devices(struct aml *t)
{
	size_t dev, crs;

	dev = aml_device_begin(t, "COM1");
	aml_name_eisaid(t, "_HID", "PNP0501");
	aml_name_integer(t, "_UID", 1);
	aml_name_decl(t, "_CRS");
	crs = aml_resource_template_begin(t);
	aml_io_port(t, LAYOUT_PORT_COM1, 8);
	aml_irq_noflags(t, LAYOUT_GSI_COM1);
	aml_resource_template_end(t, crs);
	aml_end(t, dev);

	dev = aml_device_begin(t, "PS2K");
	aml_name_eisaid(t, "_HID", "PNP0303");
	aml_name_decl(t, "_CRS");
	crs = aml_resource_template_begin(t);
	aml_io_port(t, LAYOUT_PORT_I8042, 1);	  /* data */
	aml_io_port(t, LAYOUT_PORT_I8042 + 4, 1); /* status/command */
	aml_irq_noflags(t, LAYOUT_GSI_KEYBOARD);
	aml_resource_template_end(t, crs);
	aml_end(t, dev);

	dev = aml_device_begin(t, "RTC");
	aml_name_eisaid(t, "_HID", "PNP0B00");
	aml_name_decl(t, "_CRS");
	crs = aml_resource_template_begin(t);
	aml_io_port(t, LAYOUT_PORT_RTC, 2);
	aml_irq_noflags(t, LAYOUT_GSI_RTC);
	aml_resource_template_end(t, crs);
	aml_end(t, dev);
}

/* One ACPI0007 processor device per vCPU; _UID matches the MADT processor UID. */
static void dsdt_processors(struct aml *t, unsigned ncpus)
{
	static const char hex[] = "0123456789ABCDEF";
	char name[5];
	unsigned i;
	size_t dev;

	for (i = 0; i < ncpus; i++) {
		name[0] = 'C';
		name[1] = hex[(i >> 8) & 0xf];
		name[2] = hex[(i >> 4) & 0xf];
		name[3] = hex[i & 0xf];
		name[4] = '\0';
		dev = aml_device_begin(t, name);
		aml_name_str(t, "_HID", "ACPI0007");
		aml_name_integer(t, "_UID", i);
		aml_end(t, dev);
	}
}

static int build_dsdt(struct aml *t, const struct machine_layout *l,
		      const struct acpi_options *opts)
{
	size_t pkg, sb;
	int ret;

	table_header(t, "DSDT", DSDT_REVISION);

	/* \_S5: SLP_TYPa, SLP_TYPb, two reserved elements. */
	aml_name_decl(t, "_S5");
	pkg = aml_package_begin(t, 4);
	aml_integer(t, LAYOUT_SLP_TYP_S5);
	aml_integer(t, LAYOUT_SLP_TYP_S5);
	aml_integer(t, 0);
	aml_integer(t, 0);
	aml_end(t, pkg);

	sb = aml_scope_begin(t, "\\_SB");
	dsdt_legacy_devices(t);
	dsdt_processors(t, l->ncpus);
	if (opts && opts->dsdt_sb_hook && !aml_error(t)) {
		ret = opts->dsdt_sb_hook(t, opts->opaque);
		if (ret < 0)
			return ret;
	}
	aml_end(t, sb);

	return table_finish(t);
}

static int build_madt(struct aml *t, unsigned ncpus)
{
	unsigned i;

	table_header(t, "APIC", MADT_REVISION);
	aml_u32(t, (uint32_t)LAYOUT_LAPIC_ADDR);
	aml_u32(t, MADT_PCAT_COMPAT);

	for (i = 0; i < ncpus; i++) {
		aml_u8(t, MADT_LAPIC);
		aml_u8(t, 8);
		aml_u8(t, (uint8_t)i); /* ACPI processor UID */
		aml_u8(t, (uint8_t)i); /* APIC ID */
		aml_u32(t, MADT_LAPIC_ENABLED);
	}

	aml_u8(t, MADT_IOAPIC);
	aml_u8(t, 12);
	aml_u8(t, IOAPIC_ID);
	aml_u8(t, 0);
	aml_u32(t, (uint32_t)LAYOUT_IOAPIC_ADDR);
	aml_u32(t, 0); /* GSI base */

	/* ISA IRQ 0 (PIT) arrives on IOAPIC pin 2; edge, active high as ISA. */
	aml_u8(t, MADT_INT_OVERRIDE);
	aml_u8(t, 10);
	aml_u8(t, 0); /* bus: ISA */
	aml_u8(t, 0); /* source IRQ */
	aml_u32(t, 2);
	aml_u16(t, MPS_INTI_CONFORMS);

	/* The SCI is level triggered, active high. */
	aml_u8(t, MADT_INT_OVERRIDE);
	aml_u8(t, 10);
	aml_u8(t, 0);
	aml_u8(t, LAYOUT_GSI_SCI);
	aml_u32(t, LAYOUT_GSI_SCI);
	aml_u16(t, MPS_INTI_LEVEL | MPS_INTI_ACTIVE_HIGH);

	/* NMI on LINT1 of every processor. */
	aml_u8(t, MADT_LAPIC_NMI);
	aml_u8(t, 6);
	aml_u8(t, ACPI_ALL_PROCESSORS);
	aml_u16(t, MPS_INTI_CONFORMS);
	aml_u8(t, 1); /* LINT1 */

	return table_finish(t);
}

static int build_mcfg(struct aml *t, const struct acpi_options *o)
{
	table_header(t, "MCFG", 1);
	aml_u64(t, 0); /* reserved */
	aml_u64(t, o->ecam_base);
	aml_u16(t, 0); /* PCI segment group */
	aml_u8(t, o->ecam_bus_start);
	aml_u8(t, o->ecam_bus_end);
	aml_u32(t, 0);
	return table_finish(t);
}

static int build_fadt(struct aml *t, uint64_t facs_gpa, uint64_t dsdt_gpa)
{
	table_header(t, "FACP", FADT_REVISION);
	aml_u32(t, (uint32_t)facs_gpa);	  /* FIRMWARE_CTRL */
	aml_u32(t, (uint32_t)dsdt_gpa);	  /* DSDT */
	aml_u8(t, 0);			  /* reserved (INT_MODEL in ACPI 1.0) */
	aml_u8(t, 0);			  /* Preferred_PM_Profile: unspecified */
	aml_u16(t, LAYOUT_GSI_SCI);	  /* SCI_INT */
	aml_u32(t, 0);			  /* SMI_CMD: none, always in ACPI mode */
	aml_u8(t, 0);			  /* ACPI_ENABLE */
	aml_u8(t, 0);			  /* ACPI_DISABLE */
	aml_u8(t, 0);			  /* S4BIOS_REQ */
	aml_u8(t, 0);			  /* PSTATE_CNT */
	aml_u32(t, LAYOUT_PORT_PM1A_EVT); /* PM1a_EVT_BLK */
	aml_u32(t, 0);			  /* PM1b_EVT_BLK */
	aml_u32(t, LAYOUT_PORT_PM1A_CNT); /* PM1a_CNT_BLK */
	aml_u32(t, 0);			  /* PM1b_CNT_BLK */
	aml_u32(t, 0);			  /* PM2_CNT_BLK */
	aml_u32(t, 0);			  /* PM_TMR_BLK: none (optional since ACPI 5.0A) */
	aml_u32(t, 0);			  /* GPE0_BLK */
	aml_u32(t, 0);			  /* GPE1_BLK */
	aml_u8(t, 4);			  /* PM1_EVT_LEN */
	aml_u8(t, 2);			  /* PM1_CNT_LEN */
	aml_u8(t, 0);			  /* PM2_CNT_LEN */
	aml_u8(t, 0);			  /* PM_TMR_LEN */
	aml_u8(t, 0);			  /* GPE0_BLK_LEN */
	aml_u8(t, 0);			  /* GPE1_BLK_LEN */
	aml_u8(t, 0);			  /* GPE1_BASE */
	aml_u8(t, 0);			  /* CST_CNT */
	aml_u16(t, 101);		  /* P_LVL2_LAT: > 100, C2 not supported */
	aml_u16(t, 1001);		  /* P_LVL3_LAT: > 1000, C3 not supported */
	aml_u16(t, 0);			  /* FLUSH_SIZE */
	aml_u16(t, 0);			  /* FLUSH_STRIDE */
	aml_u8(t, 0);			  /* DUTY_OFFSET */
	aml_u8(t, 0);			  /* DUTY_WIDTH */
	aml_u8(t, 0);			  /* DAY_ALRM */
	aml_u8(t, 0);			  /* MON_ALRM */
	aml_u8(t, RTC_CENTURY_REG);	  /* CENTURY: CMOS index of the century */
	aml_u16(t, FADT_BOOT_LEGACY_DEVICES | FADT_BOOT_8042 | FADT_BOOT_VGA_NOT_PRESENT);
	aml_u8(t, 0); /* reserved */
	aml_u32(t, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON | FADT_F_FIX_RTC |
		       FADT_F_RESET_REG_SUP);
	gas(t, GAS_SYSTEM_IO, 8, GAS_ACCESS_BYTE, LAYOUT_PORT_RESET); /* RESET_REG */
	aml_u8(t, RESET_VALUE);
	aml_u16(t, 0);							  /* ARM_BOOT_ARCH */
	aml_u8(t, FADT_MINOR);						  /* FADT minor version */
	aml_u64(t, facs_gpa);						  /* X_FIRMWARE_CTRL */
	aml_u64(t, dsdt_gpa);						  /* X_DSDT */
	gas(t, GAS_SYSTEM_IO, 32, GAS_ACCESS_WORD, LAYOUT_PORT_PM1A_EVT); /* X_PM1a_EVT_BLK */
	gas_none(t);							  /* X_PM1b_EVT_BLK */
	gas(t, GAS_SYSTEM_IO, 16, GAS_ACCESS_WORD, LAYOUT_PORT_PM1A_CNT); /* X_PM1a_CNT_BLK */
	gas_none(t);							  /* X_PM1b_CNT_BLK */
	gas_none(t);							  /* X_PM2_CNT_BLK */
	gas_none(t);							  /* X_PM_TMR_BLK */
	gas_none(t);							  /* X_GPE0_BLK */
	gas_none(t);							  /* X_GPE1_BLK */
	gas_none(t);		   /* SLEEP_CONTROL_REG (hardware-reduced only) */
	gas_none(t);		   /* SLEEP_STATUS_REG */
	aml_raw(t, "HEARTHVM", 8); /* Hypervisor Vendor Identity */

	if (!aml_error(t) && t->len != ACPI_FADT_SIZE)
		return -EINVAL;
	return table_finish(t);
}

static int build_xsdt(struct aml *t, const uint64_t *gpas, unsigned n)
{
	unsigned i;

	table_header(t, "XSDT", 1);
	for (i = 0; i < n; i++)
		aml_u64(t, gpas[i]);
	return table_finish(t);
}

static int build_rsdt(struct aml *t, const uint64_t *gpas, unsigned n)
{
	unsigned i;

	table_header(t, "RSDT", 1);
	for (i = 0; i < n; i++)
		aml_u32(t, (uint32_t)gpas[i]);
	return table_finish(t);
}

static int build_rsdp(struct aml *t, uint64_t rsdt_gpa, uint64_t xsdt_gpa)
{
	aml_raw(t, "RSD PTR ", 8);
	aml_u8(t, 0); /* checksum of the first 20 bytes */
	aml_raw(t, ACPI_OEM_ID, 6);
	aml_u8(t, 2); /* revision: ACPI 2.0+ */
	aml_u32(t, (uint32_t)rsdt_gpa);
	aml_u32(t, ACPI_RSDP_SIZE);
	aml_u64(t, xsdt_gpa);
	aml_u8(t, 0); /* extended checksum */
	aml_zeros(t, 3);
	if (aml_error(t))
		return aml_error(t);
	if (t->len != ACPI_RSDP_SIZE)
		return -EINVAL;
	t->buf[8] = (uint8_t)-acpi_checksum(t->buf, 20);
	t->buf[32] = (uint8_t)-acpi_checksum(t->buf, ACPI_RSDP_SIZE);
	return 0;
}

/* Tables in the order they are placed in the buffer. */
enum {
	T_RSDP,
	T_FACS,
	T_DSDT,
	T_FADT,
	T_MADT,
	T_MCFG,
	T_XSDT,
	T_RSDT,
	T_COUNT,
};

/* Offset of the next table: aligned in guest-physical terms. */
static uint64_t place(uint64_t base_gpa, uint64_t off, uint64_t align)
{
	return ALIGN_UP(base_gpa + off, align) - base_gpa;
}

int acpi_build_ext(const struct machine_layout *l, const struct acpi_options *opts, uint8_t *buf,
		   size_t cap, uint64_t base_gpa, uint64_t *rsdp_gpa)
{
	struct aml t[T_COUNT];
	uint64_t off[T_COUNT] = {0};
	uint64_t sdt_gpa[T_COUNT];
	unsigned nsdt = 0, i;
	uint64_t end = 0;
	bool mcfg = opts && opts->mcfg;
	int ret;

	if (!l || !buf || !rsdp_gpa || l->ncpus == 0 || l->ncpus > LAYOUT_MAX_CPUS)
		return -EINVAL;
	if (!IS_ALIGNED(base_gpa, 16) || base_gpa >= LAYOUT_4G)
		return -EINVAL;
	if (mcfg && opts->ecam_bus_end < opts->ecam_bus_start)
		return -EINVAL;

	for (i = 0; i < T_COUNT; i++)
		aml_init(&t[i]);

	/* Tables whose contents do not depend on where the others are. */
	ret = build_facs(&t[T_FACS]);
	if (!ret)
		ret = build_dsdt(&t[T_DSDT], l, opts);
	if (!ret)
		ret = build_madt(&t[T_MADT], l->ncpus);
	if (!ret && mcfg)
		ret = build_mcfg(&t[T_MCFG], opts);
	if (ret)
		goto free_tables;

	/* Place them: RSDP first, FACS 64-byte aligned, the rest 8-byte aligned. */
	off[T_RSDP] = 0;
	end = ACPI_RSDP_SIZE;
	for (i = T_FACS; i < T_COUNT; i++) {
		uint64_t len;

		switch (i) {
		case T_FADT:
			len = ACPI_FADT_SIZE;
			break;
		case T_XSDT:
			len = ACPI_HEADER_SIZE + 8ULL * nsdt;
			break;
		case T_RSDT:
			len = ACPI_HEADER_SIZE + 4ULL * nsdt;
			break;
		default:
			len = t[i].len;
			break;
		}
		if (len == 0)
			continue; /* optional table left out */
		off[i] = place(base_gpa, end, i == T_FACS ? 64 : 8);
		end = off[i] + len;
		if (i == T_FADT || i == T_MADT || i == T_MCFG)
			sdt_gpa[nsdt++] = base_gpa + off[i];
	}
	if (base_gpa + end > LAYOUT_4G) {
		ret = -EINVAL; /* the RSDT and 32-bit FADT fields need addresses below 4 GiB */
		goto free_tables;
	}
	if (end > cap) {
		ret = -ENOSPC;
		goto free_tables;
	}

	/* Tables that point at others. */
	ret = build_fadt(&t[T_FADT], base_gpa + off[T_FACS], base_gpa + off[T_DSDT]);
	if (!ret)
		ret = build_xsdt(&t[T_XSDT], sdt_gpa, nsdt);
	if (!ret)
		ret = build_rsdt(&t[T_RSDT], sdt_gpa, nsdt);
	if (!ret)
		ret = build_rsdp(&t[T_RSDP], base_gpa + off[T_RSDT], base_gpa + off[T_XSDT]);
	if (ret)
		goto free_tables;

	memset(buf, 0, (size_t)end);
	for (i = 0; i < T_COUNT; i++) {
		if (!t[i].len)
			continue;
		if (NEVER(off[i] + t[i].len > end)) {
			ret = -EINVAL;
			goto free_tables;
		}
		memcpy(buf + off[i], t[i].buf, t[i].len);
	}
	*rsdp_gpa = base_gpa + off[T_RSDP];
	ret = (int)end;

free_tables:
	for (i = 0; i < T_COUNT; i++)
		aml_free(&t[i]);
	return ret;
}

int acpi_build(const struct machine_layout *l, uint8_t *buf, size_t cap, uint64_t base_gpa,
	       uint64_t *rsdp_gpa)
{
	return acpi_build_ext(l, NULL, buf, cap, base_gpa, rsdp_gpa);
}
