// SPDX-License-Identifier: MIT
/* Unit tests for the AML builder (src/arch/x86/aml.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
// cmocka must come after the headers above
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "iasl_util.h"

/* Assert that the builder holds exactly the expected bytes. */
#define assert_aml(a, ...)                                                                         \
	do {                                                                                       \
		const uint8_t exp_[] = {__VA_ARGS__};                                              \
		assert_int_equal(aml_error(a), 0);                                                 \
		assert_int_equal((a)->len, sizeof(exp_));                                          \
		assert_memory_equal((a)->buf, exp_, sizeof(exp_));                                 \
	} while (0)

/* An independent PkgLength decoder: returns the encoded total, sets *nbytes. */
static size_t decode_pkglen(const uint8_t *p, int *nbytes)
{
	int follow = p[0] >> 6, i;
	size_t v;

	*nbytes = follow + 1;
	if (follow == 0)
		return p[0] & 0x3f;
	v = p[0] & 0x0f;
	for (i = 1; i <= follow; i++)
		v |= (size_t)p[i] << (4 + 8 * (i - 1));
	return v;
}

static void check_pkglen(size_t body, int want_bytes)
{
	uint8_t out[4] = {0};
	int n, dn;

	n = aml_pkglen_encode(body, out);
	assert_int_equal(n, want_bytes);
	assert_int_equal(decode_pkglen(out, &dn), body + (size_t)n);
	assert_int_equal(dn, n);
	if (n > 1)
		assert_int_equal(out[0] & 0x30, 0); /* reserved bits */
}

static void test_pkglen_boundaries(void **state)
{
	uint8_t out[4];

	(void)state;
	check_pkglen(0, 1);
	check_pkglen(62, 1); /* total 63: largest one-byte value */
	check_pkglen(63, 2); /* total 65 */
	check_pkglen(0xffd, 2);
	check_pkglen(0xffe, 3); /* 0xffe + 2 = 0x1000 does not fit two bytes */
	check_pkglen(0xffffc, 3);
	check_pkglen(0xffffd, 4);
	check_pkglen(0xffffffb, 4);
	assert_int_equal(aml_pkglen_encode(0xffffffc, out), -ERANGE);

	/* Exact bytes at the first boundary. */
	assert_int_equal(aml_pkglen_encode(62, out), 1);
	assert_int_equal(out[0], 0x3f);
	assert_int_equal(aml_pkglen_encode(63, out), 2);
	assert_int_equal(out[0], 0x41); /* 65 = 0x41: one more byte, low nibble 1 */
	assert_int_equal(out[1], 0x04);
	assert_int_equal(aml_pkglen_encode(0xffffd, out), 4);
	assert_int_equal(out[0], 0xc0 | 0x1); /* total 0x100001 */
	assert_int_equal(out[1], 0x00);
	assert_int_equal(out[2], 0x00);
	assert_int_equal(out[3], 0x01);
}

/* A Package whose body crosses the one-byte PkgLength boundary. */
static void test_package_lengths(void **state)
{
	struct aml a;
	size_t m;
	unsigned i;
	int n;

	(void)state;
	/* NumElements byte + 61 One ops = body 62: one-byte PkgLength 63. */
	aml_init(&a);
	m = aml_package_begin(&a, 61);
	for (i = 0; i < 61; i++)
		aml_integer(&a, 1);
	aml_end(&a, m);
	assert_int_equal(aml_error(&a), 0);
	assert_int_equal(a.len, 1 + 1 + 62);
	assert_int_equal(a.buf[0], 0x12);
	assert_int_equal(a.buf[1], 63);
	assert_int_equal(a.buf[2], 61);
	aml_free(&a);

	/* One element more: two-byte PkgLength, the body moves by one. */
	aml_init(&a);
	m = aml_package_begin(&a, 62);
	for (i = 0; i < 62; i++)
		aml_integer(&a, 1);
	aml_end(&a, m);
	assert_int_equal(aml_error(&a), 0);
	assert_int_equal(a.len, 1 + 2 + 63);
	assert_int_equal(decode_pkglen(a.buf + 1, &n), 65);
	assert_int_equal(n, 2);
	assert_int_equal(a.buf[3], 62);
	assert_int_equal(a.buf[a.len - 1], 0x01);
	aml_free(&a);

	/* Too many elements for PackageOp. */
	aml_init(&a);
	aml_package_begin(&a, 256);
	assert_int_equal(aml_error(&a), -ERANGE);
	aml_free(&a);
}

