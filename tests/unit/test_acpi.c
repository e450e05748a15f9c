// SPDX-License-Identifier: MIT
/* Unit tests for the ACPI tables (src/arch/x86/acpi.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
// cmocka must come after the headers above
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "iasl_util.h"

#define BASE	   LAYOUT_ACPI_START
#define REGION_LEN (LAYOUT_ACPI_END - LAYOUT_ACPI_START)

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* The machine layout the tests use; filled by hand. */
static struct machine_layout layout_for(unsigned ncpus)
{
	struct machine_layout l;

	memset(&l, 0, sizeof(l));
	l.ram_size = 512 * 1024 * 1024ULL;
	l.ncpus = ncpus;
	l.low_ram_end = l.ram_size;
	l.phys_bits = 40;
	return l;
}

struct built {
	uint8_t *buf;
	int len;
	uint64_t rsdp_gpa;
	const uint8_t *rsdp, *xsdt, *rsdt, *fadt, *facs, *dsdt, *madt, *mcfg;
};

/* Translate a guest address inside the tables into a pointer, checking bounds. */
static const uint8_t *at(const struct built *b, uint64_t gpa, size_t len)
{
	assert_true(gpa >= BASE);
	assert_true(gpa - BASE + len <= (uint64_t)b->len);
	return b->buf + (gpa - BASE);
}

/* Check a table's header and checksum and return it. */
static const uint8_t *table(const struct built *b, uint64_t gpa, const char *sig)
{
	const uint8_t *t = at(b, gpa, ACPI_HEADER_SIZE);
	uint32_t len = rd32(t + 4);

	if (memcmp(t, sig, 4) != 0)
		fail_msg("expected %s, found %.4s", sig, (const char *)t);
	assert_true(len >= ACPI_HEADER_SIZE);
	at(b, gpa, len);
	assert_int_equal(acpi_checksum(t, len), 0);
	assert_memory_equal(t + 10, "HEARTH", 6);
	return t;
}

/* Build and find every table through the pointers, as a guest would. */
static void build(struct built *b, unsigned ncpus, const struct acpi_options *opts)
{
	struct machine_layout l = layout_for(ncpus);
	uint32_t n, i;

	memset(b, 0, sizeof(*b));
	b->buf = malloc(REGION_LEN);
	assert_non_null(b->buf);
	b->len = acpi_build_ext(&l, opts, b->buf, REGION_LEN, BASE, &b->rsdp_gpa);
	assert_true(b->len > 0);
	assert_true(b->len <= (int)REGION_LEN);
	assert_int_equal(b->rsdp_gpa, BASE); /* at the start, where guests scan */

	b->rsdp = at(b, b->rsdp_gpa, ACPI_RSDP_SIZE);
	assert_memory_equal(b->rsdp, "RSD PTR ", 8);
	assert_int_equal(acpi_checksum(b->rsdp, 20), 0);
	assert_int_equal(acpi_checksum(b->rsdp, ACPI_RSDP_SIZE), 0);
	assert_memory_equal(b->rsdp + 9, "HEARTH", 6);
	assert_int_equal(b->rsdp[15], 2);
	assert_int_equal(rd32(b->rsdp + 20), ACPI_RSDP_SIZE);

	b->xsdt = table(b, rd64(b->rsdp + 24), "XSDT");
	b->rsdt = table(b, rd32(b->rsdp + 16), "RSDT");
	n = (rd32(b->xsdt + 4) - ACPI_HEADER_SIZE) / 8;
	assert_int_equal(rd32(b->xsdt + 4), ACPI_HEADER_SIZE + 8 * n);
	assert_int_equal(rd32(b->rsdt + 4), ACPI_HEADER_SIZE + 4 * n);
	for (i = 0; i < n; i++) {
		uint64_t gpa = rd64(b->xsdt + ACPI_HEADER_SIZE + 8 * i);
		const uint8_t *t = at(b, gpa, ACPI_HEADER_SIZE);

		/* The RSDT lists the same tables in the same order. */
		assert_int_equal(rd32(b->rsdt + ACPI_HEADER_SIZE + 4 * i), gpa);
		if (!memcmp(t, "FACP", 4)) {
			assert_null(b->fadt);
			b->fadt = table(b, gpa, "FACP");
		} else if (!memcmp(t, "APIC", 4)) {
			assert_null(b->madt);
			b->madt = table(b, gpa, "APIC");
		} else if (!memcmp(t, "MCFG", 4)) {
			assert_null(b->mcfg);
			b->mcfg = table(b, gpa, "MCFG");
		} else {
			fail_msg("unexpected table %.4s in the XSDT", (const char *)t);
		}
	}
	assert_non_null(b->fadt);
	assert_non_null(b->madt);
	assert_true(opts && opts->mcfg ? b->mcfg != NULL : b->mcfg == NULL);

	b->dsdt = table(b, rd64(b->fadt + 140), "DSDT");
	b->facs = at(b, rd64(b->fadt + 132), ACPI_FACS_SIZE);
	assert_memory_equal(b->facs, "FACS", 4);
	assert_int_equal(rd32(b->facs + 4), ACPI_FACS_SIZE);
}

