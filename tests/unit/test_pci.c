/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the PCI host bridge (src/devices/pci/pci.c, pci_acpi.c):
 * configuration space through ECAM and ports 0xcf8/0xcfc, BARs on real
 * buses, the placement rule, capabilities, INTx, and the ACPI description
 * checked with iasl.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "core/bus.h"
#include "core/log.h"
#include "devices/legacy/cf9_reset.h"
#include "devices/pci/pci.h"
#include "iasl_util.h"

#define MiB_ (1024ULL * 1024)

/* A device whose BARs say which BAR was hit. */
struct bar_hits {
	int reads, writes;
	uint64_t last_off;
	uint32_t last_val;
};

struct tdev {
	struct pci_device pci;
	struct bar_hits hits[PCI_NUM_BARS];
	int cfg_reads, cfg_writes;
	unsigned last_wr_off, last_wr_len;
};

struct bar_ctx {
	struct tdev *dev;
	unsigned bar;
};

static void bar_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct bar_ctx *c = opaque;

	c->dev->hits[c->bar].reads++;
	c->dev->hits[c->bar].last_off = off;
	memset(data, 0xb0 + c->bar, len);
}

static void bar_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct bar_ctx *c = opaque;
	uint32_t v = 0;

	for (uint32_t i = 0; i < len && i < 4; i++)
		v |= (uint32_t)data[i] << (8 * i);
	c->dev->hits[c->bar].writes++;
	c->dev->hits[c->bar].last_off = off;
	c->dev->hits[c->bar].last_val = v;
}

static const struct bus_device_ops bar_ops = {"test-bar", bar_read, bar_write};

static void tdev_cfg_read(struct pci_device *d, unsigned off, unsigned len)
{
	struct tdev *t = d->opaque;

	(void)off;
	(void)len;
	t->cfg_reads++;
}

static void tdev_cfg_write(struct pci_device *d, unsigned off, unsigned len)
{
	struct tdev *t = d->opaque;

	t->cfg_writes++;
	t->last_wr_off = off;
	t->last_wr_len = len;
}

static const struct pci_device_ops tdev_ops = {tdev_cfg_read, tdev_cfg_write};

struct fx {
	struct bus pio, mmio;
	struct machine_layout l;
	struct cf9_reset cf9;
	int resets;
	struct pci_host h;
	int level[LAYOUT_IOAPIC_PINS];
	int irq_calls;
	struct tdev a, b;
	struct bar_ctx actx[PCI_NUM_BARS], bctx[PCI_NUM_BARS];
};

static void fx_irq(void *opaque, uint32_t gsi, int level)
{
	struct fx *f = opaque;

	assert_true(gsi >= LAYOUT_GSI_PCI_BASE && gsi < LAYOUT_IOAPIC_PINS);
	f->level[gsi] = level;
	f->irq_calls++;
}

static void fx_reset(void *opaque)
{
	struct fx *f = opaque;

	f->resets++;
}

/* A device with BAR0 MEM32 4 KiB, BAR1 I/O 32, BAR2 MEM64 16 KiB prefetchable, INTA. */
static void tdev_init(struct tdev *t, struct bar_ctx *ctx, uint16_t device_id)
{
	pci_device_init(&t->pci, "tdev", 0x1af4, device_id, 0xff0000, 1, &tdev_ops, t);
	memset(t->hits, 0, sizeof(t->hits));
	t->cfg_reads = t->cfg_writes = 0;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		ctx[i] = (struct bar_ctx){t, i};
	assert_int_equal(
	    pci_device_set_bar(&t->pci, 0, PCI_BAR_MEM32, 4096, false, &bar_ops, &ctx[0]), 0);
	assert_int_equal(pci_device_set_bar(&t->pci, 1, PCI_BAR_IO, 32, false, &bar_ops, &ctx[1]),
			 0);
	assert_int_equal(
	    pci_device_set_bar(&t->pci, 2, PCI_BAR_MEM64, 16384, true, &bar_ops, &ctx[2]), 0);
	assert_int_equal(pci_device_set_intx_pin(&t->pci, 1), 0);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[128];

	assert_non_null(f);
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	assert_int_equal(layout_compute(&f->l, 512 * MiB_, 1, 40, err, sizeof(err)), 0);
	cf9_reset_init(&f->cf9, fx_reset, f);
	assert_int_equal(pci_host_init(&f->h, &f->pio, &f->mmio, &f->l,
				       (struct irq_line){fx_irq, f, 0}, &f->cf9),
			 0);
	tdev_init(&f->a, f->actx, 0x1000);
	tdev_init(&f->b, f->bctx, 0x1001);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	pci_host_destroy(&f->h);
	assert_int_equal(f->pio.nr, 0);
	assert_int_equal(f->mmio.nr, 0);
	cf9_reset_destroy(&f->cf9);
	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
	free(f);
	return 0;
}

/* ---- access helpers ------------------------------------------------------------- */

