/* SPDX-License-Identifier: MIT */
/*
 * A small builder for ACPI Machine Language (AML) byte code, enough for the
 * DSDT hearth gives its guests: names, integers, strings, Name(), Scope(),
 * Device(), Package(), constant-returning Method()s and ResourceTemplate
 * buffers with the usual descriptors (ACPI 6.x, chapter 19 "AML encoding"
 * and 6.4 "Resource Data Types").
 *
 * The builder appends to a growable byte buffer. Errors are sticky: the
 * first failure (-ENOMEM, -EINVAL for a malformed name or argument, -ERANGE
 * for a value that does not fit its encoding) is kept in aml->err, every
 * later call does nothing, and the caller checks aml_error() once at the
 * end. Nested objects (Scope, Device, Method, Package, Buffer) are opened
 * with a *_begin() call that returns a mark and closed with the matching
 * end call, which inserts the package length once the body is known.
 *
 * The same buffer doubles as a little-endian byte sink for ACPI tables
 * (aml_u8() .. aml_u64()).
 */
#ifndef HEARTH_ARCH_X86_AML_H
#define HEARTH_ARCH_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int err; /* first error, 0 while all is well */
};

/* A PkgLength can describe at most 2^28 - 1 bytes. */
#define AML_PKGLEN_MAX 0x0fffffffU

/* aml_init - an empty builder. Never fails (memory is allocated on demand). */
void aml_init(struct aml *a);

/* aml_free - release the buffer; the builder is empty again afterwards. */
void aml_free(struct aml *a);

/* aml_error - 0, or the first error any call on a reported (negative errno). */
int aml_error(const struct aml *a);

/* Raw appends: one byte, n bytes, little-endian 16/32/64-bit values. */
void aml_u8(struct aml *a, uint8_t v);
void aml_u16(struct aml *a, uint16_t v);
void aml_u32(struct aml *a, uint32_t v);
void aml_u64(struct aml *a, uint64_t v);
void aml_raw(struct aml *a, const void *data, size_t n);

/* aml_zeros - append n zero bytes. */
void aml_zeros(struct aml *a, size_t n);

/*
 * aml_pkglen_encode - encode a PkgLength for a package whose body (the
 * bytes after the PkgLength) is body_len bytes long. The encoded value
 * counts the PkgLength bytes themselves, so the shortest encoding is chosen
 * with that in mind. Writes 1..4 bytes to out and returns how many, or
 * -ERANGE when the package would exceed AML_PKGLEN_MAX.
 */
int aml_pkglen_encode(size_t body_len, uint8_t out[4]);

/*
 * aml_name_string - append a NameString. path is ASL-like: an optional
 * leading '\' (root) or any number of '^' (parent), then zero or more
 * segments separated by '.', each 1-4 characters of A-Z, 0-9 and '_' not
 * starting with a digit; short segments are padded with '_' ("_SB" is
 * "_SB_"). An empty path after the prefix is the NullName. Bad syntax sets
 * -EINVAL.
 */
void aml_name_string(struct aml *a, const char *path);

/*
 * aml_integer - append an integer with its shortest encoding: ZeroOp,
 * OneOp, or a Byte/Word/DWord/QWord constant. (OnesOp is not used: its
 * value depends on the table revision.)
 */
void aml_integer(struct aml *a, uint64_t v);

/*
 * aml_string - append a String object. Characters must be 0x01-0x7f
 * (-EINVAL otherwise).
 */
void aml_string(struct aml *a, const char *s);

/*
 * aml_eisaid_encode - compress a 7-character EISA id such as "PNP0501"
 * (three letters A-Z, four hex digits) into its 32-bit form (the value
 * ASL's EISAID() produces). Returns 0, or -EINVAL for a malformed id.
 */
int aml_eisaid_encode(const char *id, uint32_t *out);

/* aml_eisaid - append EISAID(id) as a DWord constant. */
void aml_eisaid(struct aml *a, const char *id);

/*
 * aml_name_decl - append "Name (name," : NameOp and the NameString. The
 * caller appends exactly one data object next (an integer, string,
 * package or buffer). The helpers below do both in one call.
 */
void aml_name_decl(struct aml *a, const char *name);
void aml_name_integer(struct aml *a, const char *name, uint64_t v);
void aml_name_str(struct aml *a, const char *name, const char *s);
void aml_name_eisaid(struct aml *a, const char *name, const char *id);

/*
 * aml_scope_begin, aml_device_begin - open Scope (name) / Device (name).
 * Append the contents, then close with aml_end(a, mark).
 */
size_t aml_scope_begin(struct aml *a, const char *name);
size_t aml_device_begin(struct aml *a, const char *name);

/*
 * aml_method_begin - open Method (name, nargs, serialized): nargs 0-7.
 * Append the body (e.g. aml_return_integer()), then aml_end(a, mark).
 */
size_t aml_method_begin(struct aml *a, const char *name, unsigned nargs, bool serialized);

/* aml_return_integer - append "Return (v)". */
void aml_return_integer(struct aml *a, uint64_t v);