static void unbuild(struct built *b)
{
	free(b->buf);
}

static void test_fadt(void **state)
{
	struct built b;
	const uint8_t *f;
	uint32_t flags;
	uint16_t boot;

	(void)state;
	build(&b, 2, NULL);
	f = b.fadt;
	assert_int_equal(rd32(f + 4), 276);
	assert_int_equal(f[8], 6);   /* revision */
	assert_int_equal(f[131], 3); /* minor: ACPI 6.3 */

	/* 32-bit and 64-bit pointers agree; the FACS is 64-byte aligned. */
	assert_int_equal(rd32(f + 36), rd64(f + 132));
	assert_int_equal(rd32(f + 40), rd64(f + 140));
	assert_int_equal(rd64(f + 132) % 64, 0);

	assert_int_equal(rd16(f + 46), LAYOUT_GSI_SCI);
	assert_int_equal(rd32(f + 48), 0); /* SMI_CMD: always in ACPI mode */
	assert_int_equal(rd32(f + 56), LAYOUT_PORT_PM1A_EVT);
	assert_int_equal(rd32(f + 60), 0);
	assert_int_equal(rd32(f + 64), LAYOUT_PORT_PM1A_CNT);
	assert_int_equal(rd32(f + 68), 0);
	assert_int_equal(rd32(f + 76), 0); /* no PM timer */
	assert_int_equal(f[88], 4);	   /* PM1_EVT_LEN */
	assert_int_equal(f[89], 2);	   /* PM1_CNT_LEN */
	assert_int_equal(f[91], 0);	   /* PM_TMR_LEN */

	assert_int_equal(f[108], 0x32); /* CENTURY: the RTC's century register */

	boot = rd16(f + 109);
	assert_true(boot & (1u << 0));	/* legacy devices */
	assert_true(boot & (1u << 1));	/* 8042 */
	assert_true(boot & (1u << 2));	/* VGA not present */
	assert_false(boot & (1u << 3)); /* MSI not supported: clear */
	assert_false(boot & (1u << 5)); /* CMOS RTC not present: clear */

	flags = rd32(f + 112);
	assert_true(flags & (1u << 0));	  /* WBINVD */
	assert_false(flags & (1u << 4));  /* PWR_BUTTON clear: fixed-feature power button */
	assert_true(flags & (1u << 5));	  /* SLP_BUTTON: no sleep button */
	assert_true(flags & (1u << 10));  /* RESET_REG_SUP */
	assert_false(flags & (1u << 20)); /* not HW_REDUCED_ACPI */

	/* RESET_REG: SystemIO, 8 bits, byte access, port 0xcf9; value 6. */
	assert_int_equal(f[116], 1);
	assert_int_equal(f[117], 8);
	assert_int_equal(f[118], 0);
	assert_int_equal(f[119], 1);
	assert_int_equal(rd64(f + 120), LAYOUT_PORT_RESET);
	assert_int_equal(f[128], 0x06);

	/* X_PM1a_EVT_BLK and X_PM1a_CNT_BLK. */
	assert_int_equal(f[148], 1);
	assert_int_equal(f[149], 32);
	assert_int_equal(rd64(f + 152), LAYOUT_PORT_PM1A_EVT);
	assert_int_equal(f[172], 1);
	assert_int_equal(f[173], 16);
	assert_int_equal(rd64(f + 176), LAYOUT_PORT_PM1A_CNT);
	assert_int_equal(rd64(f + 208 + 4), 0); /* X_PM_TMR_BLK */

	assert_int_equal(b.facs[32], 2); /* FACS version */
	unbuild(&b);
}