static void put(uint8_t *p, uint32_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get(const uint8_t *p, unsigned len)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < len; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static void outp(struct fx *f, uint16_t port, unsigned len, uint32_t v)
{
	uint8_t d[4];

	put(d, v, len);
	bus_write(&f->pio, port, d, len);
}

static uint32_t inp(struct fx *f, uint16_t port, unsigned len)
{
	uint8_t d[4];

	bus_read(&f->pio, port, d, len);
	return get(d, len);
}

static uint32_t cf8_addr(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
	return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

static uint32_t cfg1_read(struct fx *f, unsigned dev, unsigned reg, unsigned len)
{
	outp(f, 0xcf8, 4, cf8_addr(0, dev, 0, reg));
	return inp(f, (uint16_t)(0xcfc + (reg & 3)), len);
}

static void cfg1_write(struct fx *f, unsigned dev, unsigned reg, unsigned len, uint32_t v)
{
	outp(f, 0xcf8, 4, cf8_addr(0, dev, 0, reg));
	outp(f, (uint16_t)(0xcfc + (reg & 3)), len, v);
}

static uint64_t ecam_addr(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
	return LAYOUT_ECAM_BASE + ((uint64_t)bus << 20 | dev << 15 | fn << 12 | reg);
}

static uint32_t ecam_read(struct fx *f, unsigned bus, unsigned dev, unsigned fn, unsigned reg,
			  unsigned len)
{
	uint8_t d[4];

	assert_true(bus_read(&f->mmio, ecam_addr(bus, dev, fn, reg), d, len));
	return get(d, len);
}

static void ecam_write(struct fx *f, unsigned dev, unsigned reg, unsigned len, uint32_t v)
{
	uint8_t d[4];

	put(d, v, len);
	assert_true(bus_write(&f->mmio, ecam_addr(0, dev, 0, reg), d, len));
}

/* Read one byte at a bus address: 0xb0 + BAR index when a test BAR answers. */
static int mem_hit(struct fx *f, uint64_t addr)
{
	uint8_t d = 0;

	if (!bus_read(&f->mmio, addr, &d, 1))
		return -1;
	return d;
}

static int io_hit(struct fx *f, uint64_t port)
{
	uint8_t d = 0;

	if (!bus_read(&f->pio, port, &d, 1))
		return -1;
	return d;
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_host_bridge(void **state)
{
	struct fx *f = *state;

	/* Both mechanisms see the same host bridge at 00:00.0. */
	assert_int_equal(cfg1_read(f, 0, PCI_VENDOR_ID, 2), PCI_HOST_VENDOR_ID);
	assert_int_equal(cfg1_read(f, 0, PCI_DEVICE_ID, 2), PCI_HOST_DEVICE_ID);
	assert_int_equal(cfg1_read(f, 0, 0, 4), PCI_HOST_DEVICE_ID << 16 | PCI_HOST_VENDOR_ID);
	assert_int_equal(ecam_read(f, 0, 0, 0, 0, 4),
			 PCI_HOST_DEVICE_ID << 16 | PCI_HOST_VENDOR_ID);
	assert_int_equal(cfg1_read(f, 0, PCI_CLASS_REVISION, 4) >> 8, 0x060000);
	assert_int_equal(ecam_read(f, 0, 0, 0, PCI_CLASS_DEVICE, 2), 0x0600);
	assert_int_equal(ecam_read(f, 0, 0, 0, PCI_HEADER_TYPE, 1), 0);
	/* Byte and word reads at every offset of the data port. */
	assert_int_equal(cfg1_read(f, 0, 1, 1), PCI_HOST_VENDOR_ID >> 8);
	assert_int_equal(cfg1_read(f, 0, 2, 2), PCI_HOST_DEVICE_ID);
	assert_int_equal(cfg1_read(f, 0, 3, 1), PCI_HOST_DEVICE_ID >> 8);
	/* Read-only ids stay. */
	cfg1_write(f, 0, 0, 4, 0x12345678);
	ecam_write(f, 0, 0, 4, 0x12345678);
	assert_int_equal(cfg1_read(f, 0, 0, 2), PCI_HOST_VENDOR_ID);
}

static void test_absent(void **state)
{
	struct fx *f = *state;

	for (unsigned dev = 1; dev < 32; dev++) {
		assert_int_equal(cfg1_read(f, dev, 0, 4), 0xffffffff);
		assert_int_equal(cfg1_read(f, dev, 2, 2), 0xffff);
		assert_int_equal(ecam_read(f, 0, dev, 0, 0, 4), 0xffffffff);
	}
	/* Other functions of slot 0 and other buses. */
	assert_int_equal(ecam_read(f, 0, 0, 1, 0, 4), 0xffffffff);
	assert_int_equal(ecam_read(f, 1, 0, 0, 0, 4), 0xffffffff);
	assert_int_equal(ecam_read(f, 255, 31, 7, 0xffc, 4), 0xffffffff);
	assert_int_equal(ecam_read(f, 0, 0, 7, 0, 1), 0xff);
	outp(f, 0xcf8, 4, cf8_addr(1, 0, 0, 0));
	assert_int_equal(inp(f, 0xcfc, 4), 0xffffffff);
	outp(f, 0xcf8, 4, cf8_addr(0, 0, 3, 0));
	assert_int_equal(inp(f, 0xcfc, 4), 0xffffffff);
	/* Without the enable bit the data port reaches nothing. */
	outp(f, 0xcf8, 4, 0);
	assert_int_equal(inp(f, 0xcfc, 4), 0xffffffff);
	outp(f, 0xcfc, 4, 0);

	/* An added device appears at its slot only. */
	assert_int_equal(pci_add_device(&f->h, &f->a.pci), 1);
	assert_int_equal(cfg1_read(f, 1, 0, 4), 0x10001af4);
	assert_int_equal(ecam_read(f, 0, 1, 0, 0, 4), 0x10001af4);
	assert_int_equal(ecam_read(f, 0, 1, 1, 0, 4), 0xffffffff);
	assert_int_equal(cfg1_read(f, 2, 0, 4), 0xffffffff);
}

/* CONFIG_ADDRESS itself, and port 0xcf9 inside it. */
static void test_config_address(void **state)
{
	struct fx *f = *state;

	outp(f, 0xcf8, 4, 0xffffffff);
	assert_int_equal(inp(f, 0xcf8, 4), 0x80fffffc);
	outp(f, 0xcf8, 4, 0x80000000);
	assert_int_equal(inp(f, 0xcf8, 4), 0x80000000);
	/* Narrow accesses to 0xcf8-0xcfb (but 0xcf9) reach nothing: Linux's type 2 probe fails. */
	outp(f, 0xcfb, 1, 0);
	outp(f, 0xcf8, 1, 0);
	outp(f, 0xcfa, 1, 0);
	assert_int_equal(inp(f, 0xcf8, 1), 0xff);
	assert_int_equal(inp(f, 0xcfa, 1), 0xff);
	assert_int_equal(inp(f, 0xcf8, 2), 0xffff);
	assert_int_equal(inp(f, 0xcf8, 4), 0x80000000);
	assert_int_equal(f->resets, 0);

	/* 0xcf9: the reset control register. */
	outp(f, 0xcf9, 1, 0x02);
	assert_int_equal(inp(f, 0xcf9, 1), 0x02);
	assert_int_equal(f->resets, 0);
	outp(f, 0xcf9, 1, 0x06);
	assert_int_equal(f->resets, 1);
	/* A 32-bit write at 0xcf8 whose byte 1 has bit 2 set is an address, not a reset. */
	outp(f, 0xcf8, 4, 0x80000400);
	assert_int_equal(f->resets, 1);
	assert_int_equal(inp(f, 0xcf8, 4), 0x80000400);
	/* A word at 0xcf9 is neither. */
	outp(f, 0xcf9, 2, 0x0606);
	assert_int_equal(f->resets, 1);
}

static void test_bar_sizing(void **state)
{
	struct fx *f = *state;

	assert_int_equal(pci_add_device(&f->h, &f->a.pci), 1);
	/* Unassigned BARs read their type bits. */
	assert_int_equal(cfg1_read(f, 1, PCI_BASE_ADDRESS_0, 4), 0);
	assert_int_equal(cfg1_read(f, 1, PCI_BASE_ADDRESS_1, 4), 1);
	assert_int_equal(cfg1_read(f, 1, PCI_BASE_ADDRESS_2, 4), 0xc);
	assert_int_equal(cfg1_read(f, 1, PCI_BASE_ADDRESS_3, 4), 0);

	/* 32-bit memory: 4 KiB. */
	cfg1_write(f, 1, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	assert_int_equal(cfg1_read(f, 1, PCI_BASE_ADDRESS_0, 4), 0xfffff000);
	/* I/O: 32 ports. */
	ecam_write(f, 1, PCI_BASE_ADDRESS_1, 4, 0xffffffff);
	assert_int_equal(ecam_read(f, 0, 1, 0, PCI_BASE_ADDRESS_1, 4), 0xffffffe1);
	/* 64-bit prefetchable: 16 KiB over two registers. */
	cfg1_write(f, 1, PCI_BASE_ADDRESS_2, 4, 0xffffffff);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_3, 4, 0xffffffff);
	assert_int_equal(cfg1_read(f, 1, PCI_BASE_ADDRESS_2, 4), 0xffffc00c);
	assert_int_equal(cfg1_read(f, 1, PCI_BASE_ADDRESS_3, 4), 0xffffffff);
	/* Unused BARs and the ROM BAR stay zero. */
	cfg1_write(f, 1, PCI_BASE_ADDRESS_4, 4, 0xffffffff);
	cfg1_write(f, 1, PCI_ROM_ADDRESS, 4, 0xffffffff);
	assert_int_equal(cfg1_read(f, 1, PCI_BASE_ADDRESS_4, 4), 0);
	assert_int_equal(cfg1_read(f, 1, PCI_ROM_ADDRESS, 4), 0);
	/* Decoding was off all along: nothing was mapped. */
	assert_false(pci_device_bar_mapped(&f->a.pci, 0, NULL));
	assert_int_equal(f->mmio.nr, 1); /* the ECAM */
	assert_int_equal(f->pio.nr, 1);	 /* 0xcf8-0xcff */

	/* Restoring addresses after sizing. */
	cfg1_write(f, 1, PCI_BASE_ADDRESS_0, 4, 0xc0001000);
	assert_int_equal(pci_device_bar_address(&f->a.pci, 0), 0xc0001000);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_2, 4, 0x00004000);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_3, 4, 0x1);
	assert_int_equal(pci_device_bar_address(&f->a.pci, 2), 0x100004000ULL);
	assert_int_equal(cfg1_read(f, 1, PCI_BASE_ADDRESS_2, 4), 0x0000400c);
}

static void test_bar_declaration_errors(void **state)
{
	struct fx *f = *state;
	struct pci_device d;
	struct bar_ctx c = {&f->a, 0};

	pci_device_init(&d, "bad", 1, 2, 0, 0, NULL, NULL);
	assert_int_equal(pci_device_set_bar(&d, 6, PCI_BAR_MEM32, 4096, false, &bar_ops, &c),
			 -EINVAL);
	assert_int_equal(pci_device_set_bar(&d, 0, PCI_BAR_MEM32, 3000, false, &bar_ops, &c),
			 -EINVAL);
	assert_int_equal(pci_device_set_bar(&d, 0, PCI_BAR_MEM32, 8, false, &bar_ops, &c), -EINVAL);
	assert_int_equal(pci_device_set_bar(&d, 0, PCI_BAR_IO, 512, false, &bar_ops, &c), -EINVAL);
	assert_int_equal(pci_device_set_bar(&d, 0, PCI_BAR_IO, 16, true, &bar_ops, &c), -EINVAL);
	assert_int_equal(pci_device_set_bar(&d, 5, PCI_BAR_MEM64, 4096, false, &bar_ops, &c),
			 -EINVAL);
	assert_int_equal(pci_device_set_bar(&d, 0, PCI_BAR_NONE, 4096, false, &bar_ops, &c),
			 -EINVAL);
	assert_int_equal(pci_device_set_bar(&d, 0, PCI_BAR_MEM32, 4096, false, NULL, &c), -EINVAL);
	assert_int_equal(pci_device_set_bar(&d, 3, PCI_BAR_MEM64, 4096, false, &bar_ops, &c), 0);
	assert_int_equal(pci_device_set_bar(&d, 4, PCI_BAR_MEM32, 4096, false, &bar_ops, &c),
			 -EINVAL); /* the upper half of BAR 3 */
	assert_int_equal(pci_device_set_bar(&d, 3, PCI_BAR_MEM32, 4096, false, &bar_ops, &c),
			 -EINVAL); /* taken */
	assert_int_equal(pci_device_set_bar(&d, 2, PCI_BAR_MEM64, 4096, false, &bar_ops, &c),
			 -EINVAL); /* its upper half is BAR 3 */
	assert_int_equal(pci_device_set_intx_pin(&d, 5), -EINVAL);
	assert_int_equal(pci_add_device_at(&f->h, &d, 0), -EINVAL);
	assert_int_equal(pci_add_device_at(&f->h, &d, 32), -EINVAL);
	assert_int_equal(pci_add_device_at(&f->h, &d, 7), 7);
	assert_int_equal(pci_add_device_at(&f->h, &d, 8), -EINVAL); /* already on the host */
	assert_int_equal(pci_add_device_at(&f->h, &f->a.pci, 7), -EBUSY);
	/* No more BARs once on the bus. */
	assert_int_equal(pci_device_set_bar(&d, 0, PCI_BAR_MEM32, 4096, false, &bar_ops, &c),
			 -EINVAL);
	pci_remove_device(&f->h, &d);
}

static void test_decoding(void **state)
{
	struct fx *f = *state;
	uint64_t addr;

	assert_int_equal(pci_add_device(&f->h, &f->a.pci), 1);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_0, 4, 0xc0000000);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_1, 4, 0x2000);
	ecam_write(f, 1, PCI_BASE_ADDRESS_2, 4, 0);
	ecam_write(f, 1, PCI_BASE_ADDRESS_3, 4, 0x10); /* 0x10_0000_0000: in the 64-bit window */
	assert_int_equal(mem_hit(f, 0xc0000000), -1);
	assert_int_equal(io_hit(f, 0x2000), -1);

	/* Memory decoding maps both memory BARs, not the I/O BAR. */
	cfg1_write(f, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_int_equal(mem_hit(f, 0xc0000000), 0xb0);
	assert_int_equal(mem_hit(f, 0xc0000fff), 0xb0);
	assert_int_equal(mem_hit(f, 0xc0001000), -1);
	assert_int_equal(mem_hit(f, 0x1000000000ULL + 0x3fff), 0xb2);
	assert_int_equal(io_hit(f, 0x2000), -1);
	assert_true(pci_device_bar_mapped(&f->a.pci, 2, &addr));
	assert_int_equal(addr, 0x1000000000ULL);
	/* The device sees offsets within its BAR. */
	{
		uint8_t d[4] = {0x78, 0x56, 0x34, 0x12};

		assert_true(bus_write(&f->mmio, 0xc0000010, d, 4));
		assert_int_equal(f->a.hits[0].writes, 1);
		assert_int_equal(f->a.hits[0].last_off, 0x10);
		assert_int_equal(f->a.hits[0].last_val, 0x12345678);
	}

	/* I/O decoding too. */
	cfg1_write(f, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	assert_int_equal(io_hit(f, 0x2000), 0xb1);
	assert_int_equal(io_hit(f, 0x201f), 0xb1);
	assert_int_equal(io_hit(f, 0x2020), -1);
	assert_int_equal(cfg1_read(f, 1, PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_IO);

	/* Memory off: memory BARs gone, I/O stays. A byte write to the command register. */
	ecam_write(f, 1, PCI_COMMAND, 1, PCI_COMMAND_IO);
	assert_int_equal(mem_hit(f, 0xc0000000), -1);
	assert_int_equal(mem_hit(f, 0x1000000000ULL), -1);
	assert_int_equal(io_hit(f, 0x2000), 0xb1);
	cfg1_write(f, 1, PCI_COMMAND, 2, 0);
	assert_int_equal(io_hit(f, 0x2000), -1);
	assert_int_equal(f->mmio.nr, 1);
	assert_int_equal(f->pio.nr, 1);
}

static void test_move(void **state)
{
	struct fx *f = *state;

	assert_int_equal(pci_add_device(&f->h, &f->a.pci), 1);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_0, 4, 0xc0000000);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_1, 4, 0x2000);
	cfg1_write(f, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	assert_int_equal(mem_hit(f, 0xc0000000), 0xb0);

	/* Moved while decoding: follows at once. */
	cfg1_write(f, 1, PCI_BASE_ADDRESS_0, 4, 0xd0000000);
	assert_int_equal(mem_hit(f, 0xc0000000), -1);
	assert_int_equal(mem_hit(f, 0xd0000000), 0xb0);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_1, 2, 0x3000);
	assert_int_equal(io_hit(f, 0x2000), -1);
	assert_int_equal(io_hit(f, 0x3000), 0xb1);

	/* Moved while not decoding: appears at the new place when enabled. */
	cfg1_write(f, 1, PCI_COMMAND, 2, 0);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_0, 4, 0xc8000000);
	assert_int_equal(mem_hit(f, 0xd0000000), -1);
	assert_int_equal(mem_hit(f, 0xc8000000), -1);
	cfg1_write(f, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_int_equal(mem_hit(f, 0xc8000000), 0xb0);

	/* A 64-bit BAR moved from the 64-bit window into the 32-bit one, half by half. */
	cfg1_write(f, 1, PCI_BASE_ADDRESS_2, 4, 0);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_3, 4, 0x10);
	assert_int_equal(mem_hit(f, 0x1000000000ULL), 0xb2);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_2, 4, 0xc0010000);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_3, 4, 0);
	assert_int_equal(mem_hit(f, 0x1000000000ULL), -1);
	assert_int_equal(mem_hit(f, 0xc0010000), 0xb2);

	/* Removing the device unmaps it. */
	pci_remove_device(&f->h, &f->a.pci);
	assert_int_equal(mem_hit(f, 0xc8000000), -1);
	assert_int_equal(mem_hit(f, 0xc0010000), -1);
	assert_int_equal(cfg1_read(f, 1, 0, 4), 0xffffffff);
}

