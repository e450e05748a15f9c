/* SPDX-License-Identifier: MIT */
/* Small helpers shared by every layer of hearth. */
#ifndef HEARTH_CORE_UTIL_H
#define HEARTH_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a)	 (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a)	 (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a)-1)) == 0)
#define MIN(a, b)	 ((a) < (b) ? (a) : (b))
#define MAX(a, b)	 ((a) > (b) ? (a) : (b))

#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)
#define TiB (1024ULL * GiB)

#define UNUSED __attribute__((unused))

/*
 * ALWAYS(x) and NEVER(x) mark conditions that should be impossible but that
 * hostile input might still reach. They evaluate to x; in debug builds a
 * violated expectation is logged once so that tests notice it.
 */
bool util_expect_failed(const char *expr, const char *file, int line);
#define ALWAYS(x) ((x) ? true : util_expect_failed(#x, __FILE__, __LINE__) && false)
#define NEVER(x)  ((x) ? (util_expect_failed("!(" #x ")", __FILE__, __LINE__), true) : false)

/*
 * parse_size - parse a memory size such as "512", "512M", "2G", "64K".
 * A bare number is MiB (as QEMU's -m); suffixes K, M, G, T (binary, case
 * insensitive, an optional trailing "iB" or "B" is accepted). Returns 0 and
 * stores bytes in *out, or -1 for malformed input or overflow.
 */
int parse_size(const char *s, uint64_t *out);

/*
 * parse_uint - parse a decimal unsigned integer in [min, max].
 * Returns 0 on success, -1 when s is not a number or out of range.
 */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * read_whole_file - read a file into a newly allocated buffer.
 * Returns 0 and sets *data and *len, or -errno. The caller frees *data.
 * Files larger than max_len give -EFBIG.
 */
int read_whole_file(const char *path, size_t max_len, uint8_t **data, size_t *len);

/* Monotonic clock in nanoseconds. */
uint64_t now_ns(void);

/* hex_digit_value - the value of hexadecimal digit c (either case), or -1. */
int hex_digit_value(int c);

#endif