static void check_madt(unsigned ncpus)
{
	struct built b;
	const uint8_t *m, *e, *end;
	unsigned lapics = 0, ioapics = 0, nmis = 0;
	bool irq0 = false, sci = false;

	build(&b, ncpus, NULL);
	m = b.madt;
	assert_int_equal(m[8], 5);
	assert_int_equal(rd32(m + 36), LAYOUT_LAPIC_ADDR);
	assert_int_equal(rd32(m + 40) & 1, 1); /* PCAT_COMPAT */
	end = m + rd32(m + 4);
	for (e = m + 44; e < end; e += e[1]) {
		assert_true(e + 2 <= end);
		assert_true(e[1] >= 2);
		assert_true(e + e[1] <= end);
		switch (e[0]) {
		case 0: /* Processor Local APIC */
			assert_int_equal(e[1], 8);
			assert_int_equal(e[2], lapics); /* UID */
			assert_int_equal(e[3], lapics); /* APIC id */
			assert_int_equal(rd32(e + 4), 1);
			lapics++;
			break;
		case 1:
			assert_int_equal(e[1], 12);
			assert_int_equal(e[2], 0);
			assert_int_equal(rd32(e + 4), LAYOUT_IOAPIC_ADDR);
			assert_int_equal(rd32(e + 8), 0);
			ioapics++;
			break;
		case 2:
			assert_int_equal(e[1], 10);
			assert_int_equal(e[2], 0);
			if (e[3] == 0) {
				assert_int_equal(rd32(e + 4), 2);
				assert_int_equal(rd16(e + 8), 0);
				irq0 = true;
			} else if (e[3] == 9) {
				assert_int_equal(rd32(e + 4), 9);
				assert_int_equal(rd16(e + 8), 0x000d); /* level, active high */
				sci = true;
			} else {
				fail_msg("unexpected override for IRQ %u", e[3]);
			}
			break;
		case 4:
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xff);
			assert_int_equal(e[5], 1); /* LINT1 */
			nmis++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
	}
	assert_ptr_equal(e, end);
	assert_int_equal(lapics, ncpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(nmis, 1);
	assert_true(irq0);
	assert_true(sci);
	unbuild(&b);
}

static void test_madt(void **state)
{
	(void)state;
	check_madt(1);
	check_madt(2);
	check_madt(4);
	check_madt(LAYOUT_MAX_CPUS);
}

/*
 * A small AML reader for the subset the DSDT uses: it walks Scope, Device,
 * Method, Name and data objects, checks every PkgLength nests exactly, and
 * records each Name with its full path.
 */
enum obj_kind { OBJ_INT, OBJ_STR, OBJ_PKG, OBJ_BUF, OBJ_METHOD };

struct obj {
	char path[64];
	enum obj_kind kind;
	uint64_t ival;
	const uint8_t *data; /* string, buffer bytes, package body */
	size_t len;
	unsigned nelems;
};

struct walker {
	struct obj objs[2048];
	unsigned n;
};

static size_t pkglen(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *start = *p;
	int follow, i;
	size_t v;

	assert_true(*p < end);
	follow = **p >> 6;
	assert_true(*p + 1 + follow <= end);
	if (!follow) {
		v = **p & 0x3f;
	} else {
		assert_int_equal(**p & 0x30, 0);
		v = **p & 0x0f;
		for (i = 1; i <= follow; i++)
			v |= (size_t)(*p)[i] << (4 + 8 * (i - 1));
	}
	*p += 1 + follow;
	assert_true(start + v <= end); /* the package ends inside its parent */
	return v - (size_t)(1 + follow);
}

/* Parse a NameString and resolve it against scope into out (dotted, "\A.B"). */
static void name_string(const uint8_t **p, const uint8_t *end, const char *scope, char *out,
			size_t outlen)
{
	char path[64];
	unsigned nseg, i;

	if (**p == '\\') {
		snprintf(path, sizeof(path), "\\");
		(*p)++;
	} else {
		snprintf(path, sizeof(path), "%s", scope);
		while (**p == '^') {
			char *dot = strrchr(path, '.');

			assert_non_null(dot);
			*dot = '\0';
			(*p)++;
		}
	}
	if (**p == 0x2e) {
		nseg = 2;
		(*p)++;
	} else if (**p == 0x2f) {
		nseg = (*p)[1];
		*p += 2;
	} else if (**p == 0) {
		nseg = 0;
		(*p)++;
	} else {
		nseg = 1;
	}
	assert_true(*p + 4 * nseg <= end);
	for (i = 0; i < nseg; i++) {
		size_t l = strlen(path);

		snprintf(path + l, sizeof(path) - l, "%s%.4s", l > 1 ? "." : "", (const char *)*p);
		*p += 4;
	}
	snprintf(out, outlen, "%s", path);
}

static void data_object(const uint8_t **p, const uint8_t *end, struct obj *o);

static uint64_t integer(const uint8_t **p, const uint8_t *end)
{
	struct obj o;

	data_object(p, end, &o);
	assert_int_equal(o.kind, OBJ_INT);
	return o.ival;
}

static void data_object(const uint8_t **p, const uint8_t *end, struct obj *o)
{
	const uint8_t *q = *p, *body_end;
	size_t width = 0, i, len;
	uint8_t op;

	assert_true(q < end);
	op = *q++;
	o->kind = OBJ_INT;
	o->ival = 0;
	switch (op) {
	case 0x00:
		break;
	case 0x01:
		o->ival = 1;
		break;
	case 0x0a:
		width = 1;
		break;
	case 0x0b:
		width = 2;
		break;
	case 0x0c:
		width = 4;
		break;
	case 0x0e:
		width = 8;
		break;
	case 0x0d:
		o->kind = OBJ_STR;
		o->data = q;
		while (q < end && *q)
			q++;
		assert_true(q < end);
		o->len = (size_t)(q - o->data);
		q++;
		break;
	case 0x12: /* Package */
		len = pkglen(&q, end);
		body_end = q + len;
		o->kind = OBJ_PKG;
		o->nelems = *q++;
		o->data = q;
		o->len = (size_t)(body_end - q);
		for (i = 0; i < o->nelems; i++) {
			struct obj el;

			data_object(&q, body_end, &el);
		}
		assert_ptr_equal(q, body_end);
		break;
	case 0x11: /* Buffer */
		len = pkglen(&q, end);
		body_end = q + len;
		o->kind = OBJ_BUF;
		o->len = integer(&q, body_end);
		o->data = q;
		assert_ptr_equal(q + o->len, body_end);
		q = body_end;
		break;
	default:
		fail_msg("unexpected data object opcode 0x%02x", op);
	}
	if (width) {
		assert_true(q + width <= end);
		for (i = 0; i < width; i++)
			o->ival |= (uint64_t)q[i] << (8 * i);
		q += width;
	}
	*p = q;
}

static struct obj *add_obj(struct walker *w, const char *path)
{
	struct obj *o;

	assert_true(w->n < sizeof(w->objs) / sizeof(w->objs[0]));
	o = &w->objs[w->n++];
	memset(o, 0, sizeof(*o));
	snprintf(o->path, sizeof(o->path), "%s", path);
	return o;
}

static void term_list(struct walker *w, const uint8_t *p, const uint8_t *end, const char *scope)
{
	char path[64];

	while (p < end) {
		const uint8_t *body_end;
		struct obj *o;
		size_t len;

		if (p[0] == 0x08) { /* Name */
			p++;
			name_string(&p, end, scope, path, sizeof(path));
			o = add_obj(w, path);
			data_object(&p, end, o);
		} else if (p[0] == 0x10 || (p[0] == 0x5b && p + 1 < end && p[1] == 0x82)) {
			p += p[0] == 0x10 ? 1 : 2; /* Scope or Device */
			len = pkglen(&p, end);
			body_end = p + len;
			name_string(&p, body_end, scope, path, sizeof(path));
			term_list(w, p, body_end, path);
			p = body_end;
		} else if (p[0] == 0x14) { /* Method: recorded, body skipped */
			p++;
			len = pkglen(&p, end);
			body_end = p + len;
			name_string(&p, body_end, scope, path, sizeof(path));
			o = add_obj(w, path);
			o->kind = OBJ_METHOD;
			o->data = p + 1; /* after MethodFlags */
			o->len = (size_t)(body_end - o->data);
			p = body_end;
		} else {
			fail_msg("unexpected opcode 0x%02x in a term list", p[0]);
		}
	}
	assert_ptr_equal(p, end);
}

static const struct obj *find(const struct walker *w, const char *path)
{
	unsigned i;

	for (i = 0; i < w->n; i++)
		if (!strcmp(w->objs[i].path, path))
			return &w->objs[i];
	return NULL;
}

static const struct obj *find_kind(const struct walker *w, const char *path, enum obj_kind kind)
{
	static const struct obj none = {.kind = OBJ_METHOD};
	const struct obj *o = find(w, path);

	if (!o) {
		fail_msg("DSDT has no %s", path);
		return &none; /* not reached */
	}
	assert_int_equal(o->kind, kind);
	return o;
}

static void check_eisaid(const struct walker *w, const char *path, const char *id)
{
	uint32_t v;

	assert_int_equal(aml_eisaid_encode(id, &v), 0);
	assert_int_equal(find_kind(w, path, OBJ_INT)->ival, v);
}

static bool contains(const struct obj *o, const uint8_t *needle, size_t n)
{
	size_t i;

	for (i = 0; i + n <= o->len; i++)
		if (!memcmp(o->data + i, needle, n))
			return true;
	return false;
}

static void walk_dsdt(struct walker *w, const struct built *b)
{
	memset(w, 0, sizeof(*w));
	assert_int_equal(b->dsdt[8], 2);
	term_list(w, b->dsdt + ACPI_HEADER_SIZE, b->dsdt + rd32(b->dsdt + 4), "\\");
}

static void check_dsdt(unsigned ncpus)
{
	static const uint8_t com1_io[] = {0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08};
	static const uint8_t com1_irq[] = {0x22, 0x10, 0x00};
	static const uint8_t kbd_io1[] = {0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01};
	static const uint8_t kbd_io2[] = {0x47, 0x01, 0x64, 0x00, 0x64, 0x00, 0x01, 0x01};
	static const uint8_t kbd_irq[] = {0x22, 0x02, 0x00};
	static const uint8_t rtc_io[] = {0x47, 0x01, 0x70, 0x00, 0x70, 0x00, 0x01, 0x02};
	static const uint8_t rtc_irq[] = {0x22, 0x00, 0x01};
	static const uint8_t s5[] = {0x0a, LAYOUT_SLP_TYP_S5, 0x0a, LAYOUT_SLP_TYP_S5};
	struct walker *w = malloc(sizeof(*w));
	const struct obj *o;
	unsigned i, procs = 0;
	struct built b;
	char path[64];

	assert_non_null(w);
	build(&b, ncpus, NULL);
	walk_dsdt(w, &b);

	o = find_kind(w, "\\_S5_", OBJ_PKG);
	assert_true(o->nelems >= 2);
	assert_true(o->len >= sizeof(s5));
	assert_memory_equal(o->data, s5, sizeof(s5)); /* SLP_TYPa, SLP_TYPb */

	check_eisaid(w, "\\_SB_.COM1._HID", "PNP0501");
	o = find_kind(w, "\\_SB_.COM1._CRS", OBJ_BUF);
	assert_true(contains(o, com1_io, sizeof(com1_io)));
	assert_true(contains(o, com1_irq, sizeof(com1_irq)));

	check_eisaid(w, "\\_SB_.PS2K._HID", "PNP0303");
	o = find_kind(w, "\\_SB_.PS2K._CRS", OBJ_BUF);
	assert_true(contains(o, kbd_io1, sizeof(kbd_io1)));
	assert_true(contains(o, kbd_io2, sizeof(kbd_io2)));
	assert_true(contains(o, kbd_irq, sizeof(kbd_irq)));

	check_eisaid(w, "\\_SB_.RTC_._HID", "PNP0B00");
	o = find_kind(w, "\\_SB_.RTC_._CRS", OBJ_BUF);
	assert_true(contains(o, rtc_io, sizeof(rtc_io)));
	assert_true(contains(o, rtc_irq, sizeof(rtc_irq)));

	/* One ACPI0007 device per vCPU, _UID = MADT processor UID = index. */
	for (i = 0; i < w->n; i++) {
		const char *hid = strstr(w->objs[i].path, "._HID");

		if (hid && w->objs[i].kind == OBJ_STR && w->objs[i].len == 8 &&
		    !memcmp(w->objs[i].data, "ACPI0007", 8))
			procs++;
	}
	assert_int_equal(procs, ncpus);
	for (i = 0; i < ncpus; i++) {
		snprintf(path, sizeof(path), "\\_SB_.C%03X._UID", i);
		assert_int_equal(find_kind(w, path, OBJ_INT)->ival, i);
		snprintf(path, sizeof(path), "\\_SB_.C%03X._HID", i);
		o = find_kind(w, path, OBJ_STR);
		assert_memory_equal(o->data, "ACPI0007", 8);
	}
	snprintf(path, sizeof(path), "\\_SB_.C%03X._UID", ncpus);
	assert_null(find(w, path));

	unbuild(&b);
	free(w);
}

static void test_dsdt(void **state)
{
	(void)state;
	check_dsdt(1);
	check_dsdt(2);
	check_dsdt(4);
	check_dsdt(LAYOUT_MAX_CPUS);
}

static int pci_hook(struct aml *a, void *opaque)
{
	size_t dev = aml_device_begin(a, "PCI0");
	size_t crs;

	(*(int *)opaque)++;
	aml_name_eisaid(a, "_HID", "PNP0A08");
	aml_name_eisaid(a, "_CID", "PNP0A03");
	aml_name_decl(a, "_CRS");
	crs = aml_resource_template_begin(a);
	aml_word_bus_number(a, 0, 0xff);
	aml_dword_memory(a, (uint32_t)LAYOUT_MMIO32_START,
			 (uint32_t)(LAYOUT_MMIO32_START + LAYOUT_MMIO32_SIZE - 1), false);
	aml_resource_template_end(a, crs);
	aml_end(a, dev);
	return 0;
}

static int failing_hook(struct aml *a, void *opaque)
{
	(void)a;
	(void)opaque;
	return -E2BIG;
}

static void test_extensions(void **state)
{
	int calls = 0;
	struct acpi_options opts = {
	    .dsdt_sb_hook = pci_hook,
	    .opaque = &calls,
	    .mcfg = true,
	    .ecam_base = LAYOUT_ECAM_BASE,
	    .ecam_bus_start = 0,
	    .ecam_bus_end = 255,
	};
	struct machine_layout l = layout_for(2);
	struct walker *w = malloc(sizeof(*w));
	uint8_t *buf = malloc(REGION_LEN);
	struct built b;
	uint64_t rsdp;

	(void)state;
	assert_non_null(w);
	assert_non_null(buf);
	build(&b, 2, &opts);
	assert_int_equal(calls, 1);
	assert_int_equal(rd32(b.mcfg + 4), 60);
	assert_int_equal(rd64(b.mcfg + 44), LAYOUT_ECAM_BASE);
	assert_int_equal(rd16(b.mcfg + 52), 0);
	assert_int_equal(b.mcfg[54], 0);
	assert_int_equal(b.mcfg[55], 255);
	walk_dsdt(w, &b);
	check_eisaid(w, "\\_SB_.PCI0._HID", "PNP0A08");
	check_eisaid(w, "\\_SB_.COM1._HID", "PNP0501");
	unbuild(&b);

	opts.dsdt_sb_hook = failing_hook;
	assert_int_equal(acpi_build_ext(&l, &opts, buf, REGION_LEN, BASE, &rsdp), -E2BIG);
	opts.dsdt_sb_hook = NULL;
	opts.ecam_bus_start = 8;
	opts.ecam_bus_end = 7;
	assert_int_equal(acpi_build_ext(&l, &opts, buf, REGION_LEN, BASE, &rsdp), -EINVAL);
	free(buf);
	free(w);
}

static void test_invalid(void **state)
{
	struct machine_layout l;
	uint8_t *buf = malloc(REGION_LEN);
	uint64_t rsdp;

	(void)state;
	assert_non_null(buf);
	l = layout_for(0);
	assert_int_equal(acpi_build(&l, buf, REGION_LEN, BASE, &rsdp), -EINVAL);
	l = layout_for(LAYOUT_MAX_CPUS + 1);
	assert_int_equal(acpi_build(&l, buf, REGION_LEN, BASE, &rsdp), -EINVAL);
	l = layout_for(1);
	assert_int_equal(acpi_build(&l, buf, REGION_LEN, BASE + 8, &rsdp), -EINVAL);
	assert_int_equal(acpi_build(&l, buf, REGION_LEN, LAYOUT_4G, &rsdp), -EINVAL);
	assert_int_equal(acpi_build(&l, buf, REGION_LEN, LAYOUT_4G - 0x100, &rsdp), -EINVAL);
	assert_int_equal(acpi_build(NULL, buf, REGION_LEN, BASE, &rsdp), -EINVAL);
	free(buf);
}

/* The largest machine fits the reserved region; the build is deterministic. */
static void test_max_cpus_fit(void **state)
{
	struct machine_layout l = layout_for(LAYOUT_MAX_CPUS);
	uint8_t *a = malloc(REGION_LEN), *b = malloc(REGION_LEN);
	uint64_t rsdp;
	int n1, n2;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	n1 = acpi_build(&l, a, REGION_LEN, BASE, &rsdp);
	n2 = acpi_build(&l, b, REGION_LEN, BASE, &rsdp);
	assert_true(n1 > 0);
	assert_int_equal(n1, n2);
	assert_memory_equal(a, b, (size_t)n1);
	/* Leave the region plenty of room for later additions. */
	assert_true((size_t)n1 < REGION_LEN / 4);
	print_message("254 vCPUs: %d bytes of ACPI tables\n", n1);
	free(a);
	free(b);
}

/*
 * One too-small capacity: -ENOSPC, and not a byte written. The first
 * buffer has exactly cap bytes, so ASan catches a write past it; the
 * second has guard bytes after it, which catch one without ASan.
 */
static void check_enospc(const struct machine_layout *l, size_t cap)
{
	const size_t guard = 64;
	uint64_t rsdp = 0x1234;
	uint8_t *exact = malloc(cap ? cap : 1);
	uint8_t *guarded = malloc(cap + guard);
	size_t i;

	assert_non_null(exact);
	assert_non_null(guarded);
	memset(exact, 0xa5, cap);
	memset(guarded, 0x5a, cap + guard);
	assert_int_equal(acpi_build(l, exact, cap, BASE, &rsdp), -ENOSPC);
	assert_int_equal(acpi_build(l, guarded, cap, BASE, &rsdp), -ENOSPC);
	for (i = 0; i < cap; i++)
		assert_int_equal(exact[i], 0xa5);
	for (i = 0; i < cap + guard; i++)
		assert_int_equal(guarded[i], 0x5a);
	assert_int_equal(rsdp, 0x1234);
	free(exact);
	free(guarded);
}

static void test_enospc(void **state)
{
	static const unsigned cpus[] = {1, 4, LAYOUT_MAX_CPUS};
	unsigned c;

	(void)state;
	for (c = 0; c < sizeof(cpus) / sizeof(cpus[0]); c++) {
		struct machine_layout l = layout_for(cpus[c]);
		uint8_t *buf = malloc(REGION_LEN);
		uint64_t rsdp = 0;
		size_t need, cap, step;
		int n;

		assert_non_null(buf);
		n = acpi_build(&l, buf, REGION_LEN, BASE, &rsdp);
		assert_true(n > 0);
		need = (size_t)n;
		free(buf);

		/* every size for small machines, a sample for the largest */
		step = cpus[c] > 8 ? 97 : 1;
		for (cap = 0; cap < need; cap += step)
			check_enospc(&l, cap);
		check_enospc(&l, need - 1);

		/* The exact size works, in a buffer of exactly that size. */
		buf = malloc(need);
		assert_non_null(buf);
		assert_int_equal(acpi_build(&l, buf, need, BASE, &rsdp), (int)need);
		assert_int_equal(rsdp, BASE);
		free(buf);
	}
}

/* Write each table, disassemble it with iasl, compile it again, compare. */
static void iasl_check_table(const char *dir, const char *name, const uint8_t *t, size_t len,
			     const char *const *expect)
{
	char file[64], dslname[64], prefix[64], amlname[80], out[16384];
	size_t dsl_len, aml_len;
	char *dsl, *aml;
	int rc;

	snprintf(file, sizeof(file), "%s.dat", name);
	snprintf(dslname, sizeof(dslname), "%s.dsl", name);
	snprintf(prefix, sizeof(prefix), "%s2", name);
	snprintf(amlname, sizeof(amlname), "%s.aml", prefix);
	assert_int_equal(iasl_write(dir, file, t, len), 0);
	rc = iasl_run(dir, (const char *const[]){"-d", file, NULL}, out, sizeof(out));
	if (rc != 0 || strstr(out, "Error") || strstr(out, "Warning") || strstr(out, "Incorrect"))
		fail_msg("iasl -d %s: status %d\n%s", file, rc, out);
	dsl = iasl_read(dir, dslname, &dsl_len);
	assert_non_null(dsl);
	if (strstr(dsl, "Incorrect") || strstr(dsl, "**** "))
		fail_msg("iasl complains about %s:\n%s", name, dsl);
	for (; expect && *expect; expect++) {
		if (!strstr(dsl, *expect))
			fail_msg("%s disassembly lacks '%s':\n%s", name, *expect, dsl);
	}

	/* Compile the disassembly again (-oa: exactly as written); -p X writes X.aml. */
	rc = iasl_run(dir, (const char *const[]){"-oa", "-p", prefix, dslname, NULL}, out,
		      sizeof(out));
	if (rc != 0)
		fail_msg("iasl could not compile %s back:\n%s", dslname, out);
	aml = iasl_read(dir, amlname, &aml_len);
	assert_non_null(aml);
	assert_int_equal(aml_len, len);
	/* Equal but for the checksum and the compiler id/revision iasl puts in. */
	assert_memory_equal(aml, t, 9);
	assert_memory_equal(aml + 10, t + 10, 18);
	if (len > ACPI_HEADER_SIZE)
		assert_memory_equal(aml + ACPI_HEADER_SIZE, t + ACPI_HEADER_SIZE,
				    len - ACPI_HEADER_SIZE);
	free(aml);
	free(dsl);
}

static void test_iasl(void **state)
{
	static const char *const dsdt_expect[] = {
	    "Name (_S5, Package (0x04)",
	    "0x05",
	    "Scope (\\_SB)",
	    "Device (COM1)",
	    "EisaId (\"PNP0501\")",
	    "0x03F8,             // Range Minimum",
	    "{4}",
	    "Device (PS2K)",
	    "EisaId (\"PNP0303\")",
	    "{1}",
	    "Device (RTC)",
	    "EisaId (\"PNP0B00\")",
	    "{8}",
	    "Device (C000)",
	    "Device (C003)",
	    "Name (_HID, \"ACPI0007\"",
	    "Device (PCI0)",
	    "EisaId (\"PNP0A08\")",
	    NULL,
	};
	static const char *const fadt_expect[] = {
	    "Revision : 06",
	    "SCI Interrupt : 0009",
	    "PM1A Event Block Address : 00000600",
	    "PM1A Control Block Address : 00000604",
	    "Address : 0000000000000CF9",
	    "Value to cause reset : 06",
	    "Reset Register Supported (V2) : 1",
	    "Hardware Reduced (V5) : 0",
	    "FADT Minor Revision : 03",
	    "RTC Century Index : 32",
	    NULL,
	};
	static const char *const madt_expect[] = {
	    "Local Apic Address : FEE00000",
	    "Processor Local APIC",
	    "I/O Apic ID : 00",
	    "Address : FEC00000",
	    "Interrupt Source Override",
	    "Local APIC NMI",
	    "Interrupt Input LINT : 01",
	    NULL,
	};
	static const char *const mcfg_expect[] = {"Base Address : 00000000E0000000", NULL};
	char tmpl[] = "/tmp/hearth-acpi-XXXXXX";
	int calls = 0;
	struct acpi_options opts = {
	    .dsdt_sb_hook = pci_hook,
	    .opaque = &calls,
	    .mcfg = true,
	    .ecam_base = LAYOUT_ECAM_BASE,
	    .ecam_bus_end = 255,
	};
	const char *dir;
	struct built b;

	(void)state;
	if (!iasl_path()) {
		print_message("skipped: iasl not found on PATH (install acpica-tools)\n");
		skip();
		return;
	}
	build(&b, 4, &opts);
	dir = mkdtemp(tmpl);
	assert_non_null(dir);
	iasl_check_table(dir, "dsdt", b.dsdt, rd32(b.dsdt + 4), dsdt_expect);
	iasl_check_table(dir, "facp", b.fadt, rd32(b.fadt + 4), fadt_expect);
	iasl_check_table(dir, "apic", b.madt, rd32(b.madt + 4), madt_expect);
	iasl_check_table(dir, "mcfg", b.mcfg, rd32(b.mcfg + 4), mcfg_expect);
	iasl_check_table(dir, "facs", b.facs, ACPI_FACS_SIZE, NULL);
	iasl_check_table(dir, "xsdt", b.xsdt, rd32(b.xsdt + 4), NULL);
	iasl_check_table(dir, "rsdt", b.rsdt, rd32(b.rsdt + 4), NULL);
	iasl_rm_tree(dir);
	unbuild(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fadt),    cmocka_unit_test(test_madt),
	    cmocka_unit_test(test_dsdt),    cmocka_unit_test(test_extensions),
	    cmocka_unit_test(test_invalid), cmocka_unit_test(test_max_cpus_fit),
	    cmocka_unit_test(test_enospc),  cmocka_unit_test(test_iasl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