/* The placement rule: RAM, fixed devices, outside the windows, overlaps. */
static void test_placement_rule(void **state)
{
	struct fx *f = *state;
	uint64_t errors;
	uint8_t d[4];

	assert_int_equal(pci_add_device(&f->h, &f->a.pci), 1);
	assert_int_equal(pci_add_device(&f->h, &f->b.pci), 2);
	cfg1_write(f, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);

	/* Over RAM: not mapped, reported once. */
	errors = log_guest_error_count();
	cfg1_write(f, 1, PCI_BASE_ADDRESS_0, 4, 0x00100000);
	assert_false(pci_device_bar_mapped(&f->a.pci, 0, NULL));
	assert_int_equal(mem_hit(f, 0x00100000), -1);
	assert_int_equal(log_guest_error_count(), errors + 1);
	cfg1_write(f, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	assert_int_equal(log_guest_error_count(), errors + 1);

	/* Over the ECAM, the IOAPIC, the local APIC, or straddling the window's end. */
	cfg1_write(f, 1, PCI_BASE_ADDRESS_0, 4, (uint32_t)LAYOUT_ECAM_BASE);
	assert_false(pci_device_bar_mapped(&f->a.pci, 0, NULL));
	assert_int_equal(ecam_read(f, 0, 0, 0, 0, 2), PCI_HOST_VENDOR_ID); /* ECAM untouched */
	cfg1_write(f, 1, PCI_BASE_ADDRESS_0, 4, (uint32_t)LAYOUT_IOAPIC_ADDR);
	assert_false(pci_device_bar_mapped(&f->a.pci, 0, NULL));
	cfg1_write(f, 1, PCI_BASE_ADDRESS_0, 4, (uint32_t)LAYOUT_LAPIC_ADDR);
	assert_false(pci_device_bar_mapped(&f->a.pci, 0, NULL));
	cfg1_write(f, 1, PCI_BASE_ADDRESS_0, 4, 0xfffff000);
	assert_false(pci_device_bar_mapped(&f->a.pci, 0, NULL));
	/* A 64-bit BAR over high RAM, beyond the 64-bit window, or wrapping. */
	cfg1_write(f, 1, PCI_BASE_ADDRESS_2, 4, 0);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_3, 4, 0x1);
	assert_int_equal(f->l.mmio64_base, 0x100000000ULL); /* no high RAM: window at 4 GiB */
	assert_true(pci_device_bar_mapped(&f->a.pci, 2, NULL));
	cfg1_write(f, 1, PCI_BASE_ADDRESS_3, 4, 0x11); /* just past the 64 GiB window */
	assert_false(pci_device_bar_mapped(&f->a.pci, 2, NULL));
	cfg1_write(f, 1, PCI_BASE_ADDRESS_2, 4, 0xffffc000);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_3, 4, 0xffffffff);
	assert_false(pci_device_bar_mapped(&f->a.pci, 2, NULL));
	/* I/O BARs below 0x1000 (legacy ports) or from 0xf000 up. */
	cfg1_write(f, 1, PCI_BASE_ADDRESS_1, 4, 0x3e0);
	assert_false(pci_device_bar_mapped(&f->a.pci, 1, NULL));
	cfg1_write(f, 1, PCI_BASE_ADDRESS_1, 4, 0xf000);
	assert_false(pci_device_bar_mapped(&f->a.pci, 1, NULL));
	cfg1_write(f, 1, PCI_BASE_ADDRESS_1, 4, 0xcf0);
	assert_false(pci_device_bar_mapped(&f->a.pci, 1, NULL));
	outp(f, 0xcf8, 4, 0x80000000);
	assert_int_equal(inp(f, 0xcf8, 4), 0x80000000); /* the config ports still work */
	cfg1_write(f, 1, PCI_BASE_ADDRESS_1, 4, 0xefe0);
	assert_true(pci_device_bar_mapped(&f->a.pci, 1, NULL));

	/* Moved to a valid place: mapped. */
	cfg1_write(f, 1, PCI_BASE_ADDRESS_0, 4, 0xc0000000);
	assert_int_equal(mem_hit(f, 0xc0000000), 0xb0);

	/* Device b over device a: a keeps the range, b is not mapped. */
	cfg1_write(f, 2, PCI_BASE_ADDRESS_0, 4, 0xc0000000);
	errors = log_guest_error_count();
	cfg1_write(f, 2, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_false(pci_device_bar_mapped(&f->b.pci, 0, NULL));
	assert_int_equal(log_guest_error_count(), errors + 1);
	assert_int_equal(mem_hit(f, 0xc0000000), 0xb0);
	assert_true(bus_read(&f->mmio, 0xc0000000, d, 1));
	assert_int_equal(f->b.hits[0].reads, 0);
	/* b's 64-bit BAR partly over a's BAR 0. */
	cfg1_write(f, 2, PCI_BASE_ADDRESS_2, 4, 0xbfffc000);
	cfg1_write(f, 2, PCI_BASE_ADDRESS_3, 4, 0);
	assert_false(pci_device_bar_mapped(&f->b.pci, 2, NULL)); /* below the window */
	/* A moves away: b gets the range (retried on any mapping change). */
	cfg1_write(f, 1, PCI_BASE_ADDRESS_0, 4, 0xc0100000);
	assert_true(pci_device_bar_mapped(&f->b.pci, 0, NULL));
	assert_true(pci_device_bar_mapped(&f->a.pci, 0, NULL));
	assert_int_equal(mem_hit(f, 0xc0000000), 0xb0);
	assert_true(bus_read(&f->mmio, 0xc0000000, d, 1));
	assert_int_equal(f->b.hits[0].reads, 2);
	assert_int_equal(mem_hit(f, 0xc0100000), 0xb0);

	/* Two BARs of one device swapped in one go (disable, move, enable). */
	cfg1_write(f, 1, PCI_BASE_ADDRESS_2, 4, 0xc0200000);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_3, 4, 0);
	assert_true(pci_device_bar_mapped(&f->a.pci, 2, NULL));
	cfg1_write(f, 1, PCI_COMMAND, 2, 0);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_0, 4, 0xc0200000);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_2, 4, 0xc0100000);
	cfg1_write(f, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_true(pci_device_bar_mapped(&f->a.pci, 0, NULL));
	assert_true(pci_device_bar_mapped(&f->a.pci, 2, NULL));
	/* A 16 KiB BAR at 0xc0100000 and a 4 KiB one at 0xc0200000: reads tell them apart. */
	assert_int_equal(mem_hit(f, 0xc0100000), 0xb2);
	assert_int_equal(mem_hit(f, 0xc0200000), 0xb0);

	/* I/O: b's I/O BAR over a's. */
	cfg1_write(f, 1, PCI_COMMAND, 2, PCI_COMMAND_IO);
	cfg1_write(f, 1, PCI_BASE_ADDRESS_1, 4, 0x4000);
	cfg1_write(f, 2, PCI_BASE_ADDRESS_1, 4, 0x4010); /* 32 ports: overlaps 0x4010-0x401f */
	cfg1_write(f, 2, PCI_COMMAND, 2, PCI_COMMAND_IO);
	assert_true(pci_device_bar_mapped(&f->a.pci, 1, NULL));
	/* b's BAR is 32-aligned: 0x4010 reads back as 0x4000 */
	assert_int_equal(cfg1_read(f, 2, PCI_BASE_ADDRESS_1, 4), 0x4001);
	assert_false(pci_device_bar_mapped(&f->b.pci, 1, NULL));
	/* Removing a frees the range for b. */
	pci_remove_device(&f->h, &f->a.pci);
	assert_true(pci_device_bar_mapped(&f->b.pci, 1, NULL));
	assert_int_equal(io_hit(f, 0x4000), 0xb1);
}