/* aml_method_return_integer - a whole "Method (name) { Return (v) }". */
void aml_method_return_integer(struct aml *a, const char *name, uint64_t v);

/*
 * aml_package_begin - open Package (nelems) { ... }: the caller appends
 * exactly nelems data objects (0-255, -ERANGE otherwise), then aml_end().
 */
size_t aml_package_begin(struct aml *a, unsigned nelems);

/* aml_end - close the Scope/Device/Method/Package opened at mark. */
void aml_end(struct aml *a, size_t mark);

/*
 * aml_buffer_begin, aml_buffer_end - Buffer () { bytes }: the buffer's size
 * is the number of bytes appended in between.
 */
size_t aml_buffer_begin(struct aml *a);
void aml_buffer_end(struct aml *a, size_t mark);

/*
 * aml_resource_template_begin, aml_resource_template_end - a Buffer holding
 * resource descriptors; the end call appends the End Tag and closes it.
 */
size_t aml_resource_template_begin(struct aml *a);
void aml_resource_template_end(struct aml *a, size_t mark);

/* Resource descriptors, to be appended inside a resource template. */

/*
 * aml_io - IO (Decode16 or Decode10, min, max, align, len): an I/O port
 * range whose base may be placed between min and max. Requires min <= max
 * and len <= 255 (-ERANGE).
 */
void aml_io(struct aml *a, bool decode16, uint16_t min, uint16_t max, uint8_t align, uint8_t len);

/* aml_io_port - a fixed range: IO (Decode16, base, base, 1, len). */
void aml_io_port(struct aml *a, uint16_t base, uint8_t len);

/* aml_irq_noflags - IRQNoFlags () {irq}: an edge, active-high ISA IRQ 0-15. */
void aml_irq_noflags(struct aml *a, unsigned irq);

/*
 * aml_interrupt - Interrupt (ResourceConsumer/Producer, Edge/Level,
 * ActiveHigh/Low, Shared/Exclusive) {irqs...}: the extended interrupt
 * descriptor, 1-255 GSIs.
 */
void aml_interrupt(struct aml *a, bool consumer, bool edge, bool active_low, bool shared,
		   const uint32_t *irqs, unsigned nirqs);

/* Address space descriptor resource types (_RT) and flags. */
#define AML_AS_MEMORY 0
#define AML_AS_IO     1
#define AML_AS_BUS    2

/* Memory type-specific flags. */
#define AML_MEM_READ_ONLY     0x00
#define AML_MEM_READ_WRITE    0x01
#define AML_MEM_NON_CACHEABLE (0 << 1)
#define AML_MEM_CACHEABLE     (1 << 1)
#define AML_MEM_WRITE_COMBINE (2 << 1)
#define AML_MEM_PREFETCHABLE  (3 << 1)
/* I/O type-specific flags. */
#define AML_IO_RANGE_NON_ISA  1
#define AML_IO_RANGE_ISA_ONLY 2
#define AML_IO_RANGE_ENTIRE   3

/*
 * A generic address space descriptor (Word/DWord/QWordSpace). length is
 * the window size; for a fixed window (min_fixed and max_fixed)
 * max = min + length - 1.
 */
struct aml_addr_space {
	uint8_t type;	    /* AML_AS_* */
	bool consumer;	    /* ResourceConsumer (device uses it) vs ResourceProducer (bridge) */
	bool subtractive;   /* SubDecode instead of PosDecode */
	bool min_fixed;	    /* MinFixed */
	bool max_fixed;	    /* MaxFixed */
	uint8_t type_flags; /* AML_MEM_* or AML_IO_RANGE_*; 0 for bus numbers */
	uint64_t granularity;
	uint64_t min;
	uint64_t max;
	uint64_t translation;
	uint64_t length;
};

/*
 * aml_word_space, aml_dword_space, aml_qword_space - append an address
 * space descriptor with 16/32/64-bit fields. -ERANGE when a field does not
 * fit the width.
 */
void aml_word_space(struct aml *a, const struct aml_addr_space *s);
void aml_dword_space(struct aml *a, const struct aml_addr_space *s);
void aml_qword_space(struct aml *a, const struct aml_addr_space *s);

/*
 * Bridge windows as a PCI host bridge's _CRS lists them (ResourceProducer,
 * MinFixed, MaxFixed, PosDecode, granularity 0, no translation):
 * aml_word_bus_number - WordBusNumber for buses [min, max].
 * aml_dword_io - DWordIO (EntireRange) for ports [min, max].
 * aml_dword_memory, aml_qword_memory - DWordMemory/QWordMemory, read-write,
 * for [min, max]; prefetchable selects Prefetchable over NonCacheable.
 * Each sets -ERANGE when max < min.
 */
void aml_word_bus_number(struct aml *a, uint16_t min, uint16_t max);
void aml_dword_io(struct aml *a, uint32_t min, uint32_t max);
void aml_dword_memory(struct aml *a, uint32_t min, uint32_t max, bool prefetchable);
void aml_qword_memory(struct aml *a, uint64_t min, uint64_t max, bool prefetchable);

#endif
