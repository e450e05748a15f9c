// SPDX-License-Identifier: MIT
/* AML byte-code builder (see aml.h). */
#include "arch/x86/aml.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Opcodes and prefixes (ACPI 6.x, 20.2 "AML Grammar Definition"). */
#define AML_ZERO_OP	      0x00
#define AML_ONE_OP	      0x01
#define AML_NAME_OP	      0x08
#define AML_BYTE_PREFIX	      0x0a
#define AML_WORD_PREFIX	      0x0b
#define AML_DWORD_PREFIX      0x0c
#define AML_STRING_PREFIX     0x0d
#define AML_QWORD_PREFIX      0x0e
#define AML_SCOPE_OP	      0x10
#define AML_BUFFER_OP	      0x11
#define AML_PACKAGE_OP	      0x12
#define AML_METHOD_OP	      0x14
#define AML_DUAL_NAME_PREFIX  0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX     0x5b
#define AML_EXT_DEVICE_OP     0x82
#define AML_ROOT_CHAR	      0x5c
#define AML_PARENT_CHAR	      0x5e
#define AML_RETURN_OP	      0xa4

/* Resource descriptor tags (ACPI 6.x, 6.4 "Resource Data Types"). */
#define RES_IRQ_NOFLAGS 0x22 /* small item 0x04, length 2 */
#define RES_IO		0x47 /* small item 0x08, length 7 */
#define RES_END_TAG	0x79 /* small item 0x0f, length 1 */
#define RES_DWORD_SPACE 0x87
#define RES_WORD_SPACE	0x88
#define RES_EXT_IRQ	0x89
#define RES_QWORD_SPACE 0x8a

/* At most this many segments in one NameString (MultiNamePrefix count is a byte). */
#define MAX_NAME_SEGS 255

void aml_init(struct aml *a)
{
	a->buf = NULL;
	a->len = 0;
	a->cap = 0;
	a->err = 0;
}

void aml_free(struct aml *a)
{
	free(a->buf);
	aml_init(a);
}

int aml_error(const struct aml *a)
{
	return a->err;
}

static void aml_fail(struct aml *a, int err)
{
	if (!a->err)
		a->err = err;
}

/* Make room for n more bytes. Returns false (and records the error) on failure. */
static bool aml_reserve(struct aml *a, size_t n)
{
	size_t need, ncap;
	uint8_t *nbuf;

	if (a->err)
		return false;
	if (n > SIZE_MAX - a->len) {
		aml_fail(a, -ENOMEM);
		return false;
	}
	need = a->len + n;
	if (need <= a->cap)
		return true;
	ncap = a->cap ? a->cap : 256;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2) {
			ncap = need;
			break;
		}
		ncap *= 2;
	}
	nbuf = realloc(a->buf, ncap);
	if (!nbuf) {
		aml_fail(a, -ENOMEM);
		return false;
	}
	a->buf = nbuf;
	a->cap = ncap;
	return true;
}

void aml_raw(struct aml *a, const void *data, size_t n)
{
	if (!n || !aml_reserve(a, n))
		return;
	memcpy(a->buf + a->len, data, n);
	a->len += n;
}

void aml_zeros(struct aml *a, size_t n)
{
	if (!n || !aml_reserve(a, n))
		return;
	memset(a->buf + a->len, 0, n);
	a->len += n;
}

void aml_u8(struct aml *a, uint8_t v)
{
	aml_raw(a, &v, 1);
}

void aml_u16(struct aml *a, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	aml_raw(a, b, sizeof(b));
}

void aml_u32(struct aml *a, uint32_t v)
{
	aml_u16(a, (uint16_t)v);
	aml_u16(a, (uint16_t)(v >> 16));
}

void aml_u64(struct aml *a, uint64_t v)
{
	aml_u32(a, (uint32_t)v);
	aml_u32(a, (uint32_t)(v >> 32));
}

/* Insert n bytes at offset pos, moving what follows. */
static void aml_insert(struct aml *a, size_t pos, const uint8_t *data, size_t n)
{
	if (a->err)
		return;
	if (pos > a->len) {
		aml_fail(a, -EINVAL);
		return;
	}
	if (!aml_reserve(a, n))
		return;
	memmove(a->buf + pos + n, a->buf + pos, a->len - pos);
	memcpy(a->buf + pos, data, n);
	a->len += n;
}