static void test_capabilities(void **state)
{
	struct fx *f = *state;
	uint8_t vendor_cap[8] = {PCI_CAP_ID_VNDR, 0, 8, 1, 2, 3, 4, 5};
	uint8_t pm_cap[8] = {PCI_CAP_ID_PM, 0xee, 0x03, 0x00, 0, 0, 0, 0};
	uint8_t pm_wmask[2] = {0x03, 0x00};
	uint32_t body[2] = {0x11223344, 0x55667788};
	int c1, c2, e1, e2;

	/* Fresh device: no capability bit. */
	assert_int_equal(pci_cfg_get16(&f->a.pci, PCI_STATUS) & PCI_STATUS_CAP_LIST, 0);
	c1 = pci_device_add_cap(&f->a.pci, vendor_cap, sizeof(vendor_cap));
	c2 = pci_device_add_cap(&f->a.pci, pm_cap, sizeof(pm_cap));
	assert_int_equal(c1, 0x40);
	assert_int_equal(c2, 0x48);
	pci_device_set_wmask(&f->a.pci, (unsigned)c2 + 4, pm_wmask, 2);
	e1 = pci_device_add_ext_cap(&f->a.pci, 0x000b, 1, body, sizeof(body));
	e2 = pci_device_add_ext_cap(&f->a.pci, 0x0023, 2, NULL, 0);
	assert_int_equal(e1, 0x100);
	assert_int_equal(e2, 0x10c);
	assert_int_equal(pci_device_add_cap(&f->a.pci, vendor_cap, 1), -EINVAL);
	assert_int_equal(pci_device_add_cap(&f->a.pci, vendor_cap, 200), -ENOSPC);
	assert_int_equal(pci_add_device(&f->h, &f->a.pci), 1);
	assert_int_equal(pci_device_add_cap(&f->a.pci, vendor_cap, 8), -EINVAL);

	/* Walk the list through the ports, as a guest does. */
	assert_true(cfg1_read(f, 1, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	assert_int_equal(cfg1_read(f, 1, PCI_CAPABILITY_LIST, 1), 0x40);
	assert_int_equal(cfg1_read(f, 1, 0x40, 2), 0x4809);
	assert_int_equal(cfg1_read(f, 1, 0x42, 2), 0x0108);
	assert_int_equal(cfg1_read(f, 1, 0x48, 2), 0x0001); /* next filled in: end */
	/* Capability bits are read-only unless marked writable. */
	cfg1_write(f, 1, 0x44, 4, 0xffffffff);
	assert_int_equal(cfg1_read(f, 1, 0x44, 4), 0x05040302);
	cfg1_write(f, 1, 0x4c, 2, 0xffff);
	assert_int_equal(cfg1_read(f, 1, 0x4c, 2), 0x0003);

	/* Extended capabilities: ECAM only. */
	assert_int_equal(ecam_read(f, 0, 1, 0, 0x100, 4), 0x10c1000b);
	assert_int_equal(ecam_read(f, 0, 1, 0, 0x104, 4), 0x11223344);
	assert_int_equal(ecam_read(f, 0, 1, 0, 0x108, 4), 0x55667788);
	assert_int_equal(ecam_read(f, 0, 1, 0, 0x10c, 4), 0x00020023);
	assert_int_equal(ecam_read(f, 0, 1, 0, 0xffc, 4), 0);
	ecam_write(f, 1, 0x104, 4, 0);
	assert_int_equal(ecam_read(f, 0, 1, 0, 0x104, 4), 0x11223344);
	/* The ports cannot reach it: extended-register bits 27:24 of 0xcf8 are not decoded. */
	outp(f, 0xcf8, 4, 0x81000000 | 1 << 11);
	assert_int_equal(inp(f, 0xcf8, 4), 0x80000000 | 1 << 11);
	assert_int_equal(inp(f, 0xcfc, 4), 0x10001af4); /* register 0, not 0x100 */
	/* The host bridge's extended space reads zero (present, empty). */
	assert_int_equal(ecam_read(f, 0, 0, 0, 0x100, 4), 0);
}

static void test_command_status(void **state)
{
	struct fx *f = *state;

	assert_int_equal(pci_add_device(&f->h, &f->a.pci), 1);
	/* Only the defined command bits stick. */
	cfg1_write(f, 1, PCI_COMMAND, 2, 0xffff);
	assert_int_equal(cfg1_read(f, 1, PCI_COMMAND, 2), 0x0547);
	cfg1_write(f, 1, PCI_COMMAND, 2, 0);
	/* Write-1-to-clear status bits. */
	pci_cfg_set16(&f->a.pci, PCI_STATUS, 0xf900);
	cfg1_write(f, 1, PCI_STATUS, 2, 0x2000);
	assert_int_equal(cfg1_read(f, 1, PCI_STATUS, 2), 0xd900);
	cfg1_write(f, 1, PCI_STATUS, 2, 0xffff);
	assert_int_equal(cfg1_read(f, 1, PCI_STATUS, 2), 0);
	/* A dword write to command+status: command set, status cleared. */
	pci_cfg_set16(&f->a.pci, PCI_STATUS, 0x8000);
	cfg1_write(f, 1, PCI_COMMAND, 4, 0x80000002);
	assert_int_equal(cfg1_read(f, 1, PCI_COMMAND, 4), 0x00000002);
	/* Interrupt line is writable; pin is not. */
	cfg1_write(f, 1, PCI_INTERRUPT_LINE, 2, 0x0411);
	assert_int_equal(cfg1_read(f, 1, PCI_INTERRUPT_LINE, 2), 0x0111);
	/* Unaligned data-port accesses work byte by byte: a word at 0xcfd. */
	outp(f, 0xcf8, 4, cf8_addr(0, 1, 0, PCI_CACHE_LINE_SIZE));
	outp(f, 0xcfd, 2, 0x4010); /* cache line 0x10 at 0xcfc+0 is untouched, latency 0x10 */
	assert_int_equal(inp(f, 0xcfc, 1), 0x00);
	assert_int_equal(inp(f, 0xcfd, 2), 0x0000); /* latency timer and header type: RO */
	outp(f, 0xcfc, 1, 0x10);
	assert_int_equal(inp(f, 0xcfc, 2), 0x0010);
	/* A word straddling the address and data ports reaches neither. */
	assert_int_equal(inp(f, 0xcfb, 2), 0xffff);
	/* ECAM: unaligned word and an 8-byte access. */
	assert_int_equal(ecam_read(f, 0, 1, 0, 1, 2), 0x001a);
	{
		uint8_t d[8];

		assert_true(bus_read(&f->mmio, ecam_addr(0, 1, 0, 0), d, 8));
		assert_int_equal(get(d, 4), 0x10001af4);
		assert_int_equal(get(d + 4, 4), cfg1_read(f, 1, 4, 4));
	}
}

static void test_config_hooks(void **state)
{
	struct fx *f = *state;

	assert_int_equal(pci_add_device(&f->h, &f->a.pci), 1);
	cfg1_read(f, 1, 0, 4);
	assert_int_equal(f->a.cfg_reads, 1);
	ecam_write(f, 1, 0x44, 2, 0xabcd);
	assert_int_equal(f->a.cfg_writes, 1);
	assert_int_equal(f->a.last_wr_off, 0x44);
	assert_int_equal(f->a.last_wr_len, 2);
	/* Nothing reaches the device for absent functions. */
	ecam_read(f, 0, 1, 2, 0, 4);
	ecam_write(f, 1, PCI_CFG_SIZE - 4, 4, 0);
	assert_int_equal(f->a.cfg_reads, 1);
	assert_int_equal(f->a.cfg_writes, 2);
}

static void test_intx(void **state)
{
	struct fx *f = *state;
	struct pci_device c;
	struct bar_ctx cc = {&f->a, 0};

	/* Pin A of slot N is GSI 16 + N % 8; the others follow the swizzle. */
	assert_int_equal(pci_slot_gsi(0, 0), 16);
	assert_int_equal(pci_slot_gsi(1, 0), 17);
	assert_int_equal(pci_slot_gsi(7, 0), 23);
	assert_int_equal(pci_slot_gsi(8, 0), 16);
	assert_int_equal(pci_slot_gsi(1, 3), 20);
	assert_int_equal(pci_slot_gsi(31, 3), 18);

	assert_int_equal(pci_add_device_at(&f->h, &f->a.pci, 1), 1);
	assert_int_equal(pci_add_device_at(&f->h, &f->b.pci, 9), 9); /* shares GSI 17 */
	pci_device_set_irq(&f->a.pci, 1);
	assert_int_equal(f->level[17], 1);
	assert_true(cfg1_read(f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	assert_false(cfg1_read(f, 9, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* The status bit is read-only. */
	cfg1_write(f, 1, PCI_STATUS, 2, 0xffff);
	assert_true(cfg1_read(f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);

	/* Shared line: high while either asserts; only the OR reaches the irqchip. */
	f->irq_calls = 0;
	pci_device_set_irq(&f->b.pci, 1);
	assert_int_equal(f->level[17], 1);
	pci_device_set_irq(&f->a.pci, 0);
	assert_int_equal(f->level[17], 1);
	assert_int_equal(f->irq_calls, 0);
	pci_device_set_irq(&f->b.pci, 0);
	assert_int_equal(f->level[17], 0);
	/* Repeated levels do not reach the irqchip twice. */
	f->irq_calls = 0;
	pci_device_set_irq(&f->a.pci, 0);
	pci_device_set_irq(&f->a.pci, 1);
	pci_device_set_irq(&f->a.pci, 1);
	assert_int_equal(f->irq_calls, 1);

	/* INTx disable masks the line but not the status bit. */
	cfg1_write(f, 1, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(f->level[17], 0);
	assert_true(cfg1_read(f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	pci_device_set_irq(&f->a.pci, 0);
	pci_device_set_irq(&f->a.pci, 1);
	assert_int_equal(f->level[17], 0);
	cfg1_write(f, 1, PCI_COMMAND, 2, 0);
	assert_int_equal(f->level[17], 1);

	/* Removing an asserting device releases the line. */
	pci_remove_device(&f->h, &f->a.pci);
	assert_int_equal(f->level[17], 0);

	/* A device without an interrupt pin never drives anything. */
	pci_device_init(&c, "nopin", 1, 2, 0, 0, NULL, NULL);
	assert_int_equal(pci_device_set_bar(&c, 0, PCI_BAR_MEM32, 4096, false, &bar_ops, &cc), 0);
	assert_int_equal(pci_add_device_at(&f->h, &c, 2), 2);
	f->irq_calls = 0;
	pci_device_set_irq(&c, 1);
	assert_int_equal(f->irq_calls, 0);
	pci_remove_device(&f->h, &c);
}

static void test_assign_resources(void **state)
{
	struct fx *f = *state;
	uint64_t a0, a1, a2, b0, b1, b2;

	assert_int_equal(pci_add_device(&f->h, &f->a.pci), 1);
	assert_int_equal(pci_add_device(&f->h, &f->b.pci), 2);
	assert_int_equal(pci_host_assign_resources(&f->h), 0);
	a0 = pci_device_bar_address(&f->a.pci, 0);
	a1 = pci_device_bar_address(&f->a.pci, 1);
	a2 = pci_device_bar_address(&f->a.pci, 2);
	b0 = pci_device_bar_address(&f->b.pci, 0);
	b1 = pci_device_bar_address(&f->b.pci, 1);
	b2 = pci_device_bar_address(&f->b.pci, 2);
	assert_int_equal(a0, LAYOUT_MMIO32_START);
	assert_int_equal(b0, LAYOUT_MMIO32_START + 4096);
	assert_int_equal(a1, PCI_IO_WINDOW_START);
	assert_int_equal(b1, PCI_IO_WINDOW_START + 32);
	assert_int_equal(a2, f->l.mmio64_base);
	assert_int_equal(b2, f->l.mmio64_base + 16384);
	/* Decoding on, everything mapped, interrupt line = GSI. */
	assert_int_equal(cfg1_read(f, 1, PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	assert_int_equal(cfg1_read(f, 1, PCI_INTERRUPT_LINE, 1), 17);
	assert_int_equal(cfg1_read(f, 2, PCI_INTERRUPT_LINE, 1), 18);
	assert_int_equal(mem_hit(f, a0), 0xb0);
	assert_int_equal(io_hit(f, b1 + 31), 0xb1);
	assert_int_equal(mem_hit(f, b2 + 16383), 0xb2);
	/* Already assigned BARs are left alone. */
	assert_int_equal(pci_host_assign_resources(&f->h), 0);
	assert_int_equal(pci_device_bar_address(&f->a.pci, 0), a0);
}

static void test_assign_no_room(void **state)
{
	struct fx *f = *state;
	struct pci_device big[3];
	struct bar_ctx c = {&f->a, 0};

	/* Three 256 MiB 32-bit BARs do not fit the 512 MiB window. */
	for (int i = 0; i < 3; i++) {
		pci_device_init(&big[i], "big", 1, 2, 0, 0, NULL, NULL);
		assert_int_equal(
		    pci_device_set_bar(&big[i], 0, PCI_BAR_MEM32, 256 * MiB_, false, &bar_ops, &c),
		    0);
		assert_true(pci_add_device(&f->h, &big[i]) > 0);
	}
	assert_int_equal(pci_host_assign_resources(&f->h), -ENOSPC);
	assert_int_equal(pci_device_bar_address(&big[0], 0), 0xc0000000);
	assert_int_equal(pci_device_bar_address(&big[1], 0), 0xd0000000);
	assert_int_equal(pci_device_bar_address(&big[2], 0), 0);
	assert_false(pci_device_bar_mapped(&big[2], 0, NULL));
	for (int i = 0; i < 3; i++)
		pci_remove_device(&f->h, &big[i]);
}

/* The config ports must not clash with a separately registered 0xcf9. */
static void test_ranges_taken(void **state)
{
	struct bus pio, mmio;
	struct machine_layout l;
	struct pci_host h;
	struct cf9_reset cf9;
	char err[64];

	(void)state;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	cf9_reset_init(&cf9, NULL, NULL);
	assert_int_equal(layout_compute(&l, 256 * MiB_, 1, 40, err, sizeof(err)), 0);
	assert_int_equal(bus_register(&pio, LAYOUT_PORT_RESET, 1, &cf9_reset_bus_ops, &cf9), 0);
	assert_int_equal(pci_host_init(&h, &pio, &mmio, &l, (struct irq_line){0}, &cf9), -EEXIST);
	assert_int_equal(mmio.nr, 0); /* the ECAM was rolled back */
	pci_host_destroy(&h);	      /* harmless after a failed init */
	bus_unregister(&pio, LAYOUT_PORT_RESET);
	/* Without a reset register, 0xcf9 reads all ones. */
	assert_int_equal(pci_host_init(&h, &pio, &mmio, &l, (struct irq_line){0}, NULL), 0);
	{
		uint8_t d = 0;

		bus_read(&pio, 0xcf9, &d, 1);
		assert_int_equal(d, 0xff);
		d = 6;
		bus_write(&pio, 0xcf9, &d, 1);
	}
	pci_host_destroy(&h);
	cf9_reset_destroy(&cf9);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

/* ---- ACPI ----------------------------------------------------------------------------- */

/* The hex value on the line of dsl that follows `after` and ends with "// label". */
static uint64_t dsl_value(const char *dsl, const char *after, const char *label)
{
	const char *p = strstr(dsl, after), *l, *line;

	if (!p)
		fail_msg("no '%s' in the disassembly", after);
	l = strstr(p, label);
	if (!l)
		fail_msg("no '%s' after '%s'", label, after);
	for (line = l; line > p && line[-1] != '\n'; line--)
		;
	return strtoull(line + strspn(line, " "), NULL, 16);
}

static void build_tables(const struct machine_layout *l, uint8_t **buf, const uint8_t **dsdt,
			 const uint8_t **mcfg)
{
	struct acpi_options o;
	uint64_t rsdp;
	int n;

	memset(&o, 0, sizeof(o));
	pci_acpi_options(&o, l);
	*buf = malloc(LAYOUT_ACPI_END - LAYOUT_ACPI_START);
	assert_non_null(*buf);
	n = acpi_build_ext(l, &o, *buf, LAYOUT_ACPI_END - LAYOUT_ACPI_START, LAYOUT_ACPI_START,
			   &rsdp);
	assert_true(n > 0);
	*dsdt = *mcfg = NULL;
	for (int i = 0; i + 8 <= n; i += 4) {
		if (!memcmp(*buf + i, "DSDT", 4))
			*dsdt = *buf + i;
		if (!memcmp(*buf + i, "MCFG", 4))
			*mcfg = *buf + i;
	}
	assert_non_null(*dsdt);
	assert_non_null(*mcfg);
}

static void check_acpi(const struct machine_layout *l)
{
	char tmpl[] = "/tmp/hearth-pci-XXXXXX", out[16384];
	const uint8_t *dsdt, *mcfg;
	uint8_t *buf;
	const char *dir, *prt;
	char *dsl, *aml, want[128];
	size_t dsl_len, aml_len, len;
	int rc;

	build_tables(l, &buf, &dsdt, &mcfg);
	/* MCFG: the ECAM, segment 0, buses 0-255. */
	assert_int_equal(get(mcfg + 4, 4), 60);
	assert_int_equal(get(mcfg + 44, 4) | (uint64_t)get(mcfg + 48, 4) << 32, LAYOUT_ECAM_BASE);
	assert_int_equal(get(mcfg + 52, 2), 0);
	assert_int_equal(mcfg[54], 0);
	assert_int_equal(mcfg[55], 255);

	if (!iasl_path()) {
		free(buf);
		print_message("skipped: iasl not found on PATH (install acpica-tools)\n");
		skip();
		return;
	}
	dir = mkdtemp(tmpl);
	assert_non_null(dir);
	len = get(dsdt + 4, 4);
	assert_int_equal(iasl_write(dir, "dsdt.dat", dsdt, len), 0);
	rc = iasl_run(dir, (const char *const[]){"-d", "dsdt.dat", NULL}, out, sizeof(out));
	if (rc != 0 || strstr(out, "Error") || strstr(out, "Warning"))
		fail_msg("iasl -d: status %d\n%s", rc, out);
	dsl = iasl_read(dir, "dsdt.dsl", &dsl_len);
	assert_non_null(dsl);
	if (strstr(dsl, "Incorrect") || strstr(dsl, "**** "))
		fail_msg("iasl complains:\n%s", dsl);

	/* The device and its identity. */
	assert_non_null(strstr(dsl, "Device (PCI0)"));
	assert_non_null(strstr(dsl, "Name (_HID, EisaId (\"PNP0A08\")"));
	assert_non_null(strstr(dsl, "Name (_CID, EisaId (\"PNP0A03\")"));
	assert_non_null(strstr(dsl, "Name (_SEG, Zero)"));
	assert_non_null(strstr(dsl, "Name (_BBN, Zero)"));
	assert_non_null(strstr(dsl, "Name (_UID, Zero)"));

	/* _CRS windows, read back from the disassembly, match the layout. */
	assert_int_equal(dsl_value(dsl, "WordBusNumber (ResourceProducer", "// Range Minimum"), 0);
	assert_int_equal(dsl_value(dsl, "WordBusNumber (ResourceProducer", "// Range Maximum"),
			 255);
	assert_int_equal(dsl_value(dsl, "IO (Decode16,\n                    0x0CF8", "// Length"),
			 8);
	assert_int_equal(dsl_value(dsl, "DWordIO (ResourceProducer", "// Range Minimum"),
			 PCI_IO_WINDOW_START);
	assert_int_equal(dsl_value(dsl, "DWordIO (ResourceProducer", "// Range Maximum"),
			 PCI_IO_WINDOW_END - 1);
	assert_int_equal(dsl_value(dsl, "DWordMemory (ResourceProducer", "// Range Minimum"),
			 LAYOUT_MMIO32_START);
	assert_int_equal(dsl_value(dsl, "DWordMemory (ResourceProducer", "// Length"),
			 LAYOUT_MMIO32_SIZE);
	if (l->mmio64_size) {
		assert_int_equal(
		    dsl_value(dsl, "QWordMemory (ResourceProducer", "// Range Minimum"),
		    l->mmio64_base);
		assert_int_equal(dsl_value(dsl, "QWordMemory (ResourceProducer", "// Length"),
				 l->mmio64_size);
	} else {
		assert_null(strstr(dsl, "QWordMemory"));
	}
	/* The ECAM reserved as a motherboard resource. */
	assert_non_null(strstr(dsl, "EisaId (\"PNP0C02\")"));
	assert_int_equal(dsl_value(dsl, "DWordMemory (ResourceConsumer", "// Range Minimum"),
			 LAYOUT_ECAM_BASE);
	assert_int_equal(dsl_value(dsl, "DWordMemory (ResourceConsumer", "// Length"),
			 LAYOUT_ECAM_SIZE);

	/* _PRT: 128 entries; each slot's pins to the swizzled GSIs. */
	prt = strstr(dsl, "Name (_PRT, Package (0x80)");
	assert_non_null(prt);
	for (unsigned slot = 0; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			static const char *const pins[] = {"Zero", "One", "0x02", "0x03"};

			snprintf(want, sizeof(want),
				 "0x%04X%s, \n                    %s, \n                    Zero, "
				 "\n                    0x%02X\n",
				 slot, slot ? "FFFF" : "", pins[pin], pci_slot_gsi(slot, pin));
			if (slot == 0)
				snprintf(want, sizeof(want),
					 "0xFFFF, \n                    %s, \n                    "
					 "Zero, \n                    0x%02X\n",
					 pins[pin], pci_slot_gsi(slot, pin));
			if (!strstr(prt, want))
				fail_msg("_PRT lacks slot %u pin %u -> GSI %u", slot, pin,
					 pci_slot_gsi(slot, pin));
		}
	}

	/* Compile it again: the same bytes. */
	rc = iasl_run(dir, (const char *const[]){"-oa", "-p", "again", "dsdt.dsl", NULL}, out,
		      sizeof(out));
	if (rc != 0)
		fail_msg("iasl could not compile the disassembly:\n%s", out);
	aml = iasl_read(dir, "again.aml", &aml_len);
	assert_non_null(aml);
	assert_int_equal(aml_len, len);
	assert_memory_equal(aml + ACPI_HEADER_SIZE, dsdt + ACPI_HEADER_SIZE,
			    len - ACPI_HEADER_SIZE);
	free(aml);
	free(dsl);
	iasl_rm_tree(dir);
	free(buf);
}

static void test_acpi(void **state)
{
	struct machine_layout l;
	char err[128];

	(void)state;
	/* Small guest: the 64-bit window at 4 GiB. */
	assert_int_equal(layout_compute(&l, 512 * MiB_, 2, 40, err, sizeof(err)), 0);
	check_acpi(&l);
	/* Memory above 4 GiB moves the 64-bit window up. */
	assert_int_equal(layout_compute(&l, 6 * 1024 * MiB_, 4, 40, err, sizeof(err)), 0);
	assert_true(l.mmio64_base > LAYOUT_4G + l.high_ram_size - 1);
	check_acpi(&l);
	/* A hook with no layout fails cleanly. */
	{
		struct aml a;

		aml_init(&a);
		assert_int_equal(pci_acpi_dsdt_hook(&a, NULL), -EINVAL);
		aml_free(&a);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_host_bridge, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_absent, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_config_address, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_bar_sizing, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_bar_declaration_errors, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_decoding, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_move, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_placement_rule, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_capabilities, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_command_status, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_config_hooks, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_intx, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_assign_resources, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_assign_no_room, fx_setup, fx_teardown),
	    cmocka_unit_test(test_ranges_taken),
	    cmocka_unit_test(test_acpi),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
