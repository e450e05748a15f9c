// SPDX-License-Identifier: MIT
/* Intel MP specification 1.4 tables (see mptable.h). */
#include "arch/x86/mptable.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "core/util.h"

#define MP_SPEC_REV 4 /* 1.4 */

/* Configuration table entry types, in the order the spec requires. */
#define MP_PROCESSOR 0
#define MP_BUS	     1
#define MP_IOAPIC    2
#define MP_IOINTR    3
#define MP_LINTR     4

#define MP_CPU_ENABLED 0x01
#define MP_CPU_BSP     0x02
#define MP_IOAPIC_EN   0x01

#define MP_INT_INT    0
#define MP_INT_NMI    1
#define MP_INT_EXTINT 3

/* Interrupt flags: polarity bits 0-1, trigger bits 2-3 (0 = as the bus). */
#define MP_IRQ_CONFORMS	   0x0000
#define MP_IRQ_ACTIVE_HIGH 0x0001
#define MP_IRQ_LEVEL	   0x000c
#define MP_ALL_LOCAL_APICS 0xff
#define LAPIC_VERSION	   0x14 /* integrated xAPIC */
#define IOAPIC_VERSION	   0x11
#define CPU_SIGNATURE	   0x600 /* family 6 */
#define CPU_FEATURES	   0x201 /* CPUID.1:EDX FPU | APIC */
#define ISA_BUS_ID	   0

struct cursor {
	uint8_t *p;
};

static void put8(struct cursor *c, uint8_t v)
{
	*c->p++ = v;
}

static void put16(struct cursor *c, uint16_t v)
{
	put8(c, (uint8_t)v);
	put8(c, (uint8_t)(v >> 8));
}

static void put32(struct cursor *c, uint32_t v)
{
	put16(c, (uint16_t)v);
	put16(c, (uint16_t)(v >> 16));
}

static void put_str(struct cursor *c, const char *s, size_t n)
{
	memcpy(c->p, s, n);
	c->p += n;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static void ioint(struct cursor *c, uint16_t flags, uint8_t src_irq, uint8_t ioapic_id, uint8_t pin)
{
	put8(c, MP_IOINTR);
	put8(c, MP_INT_INT);
	put16(c, flags);
	put8(c, ISA_BUS_ID);
	put8(c, src_irq);
	put8(c, ioapic_id);
	put8(c, pin);
}

static void lint(struct cursor *c, uint8_t type, uint8_t lint_pin)
{
	put8(c, MP_LINTR);
	put8(c, type);
	put16(c, MP_IRQ_CONFORMS);
	put8(c, ISA_BUS_ID);
	put8(c, 0);
	put8(c, MP_ALL_LOCAL_APICS);
	put8(c, lint_pin);
}

int mptable_build(unsigned ncpus, uint8_t *buf, size_t cap, uint64_t base_gpa)
{
	size_t size = MPTABLE_SIZE(ncpus);
	/* The IOAPIC gets the first id after the processors' (ids are unique on the APIC bus). */
	uint8_t ioapic_id = (uint8_t)ncpus;
	uint16_t entries = 0;
	struct cursor c;
	uint8_t *cfg;
	unsigned i;

	if (!buf || ncpus == 0 || ncpus > LAYOUT_MAX_CPUS)
		return -EINVAL;
	if (!IS_ALIGNED(base_gpa, 16) || base_gpa >= LAYOUT_4G || LAYOUT_4G - base_gpa < size)
		return -EINVAL;
	if (size > cap)
		return -ENOSPC;

	memset(buf, 0, size);

	/* Floating pointer structure (16 bytes). */
	c.p = buf;
	put_str(&c, "_MP_", 4);
	put32(&c, (uint32_t)(base_gpa + 16)); /* configuration table address */
	put8(&c, 1);			      /* length in 16-byte units */
	put8(&c, MP_SPEC_REV);
	put8(&c, 0); /* checksum */
	put8(&c, 0); /* feature 1: a configuration table is present */
	put8(&c, 0); /* feature 2: virtual wire mode, no IMCR */
	c.p += 3;    /* features 3-5 */
	buf[10] = (uint8_t)-sum8(buf, 16);

	/* Configuration table header (44 bytes). */
	cfg = c.p;
	put_str(&c, "PCMP", 4);
	put16(&c, 0); /* base table length */
	put8(&c, MP_SPEC_REV);
	put8(&c, 0);				/* checksum */
	put_str(&c, "HEARTH  ", 8);		/* OEM id */
	put_str(&c, "HEARTH VM   ", 12);	/* product id */
	put32(&c, 0);				/* OEM table pointer */
	put16(&c, 0);				/* OEM table size */
	put16(&c, 0);				/* entry count */
	put32(&c, (uint32_t)LAYOUT_LAPIC_ADDR); /* local APIC address */
	put16(&c, 0);				/* extended table length */
	put8(&c, 0);				/* extended table checksum */
	put8(&c, 0);

	for (i = 0; i < ncpus; i++) {
		put8(&c, MP_PROCESSOR);
		put8(&c, (uint8_t)i); /* local APIC id */
		put8(&c, LAPIC_VERSION);
		put8(&c, MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0));
		put32(&c, CPU_SIGNATURE);
		put32(&c, CPU_FEATURES);
		c.p += 8; /* reserved */
		entries++;
	}

	put8(&c, MP_BUS);
	put8(&c, ISA_BUS_ID);
	put_str(&c, "ISA   ", 6);
	entries++;

	put8(&c, MP_IOAPIC);
	put8(&c, ioapic_id);
	put8(&c, IOAPIC_VERSION);
	put8(&c, MP_IOAPIC_EN);
	put32(&c, (uint32_t)LAYOUT_IOAPIC_ADDR);
	entries++;

	/*
	 * ISA IRQs: IRQ 0 (PIT) on pin 2 as in the MADT override; IRQ 2 is
	 * the 8259 cascade and its pin carries IRQ 0, so it gets no entry;
	 * the SCI is level-triggered active-high; the rest are identity.
	 */
	for (i = 0; i < 16; i++) {
		if (i == 2)
			continue;
		if (i == 0)
			ioint(&c, MP_IRQ_CONFORMS, 0, ioapic_id, 2);
		else if (i == LAYOUT_GSI_SCI)
			ioint(&c, MP_IRQ_LEVEL | MP_IRQ_ACTIVE_HIGH, (uint8_t)i, ioapic_id,
			      (uint8_t)i);
		else
			ioint(&c, MP_IRQ_CONFORMS, (uint8_t)i, ioapic_id, (uint8_t)i);
		entries++;
	}

	lint(&c, MP_INT_EXTINT, 0);
	lint(&c, MP_INT_NMI, 1);
	entries += 2;

	if (NEVER((size_t)(c.p - buf) != size))
		return -EINVAL;

	/* Base table length (from the header to the end), entry count, checksum. */
	cfg[4] = (uint8_t)(size - 16);
	cfg[5] = (uint8_t)((size - 16) >> 8);
	cfg[34] = (uint8_t)entries;
	cfg[35] = (uint8_t)(entries >> 8);
	cfg[7] = (uint8_t)-sum8(cfg, size - 16);
	return (int)size;
}