int aml_pkglen_encode(size_t body_len, uint8_t out[4])
{
	/* Largest total (PkgLength bytes included) for 1..4 encoding bytes. */
	static const size_t max_total[4] = {0x3f, 0xfff, 0xfffff, 0xfffffff};
	size_t total = 0;
	int n, i;

	for (n = 1; n <= 4; n++) {
		total = body_len + (size_t)n;
		if (body_len <= max_total[n - 1] && total <= max_total[n - 1])
			break;
	}
	if (n > 4)
		return -ERANGE;
	if (n == 1) {
		out[0] = (uint8_t)total;
		return 1;
	}
	/* Lead byte: bits 7-6 count of following bytes, bits 3-0 low nibble. */
	out[0] = (uint8_t)(((unsigned)(n - 1) << 6) | (total & 0x0f));
	for (i = 1; i < n; i++)
		out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	return n;
}

static bool name_lead_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static bool name_char(char c)
{
	return name_lead_char(c) || (c >= '0' && c <= '9');
}

void aml_name_string(struct aml *a, const char *path)
{
	char segs[MAX_NAME_SEGS][4];
	unsigned nsegs = 0, i;
	const char *p = path;

	if (a->err)
		return;
	if (!path) {
		aml_fail(a, -EINVAL);
		return;
	}
	if (*p == '\\') {
		aml_u8(a, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == '^') {
			aml_u8(a, AML_PARENT_CHAR);
			p++;
		}
	}
	while (*p) {
		unsigned n = 0;

		if (nsegs == MAX_NAME_SEGS) {
			aml_fail(a, -EINVAL);
			return;
		}
		if (!name_lead_char(*p)) {
			aml_fail(a, -EINVAL);
			return;
		}
		while (*p && *p != '.') {
			if (n == 4 || !name_char(*p)) {
				aml_fail(a, -EINVAL);
				return;
			}
			segs[nsegs][n++] = *p++;
		}
		while (n < 4)
			segs[nsegs][n++] = '_';
		nsegs++;
		if (*p == '.') {
			p++;
			if (!*p) { /* trailing dot */
				aml_fail(a, -EINVAL);
				return;
			}
		}
	}
	if (nsegs == 0) {
		aml_u8(a, 0x00); /* NullName */
		return;
	}
	if (nsegs == 2) {
		aml_u8(a, AML_DUAL_NAME_PREFIX);
	} else if (nsegs > 2) {
		aml_u8(a, AML_MULTI_NAME_PREFIX);
		aml_u8(a, (uint8_t)nsegs);
	}
	for (i = 0; i < nsegs; i++)
		aml_raw(a, segs[i], 4);
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_u8(a, AML_ZERO_OP);
	} else if (v == 1) {
		aml_u8(a, AML_ONE_OP);
	} else if (v <= UINT8_MAX) {
		aml_u8(a, AML_BYTE_PREFIX);
		aml_u8(a, (uint8_t)v);
	} else if (v <= UINT16_MAX) {
		aml_u8(a, AML_WORD_PREFIX);
		aml_u16(a, (uint16_t)v);
	} else if (v <= UINT32_MAX) {
		aml_u8(a, AML_DWORD_PREFIX);
		aml_u32(a, (uint32_t)v);
	} else {
		aml_u8(a, AML_QWORD_PREFIX);
		aml_u64(a, v);
	}
}

void aml_string(struct aml *a, const char *s)
{
	size_t i, n;

	if (a->err)
		return;
	if (!s) {
		aml_fail(a, -EINVAL);
		return;
	}
	n = strlen(s);
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] > 0x7f) {
			aml_fail(a, -EINVAL);
			return;
		}
	}
	aml_u8(a, AML_STRING_PREFIX);
	aml_raw(a, s, n + 1); /* with the terminating NUL */
}

int aml_eisaid_encode(const char *id, uint32_t *out)
{
	uint16_t vendor = 0, product = 0;
	int i, d;

	if (!id || strlen(id) != 7)
		return -EINVAL;
	for (i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return -EINVAL;
		/* Five bits per letter, 'A' = 1. */
		vendor = (uint16_t)((vendor << 5) | (uint16_t)(id[i] - 'A' + 1));
	}
	for (i = 3; i < 7; i++) {
		d = hex_digit_value(id[i]);
		if (d < 0)
			return -EINVAL;
		product = (uint16_t)((product << 4) | (uint16_t)d);
	}
	/* Both halves are stored big-endian; the DWord itself is little-endian. */
	*out = (uint32_t)(vendor >> 8) | (uint32_t)(vendor & 0xff) << 8 |
	       (uint32_t)(product >> 8) << 16 | (uint32_t)(product & 0xff) << 24;
	return 0;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v;

	if (a->err)
		return;
	if (aml_eisaid_encode(id, &v) < 0) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_u8(a, AML_DWORD_PREFIX); /* always a DWord, as ASL's EISAID() */
	aml_u32(a, v);
}