static void test_integers(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, 2);
	aml_integer(&a, 0xff);
	assert_aml(&a, 0x00, 0x01, 0x0a, 0x02, 0x0a, 0xff);
	aml_free(&a);

	aml_init(&a);
	aml_integer(&a, 0x100);
	aml_integer(&a, 0xffff);
	assert_aml(&a, 0x0b, 0x00, 0x01, 0x0b, 0xff, 0xff);
	aml_free(&a);

	aml_init(&a);
	aml_integer(&a, 0x10000);
	aml_integer(&a, 0xffffffff);
	assert_aml(&a, 0x0c, 0x00, 0x00, 0x01, 0x00, 0x0c, 0xff, 0xff, 0xff, 0xff);
	aml_free(&a);

	aml_init(&a);
	aml_integer(&a, 0x100000000ULL);
	aml_integer(&a, 0x0123456789abcdefULL);
	assert_aml(&a, 0x0e, 0, 0, 0, 0, 1, 0, 0, 0, 0x0e, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23,
		   0x01);
	aml_free(&a);
}

static void test_eisaid(void **state)
{
	uint32_t v = 0;
	struct aml a;

	(void)state;
	assert_int_equal(aml_eisaid_encode("PNP0501", &v), 0);
	assert_int_equal(v, 0x0105d041);
	assert_int_equal(aml_eisaid_encode("PNP0303", &v), 0);
	assert_int_equal(v, 0x0303d041);
	assert_int_equal(aml_eisaid_encode("PNP0B00", &v), 0);
	assert_int_equal(v, 0x000bd041);
	assert_int_equal(aml_eisaid_encode("PNP0A08", &v), 0);
	assert_int_equal(v, 0x080ad041);
	assert_int_equal(aml_eisaid_encode("PNP0a08", &v), 0); /* hex digits in either case */
	assert_int_equal(v, 0x080ad041);

	assert_int_equal(aml_eisaid_encode("pnp0501", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode("PNP050", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode("PNP05011", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode("PNP05G1", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode("P1P0501", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode(NULL, &v), -EINVAL);

	aml_init(&a);
	aml_eisaid(&a, "PNP0501");
	assert_aml(&a, 0x0c, 0x41, 0xd0, 0x05, 0x01);
	aml_free(&a);
}

static void test_names(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_name_string(&a, "_SB");
	assert_aml(&a, '_', 'S', 'B', '_');
	aml_free(&a);

	aml_init(&a);
	aml_name_string(&a, "\\_SB.PCI0");
	assert_aml(&a, 0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0');
	aml_free(&a);

	aml_init(&a);
	aml_name_string(&a, "\\_SB.PCI0.S08");
	assert_aml(&a, 0x5c, 0x2f, 3, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'S', '0', '8', '_');
	aml_free(&a);

	aml_init(&a);
	aml_name_string(&a, "^^A");
	assert_aml(&a, 0x5e, 0x5e, 'A', '_', '_', '_');
	aml_free(&a);

	aml_init(&a);
	aml_name_string(&a, "");
	aml_name_string(&a, "\\");
	assert_aml(&a, 0x00, 0x5c, 0x00);
	aml_free(&a);

	static const char *const bad[] = {"1ABC", "ABCDE", "com1", "A..B",
					  "A.",	  ".A",	   "A-B",  "\\^A"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a);
		aml_name_string(&a, bad[i]);
		assert_int_equal(aml_error(&a), -EINVAL);
		aml_free(&a);
	}
}

static void test_sticky_error(void **state)
{
	struct aml a;
	size_t len;

	(void)state;
	aml_init(&a);
	aml_integer(&a, 5);
	aml_name_string(&a, "bad");
	assert_int_equal(aml_error(&a), -EINVAL);
	len = a.len;
	aml_integer(&a, 7);
	aml_string(&a, "x");
	aml_irq_noflags(&a, 3);
	assert_int_equal(a.len, len); /* nothing appended after the error */
	assert_int_equal(aml_error(&a), -EINVAL);
	aml_free(&a);
	assert_int_equal(aml_error(&a), 0);
	assert_null(a.buf);
}

static void test_strings_and_objects(void **state)
{
	struct aml a;
	size_t m;

	(void)state;
	aml_init(&a);
	aml_string(&a, "ACPI0007");
	assert_aml(&a, 0x0d, 'A', 'C', 'P', 'I', '0', '0', '0', '7', 0x00);
	aml_free(&a);

	aml_init(&a);
	aml_string(&a, "\xc3\xa9");
	assert_int_equal(aml_error(&a), -EINVAL);
	aml_free(&a);

	/* Device (COM1) { Name (_UID, One) } */
	aml_init(&a);
	m = aml_device_begin(&a, "COM1");
	aml_name_integer(&a, "_UID", 1);
	aml_end(&a, m);
	assert_aml(&a, 0x5b, 0x82, 0x0b, 'C', 'O', 'M', '1', 0x08, '_', 'U', 'I', 'D', 0x01);
	aml_free(&a);

	/* Method (_STA, 0, NotSerialized) { Return (0x0F) } */
	aml_init(&a);
	aml_method_return_integer(&a, "_STA", 0x0f);
	assert_aml(&a, 0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f);
	aml_free(&a);

	/* Method (FOO, 2, Serialized) {} */
	aml_init(&a);
	m = aml_method_begin(&a, "FOO", 2, true);
	aml_end(&a, m);
	assert_aml(&a, 0x14, 0x06, 'F', 'O', 'O', '_', 0x0a);
	aml_free(&a);

	/* Scope (\_SB) { Name (X, Package (2) { One, "A" }) } */
	aml_init(&a);
	m = aml_scope_begin(&a, "\\_SB");
	aml_name_decl(&a, "X");
	{
		size_t p = aml_package_begin(&a, 2);

		aml_integer(&a, 1);
		aml_string(&a, "A");
		aml_end(&a, p);
	}
	aml_end(&a, m);
	assert_aml(&a, 0x10, 0x12, 0x5c, '_', 'S', 'B', '_', 0x08, 'X', '_', '_', '_', 0x12, 0x06,
		   0x02, 0x01, 0x0d, 'A', 0x00);
	aml_free(&a);
}

static void test_resource_template(void **state)
{
	struct aml a;
	size_t m;

	(void)state;
	/* ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 1, 8) IRQNoFlags () {4} } */
	aml_init(&a);
	m = aml_resource_template_begin(&a);
	aml_io_port(&a, 0x3f8, 8);
	aml_irq_noflags(&a, 4);
	aml_resource_template_end(&a, m);
	assert_aml(&a, 0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x22,
		   0x10, 0x00, 0x79, 0x00);
	aml_free(&a);

	/* A 300-byte buffer: WordConst size and a two-byte PkgLength. */
	aml_init(&a);
	m = aml_buffer_begin(&a);
	aml_zeros(&a, 300);
	aml_buffer_end(&a, m);
	assert_int_equal(aml_error(&a), 0);
	{
		int n;

		assert_int_equal(a.buf[0], 0x11);
		assert_int_equal(decode_pkglen(a.buf + 1, &n), 2 + 3 + 300);
		assert_int_equal(n, 2);
		assert_int_equal(a.buf[3], 0x0b);
		assert_int_equal(a.buf[4] | a.buf[5] << 8, 300);
		assert_int_equal(a.len, 1 + 2 + 3 + 300);
	}
	aml_free(&a);
}

static void test_descriptors(void **state)
{
	static const uint32_t irqs[] = {5};
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_interrupt(&a, true, false, false, false, irqs, 1);
	assert_aml(&a, 0x89, 0x06, 0x00, 0x01, 0x01, 0x05, 0x00, 0x00, 0x00);
	aml_free(&a);

	aml_init(&a);
	aml_interrupt(&a, true, true, true, true, irqs, 1);
	assert_aml(&a, 0x89, 0x06, 0x00, 0x0f, 0x01, 0x05, 0x00, 0x00, 0x00);
	aml_free(&a);

	aml_init(&a);
	aml_word_bus_number(&a, 0, 0xff);
	assert_aml(&a, 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00,
		   0x00, 0x00, 0x01);
	aml_free(&a);

	aml_init(&a);
	aml_dword_io(&a, 0x1000, 0xffff);
	assert_aml(&a, 0x87, 0x17, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0, 0, 0x00, 0x10, 0, 0, 0xff, 0xff,
		   0, 0, 0, 0, 0, 0, 0x00, 0xf0, 0, 0);
	aml_free(&a);

	aml_init(&a);
	aml_dword_memory(&a, 0xc0000000, 0xdfffffff, false);
	assert_aml(&a, 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff,
		   0xff, 0xdf, 0, 0, 0, 0, 0, 0, 0, 0x20);
	aml_free(&a);

	aml_init(&a);
	aml_qword_memory(&a, 0x8000000000ULL, 0x8fffffffffULL, true);
	assert_aml(&a, 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, /* granularity */
		   0, 0, 0, 0, 0x80, 0, 0, 0,					   /* min */
		   0xff, 0xff, 0xff, 0xff, 0x8f, 0, 0, 0,			   /* max */
		   0, 0, 0, 0, 0, 0, 0, 0,					   /* translation */
		   0, 0, 0, 0, 0x10, 0, 0, 0);					   /* length */
	aml_free(&a);

	/* Out-of-range arguments. */
	aml_init(&a);
	aml_irq_noflags(&a, 16);
	assert_int_equal(aml_error(&a), -ERANGE);
	aml_free(&a);

	aml_init(&a);
	aml_io(&a, true, 0x100, 0xff, 1, 1);
	assert_int_equal(aml_error(&a), -ERANGE);
	aml_free(&a);

	aml_init(&a);
	aml_word_bus_number(&a, 5, 4);
	assert_int_not_equal(aml_error(&a), 0);
	aml_free(&a);

	aml_init(&a);
	aml_interrupt(&a, true, true, false, false, irqs, 0);
	assert_int_equal(aml_error(&a), -ERANGE);
	aml_free(&a);

	aml_init(&a);
	{
		struct aml_addr_space s = {.type = AML_AS_MEMORY, .min = 0, .max = 0x10000};

		aml_word_space(&a, &s);
		assert_int_equal(aml_error(&a), -ERANGE);
	}
	aml_free(&a);

	aml_init(&a);
	aml_method_begin(&a, "M", 8, false);
	assert_int_equal(aml_error(&a), -ERANGE);
	aml_free(&a);
}

/* Wrap AML in a DSDT header with a correct checksum. */
static void make_dsdt(struct aml *dsdt, const struct aml *body)
{
	aml_init(dsdt);
	aml_raw(dsdt, "DSDT", 4);
	aml_u32(dsdt, (uint32_t)(ACPI_HEADER_SIZE + body->len));
	aml_u8(dsdt, 2);
	aml_u8(dsdt, 0);
	aml_raw(dsdt, "HEARTHTESTAML", 6 + 8);
	aml_u32(dsdt, 1);
	aml_raw(dsdt, "TEST", 4);
	aml_u32(dsdt, 1);
	aml_raw(dsdt, body->buf, body->len);
	assert_int_equal(aml_error(dsdt), 0);
	dsdt->buf[9] = (uint8_t)-acpi_checksum(dsdt->buf, dsdt->len);
}

/*
 * Every construct the builder makes, checked by ACPICA: disassembled
 * without complaint into the expected ASL, and compiled back (without
 * optimizations) into the very same bytes.
 */
static void test_iasl_roundtrip(void **state)
{
	static const uint32_t irqs[] = {16, 17, 18};
	static const char *const expect[] = {
	    "Scope (\\_SB)",
	    "Device (PCI0)",
	    "EisaId (\"PNP0A08\")",
	    "EisaId (\"PNP0A03\")",
	    "Name (_UID, 0x1234)",
	    "Name (BIG, 0x0000000123456789)",
	    "Method (_STA, 0, NotSerialized)",
	    "Return (0x0F)",
	    "Method (SER, 3, Serialized)",
	    "Name (_S5, Package (0x04)",
	    "Name (STR, \"hello\")",
	    "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,",
	    "DWordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,",
	    "DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, "
	    "ReadWrite,",
	    "QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Prefetchable, "
	    "ReadWrite,",
	    "Interrupt (ResourceConsumer, Level, ActiveHigh, Shared, ,, )",
	    "Interrupt (ResourceConsumer, Edge, ActiveLow, Exclusive, ,, )",
	    "IRQNoFlags ()",
	    "{4}",
	    "IO (Decode16,",
	    "0x0CF8,             // Range Minimum",
	    "\\_SB.PCI0.SUB.DEEP",
	};
	char tmpl[] = "/tmp/hearth-aml-XXXXXX";
	struct aml body, dsdt;
	char out[16384];
	char *dsl, *aml2;
	size_t dsl_len, aml2_len, m, dev, crs, pkg;
	const char *dir;
	unsigned i;
	int rc;

	(void)state;
	if (!iasl_path()) {
		print_message("skipped: iasl not found on PATH (install acpica-tools)\n");
		skip();
		return;
	}

	aml_init(&body);
	aml_name_decl(&body, "_S5");
	pkg = aml_package_begin(&body, 4);
	aml_integer(&body, 5);
	aml_integer(&body, 5);
	aml_integer(&body, 0);
	aml_integer(&body, 0);
	aml_end(&body, pkg);
	aml_name_str(&body, "STR", "hello");
	aml_name_integer(&body, "BIG", 0x123456789ULL);
	m = aml_scope_begin(&body, "\\_SB");
	dev = aml_device_begin(&body, "PCI0");
	aml_name_eisaid(&body, "_HID", "PNP0A08");
	aml_name_eisaid(&body, "_CID", "PNP0A03");
	aml_name_integer(&body, "_UID", 0x1234);
	aml_method_return_integer(&body, "_STA", 0x0f);
	{
		size_t meth = aml_method_begin(&body, "SER", 3, true);

		aml_return_integer(&body, 0x10000);
		aml_end(&body, meth);
	}
	aml_name_decl(&body, "_CRS");
	crs = aml_resource_template_begin(&body);
	aml_word_bus_number(&body, 0, 0xff);
	aml_io(&body, true, 0xcf8, 0xcf8, 1, 8);
	aml_dword_io(&body, 0x0d00, 0xffff);
	aml_dword_memory(&body, 0xc0000000, 0xdfffffff, false);
	aml_qword_memory(&body, 0x8000000000ULL, 0x8fffffffffULL, true);
	aml_interrupt(&body, true, false, false, true, irqs, 3);
	aml_interrupt(&body, true, true, true, false, irqs, 1);
	aml_irq_noflags(&body, 4);
	aml_resource_template_end(&body, crs);
	{
		size_t sub = aml_device_begin(&body, "SUB");
		size_t deep = aml_device_begin(&body, "DEEP");

		/* enough content to need multi-byte PkgLengths further out */
		for (i = 0; i < 40; i++) {
			char name[5] = {'N', (char)('A' + i / 26), (char)('A' + i % 26), 0, 0};

			aml_name_integer(&body, name, i * 1000);
		}
		aml_end(&body, deep);
		aml_end(&body, sub);
	}
	aml_end(&body, dev);
	aml_end(&body, m);
	/* A multi-segment reference back into the tree. */
	m = aml_scope_begin(&body, "\\_SB.PCI0.SUB.DEEP");
	aml_name_integer(&body, "LAST", 2);
	aml_end(&body, m);
	assert_int_equal(aml_error(&body), 0);
	make_dsdt(&dsdt, &body);

	dir = mkdtemp(tmpl);
	assert_non_null(dir);
	assert_int_equal(iasl_write(dir, "dsdt.dat", dsdt.buf, dsdt.len), 0);

	rc = iasl_run(dir, (const char *const[]){"-d", "dsdt.dat", NULL}, out, sizeof(out));
	assert_int_equal(rc, 0);
	assert_null(strstr(out, "Error"));
	assert_null(strstr(out, "Warning"));
	assert_null(strstr(out, "Incorrect"));
	dsl = iasl_read(dir, "dsdt.dsl", &dsl_len);
	assert_non_null(dsl);
	for (i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		if (!strstr(dsl, expect[i]))
			fail_msg("disassembly lacks '%s':\n%s", expect[i], dsl);
	}
	assert_null(strstr(dsl, "Incorrect"));

	/* -oa: no optimizations, so the output must equal our bytes. */
	rc = iasl_run(dir, (const char *const[]){"-oa", "-p", "again", "dsdt.dsl", NULL}, out,
		      sizeof(out));
	if (rc != 0)
		fail_msg("iasl failed to compile the disassembly:\n%s", out);
	aml2 = iasl_read(dir, "again.aml", &aml2_len);
	assert_non_null(aml2);
	assert_int_equal(aml2_len, dsdt.len);
	assert_memory_equal(aml2 + ACPI_HEADER_SIZE, dsdt.buf + ACPI_HEADER_SIZE,
			    dsdt.len - ACPI_HEADER_SIZE);

	free(aml2);
	free(dsl);
	iasl_rm_tree(dir);
	aml_free(&dsdt);
	aml_free(&body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pkglen_boundaries),
	    cmocka_unit_test(test_package_lengths),
	    cmocka_unit_test(test_integers),
	    cmocka_unit_test(test_eisaid),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_sticky_error),
	    cmocka_unit_test(test_strings_and_objects),
	    cmocka_unit_test(test_resource_template),
	    cmocka_unit_test(test_descriptors),
	    cmocka_unit_test(test_iasl_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