void aml_name_decl(struct aml *a, const char *name)
{
	aml_u8(a, AML_NAME_OP);
	aml_name_string(a, name);
}

void aml_name_integer(struct aml *a, const char *name, uint64_t v)
{
	aml_name_decl(a, name);
	aml_integer(a, v);
}

void aml_name_str(struct aml *a, const char *name, const char *s)
{
	aml_name_decl(a, name);
	aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *name, const char *id)
{
	aml_name_decl(a, name);
	aml_eisaid(a, id);
}

size_t aml_scope_begin(struct aml *a, const char *name)
{
	size_t mark;

	aml_u8(a, AML_SCOPE_OP);
	mark = a->len;
	aml_name_string(a, name);
	return mark;
}

size_t aml_device_begin(struct aml *a, const char *name)
{
	size_t mark;

	aml_u8(a, AML_EXT_OP_PREFIX);
	aml_u8(a, AML_EXT_DEVICE_OP);
	mark = a->len;
	aml_name_string(a, name);
	return mark;
}

size_t aml_method_begin(struct aml *a, const char *name, unsigned nargs, bool serialized)
{
	size_t mark;

	if (nargs > 7)
		aml_fail(a, -ERANGE);
	aml_u8(a, AML_METHOD_OP);
	mark = a->len;
	aml_name_string(a, name);
	/* MethodFlags: bits 0-2 ArgCount, bit 3 SerializeFlag, bits 4-7 SyncLevel 0. */
	aml_u8(a, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
	return mark;
}

void aml_return_integer(struct aml *a, uint64_t v)
{
	aml_u8(a, AML_RETURN_OP);
	aml_integer(a, v);
}

void aml_method_return_integer(struct aml *a, const char *name, uint64_t v)
{
	size_t m = aml_method_begin(a, name, 0, false);

	aml_return_integer(a, v);
	aml_end(a, m);
}

size_t aml_package_begin(struct aml *a, unsigned nelems)
{
	size_t mark;

	if (nelems > 255)
		aml_fail(a, -ERANGE);
	aml_u8(a, AML_PACKAGE_OP);
	mark = a->len;
	aml_u8(a, (uint8_t)nelems); /* NumElements */
	return mark;
}

void aml_end(struct aml *a, size_t mark)
{
	uint8_t pl[4];
	int n;

	if (a->err)
		return;
	if (mark > a->len) {
		aml_fail(a, -EINVAL);
		return;
	}
	n = aml_pkglen_encode(a->len - mark, pl);
	if (n < 0) {
		aml_fail(a, n);
		return;
	}
	aml_insert(a, mark, pl, (size_t)n);
}

size_t aml_buffer_begin(struct aml *a)
{
	aml_u8(a, AML_BUFFER_OP);
	return a->len;
}

void aml_buffer_end(struct aml *a, size_t mark)
{
	struct aml size;

	if (a->err)
		return;
	if (mark > a->len) {
		aml_fail(a, -EINVAL);
		return;
	}
	/* BufferSize is an integer TermArg in front of the bytes. */
	aml_init(&size);
	aml_integer(&size, a->len - mark);
	if (size.err) {
		aml_fail(a, size.err);
		aml_free(&size);
		return;
	}
	aml_insert(a, mark, size.buf, size.len);
	aml_free(&size);
	aml_end(a, mark);
}

size_t aml_resource_template_begin(struct aml *a)
{
	return aml_buffer_begin(a);
}

void aml_resource_template_end(struct aml *a, size_t mark)
{
	aml_u8(a, RES_END_TAG);
	aml_u8(a, 0); /* checksum 0: "treat as correct" */
	aml_buffer_end(a, mark);
}

void aml_io(struct aml *a, bool decode16, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	if (max < min) {
		aml_fail(a, -ERANGE);
		return;
	}
	aml_u8(a, RES_IO);
	aml_u8(a, decode16 ? 1 : 0);
	aml_u16(a, min);
	aml_u16(a, max);
	aml_u8(a, align);
	aml_u8(a, len);
}

void aml_io_port(struct aml *a, uint16_t base, uint8_t len)
{
	aml_io(a, true, base, base, 1, len);
}

void aml_irq_noflags(struct aml *a, unsigned irq)
{
	if (irq > 15) {
		aml_fail(a, -ERANGE);
		return;
	}
	aml_u8(a, RES_IRQ_NOFLAGS);
	aml_u16(a, (uint16_t)(1u << irq));
}

void aml_interrupt(struct aml *a, bool consumer, bool edge, bool active_low, bool shared,
		   const uint32_t *irqs, unsigned nirqs)
{
	unsigned i;

	if (nirqs == 0 || nirqs > 255 || !irqs) {
		aml_fail(a, -ERANGE);
		return;
	}
	aml_u8(a, RES_EXT_IRQ);
	aml_u16(a, (uint16_t)(2 + 4 * nirqs));
	aml_u8(a, (uint8_t)((consumer ? 0x01 : 0) | (edge ? 0x02 : 0) | (active_low ? 0x04 : 0) |
			    (shared ? 0x08 : 0)));
	aml_u8(a, (uint8_t)nirqs);
	for (i = 0; i < nirqs; i++)
		aml_u32(a, irqs[i]);
}

static uint8_t addr_general_flags(const struct aml_addr_space *s)
{
	return (uint8_t)((s->consumer ? 0x01 : 0) | (s->subtractive ? 0x02 : 0) |
			 (s->min_fixed ? 0x04 : 0) | (s->max_fixed ? 0x08 : 0));
}

/* Common part of the Word/DWord/QWord descriptors; width is 2, 4 or 8 bytes. */
static void aml_addr_space(struct aml *a, const struct aml_addr_space *s, uint8_t tag,
			   unsigned width)
{
	const uint64_t vals[5] = {s->granularity, s->min, s->max, s->translation, s->length};
	uint64_t lim = width == 8 ? UINT64_MAX : (1ULL << (8 * width)) - 1;
	unsigned i;

	if (s->type > AML_AS_BUS || s->max < s->min) {
		aml_fail(a, -EINVAL);
		return;
	}
	for (i = 0; i < 5; i++) {
		if (vals[i] > lim) {
			aml_fail(a, -ERANGE);
			return;
		}
	}
	aml_u8(a, tag);
	aml_u16(a, (uint16_t)(3 + 5 * width)); /* type, flags, type flags, five fields */
	aml_u8(a, s->type);
	aml_u8(a, addr_general_flags(s));
	aml_u8(a, s->type_flags);
	for (i = 0; i < 5; i++) {
		if (width == 2)
			aml_u16(a, (uint16_t)vals[i]);
		else if (width == 4)
			aml_u32(a, (uint32_t)vals[i]);
		else
			aml_u64(a, vals[i]);
	}
}

void aml_word_space(struct aml *a, const struct aml_addr_space *s)
{
	aml_addr_space(a, s, RES_WORD_SPACE, 2);
}

void aml_dword_space(struct aml *a, const struct aml_addr_space *s)
{
	aml_addr_space(a, s, RES_DWORD_SPACE, 4);
}

void aml_qword_space(struct aml *a, const struct aml_addr_space *s)
{
	aml_addr_space(a, s, RES_QWORD_SPACE, 8);
}

/* A fixed producer window [min, max]. */
static struct aml_addr_space bridge_window(uint8_t type, uint8_t type_flags, uint64_t min,
					   uint64_t max)
{
	struct aml_addr_space s = {
	    .type = type,
	    .consumer = false,
	    .min_fixed = true,
	    .max_fixed = true,
	    .type_flags = type_flags,
	    .min = min,
	    .max = max,
	    .length = max >= min ? max - min + 1 : 0,
	};
	return s;
}

void aml_word_bus_number(struct aml *a, uint16_t min, uint16_t max)
{
	struct aml_addr_space s = bridge_window(AML_AS_BUS, 0, min, max);

	aml_word_space(a, &s);
}

void aml_dword_io(struct aml *a, uint32_t min, uint32_t max)
{
	struct aml_addr_space s = bridge_window(AML_AS_IO, AML_IO_RANGE_ENTIRE, min, max);

	aml_dword_space(a, &s);
}

static uint8_t mem_flags(bool prefetchable)
{
	return AML_MEM_READ_WRITE | (prefetchable ? AML_MEM_PREFETCHABLE : AML_MEM_NON_CACHEABLE);
}

void aml_dword_memory(struct aml *a, uint32_t min, uint32_t max, bool prefetchable)
{
	struct aml_addr_space s = bridge_window(AML_AS_MEMORY, mem_flags(prefetchable), min, max);

	aml_dword_space(a, &s);
}

void aml_qword_memory(struct aml *a, uint64_t min, uint64_t max, bool prefetchable)
{
	struct aml_addr_space s = bridge_window(AML_AS_MEMORY, mem_flags(prefetchable), min, max);

	/* [0, 2^64 - 1] has a length that does not fit 64 bits. */
	if (min == 0 && max == UINT64_MAX) {
		aml_fail(a, -ERANGE);
		return;
	}
	aml_qword_space(a, &s);
}
