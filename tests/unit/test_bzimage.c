/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86/bzimage.h"
#include "core/util.h"
#include "synth_kernel.h"

static int parse(const uint8_t *img, size_t len, struct bzimage_info *bi, char *err, size_t errlen)
{
	uint8_t *copy = synth_dup(img, len);
	int ret;

	err[0] = 0;
	ret = bzimage_parse(copy, len, bi, err, errlen);
	free(copy);
	if (ret)
		assert_true(strlen(err) > 0);
	return ret;
}

static void test_valid(void **state)
{
	uint8_t *b = synth_bzimage();
	struct bzimage_info bi;
	char err[256];

	(void)state;
	assert_true(bzimage_probe(b, SYNTH_BZ_SIZE));
	assert_int_equal(parse(b, SYNTH_BZ_SIZE, &bi, err, sizeof(err)), 0);
	assert_int_equal(bi.version, 0x020f);
	assert_int_equal(bi.setup_sects, SYNTH_SETUP_SECTS);
	assert_int_equal(bi.setup_size, SYNTH_SETUP_SIZE);
	assert_int_equal(bi.pm_offset, SYNTH_SETUP_SIZE);
	assert_int_equal(bi.pm_size, SYNTH_PM_SIZE);
	assert_int_equal(bi.hdr_end, 0x26c);
	assert_int_equal(bi.loadflags, BZ_LOADED_HIGH);
	assert_true(bi.xloadflags & BZ_XLF_KERNEL_64);
	assert_int_equal(bi.cmdline_size, 2047);
	assert_int_equal(bi.initrd_addr_max, 0x7fffffff);
	assert_int_equal(bi.kernel_alignment, 0x200000);
	assert_true(bi.relocatable);
	assert_int_equal(bi.min_alignment, 21);
	assert_int_equal(bi.pref_address, SYNTH_PREF);
	assert_int_equal(bi.init_size, SYNTH_INIT_SIZE);
	assert_int_equal(bi.payload_offset, SYNTH_PAYLOAD_OFF);
	assert_int_equal(bi.payload_length, SYNTH_PAYLOAD_LEN);
	free(b);
}

static void test_setup_sects_zero_means_four(void **state)
{
	uint8_t *b = synth_bzimage();
	struct bzimage_info bi;
	char err[256];

	(void)state;
	b[0x1f1] = 0;
	assert_int_equal(parse(b, SYNTH_BZ_SIZE, &bi, err, sizeof(err)), 0);
	assert_int_equal(bi.setup_sects, 4);
	assert_int_equal(bi.pm_offset, 5 * 512);
	free(b);
}

static void expect_error(uint8_t *b, size_t len, int code, const char *needle)
{
	struct bzimage_info bi;
	char err[256];
	int ret = parse(b, len, &bi, err, sizeof(err));

	if (ret != code || !strstr(err, needle))
		fail_msg("got %d \"%s\", expected %d with \"%s\"", ret, err, code, needle);
}

static void test_bad_magic(void **state)
{
	uint8_t *b = synth_bzimage();

	(void)state;
	memcpy(b + 0x202, "HdrT", 4);
	assert_false(bzimage_probe(b, SYNTH_BZ_SIZE));
	expect_error(b, SYNTH_BZ_SIZE, -ENOEXEC, "HdrS");
	free(b);
}

static void test_old_protocol(void **state)
{
	uint8_t *b = synth_bzimage();

	(void)state;
	put16(b + 0x206, 0x0205);
	expect_error(b, SYNTH_BZ_SIZE, -ENOTSUP, "2.05 is too old");
	put16(b + 0x206, 0x0100);
	expect_error(b, SYNTH_BZ_SIZE, -ENOTSUP, "too old");
	/* 2.06..2.11 have no xloadflags: whatever the bytes say, no 64-bit entry. */
	put16(b + 0x206, 0x020b);
	expect_error(b, SYNTH_BZ_SIZE, -ENOTSUP, "64-bit entry");
	free(b);
}

static void test_no_64bit_entry(void **state)
{
	uint8_t *b = synth_bzimage();

	(void)state;
	put16(b + 0x236, BZ_XLF_EFI_HANDOVER_32);
	expect_error(b, SYNTH_BZ_SIZE, -ENOTSUP, "XLF_KERNEL_64");
	free(b);
}

static void test_bad_fields(void **state)
{
	uint8_t *b = synth_bzimage();

	(void)state;
	put16(b + 0x1fe, 0x55aa);
	expect_error(b, SYNTH_BZ_SIZE, -ENOEXEC, "boot flag");
	put16(b + 0x1fe, 0xaa55);

	b[0x211] = 0;
	expect_error(b, SYNTH_BZ_SIZE, -ENOTSUP, "zImage");
	b[0x211] = BZ_LOADED_HIGH;

	put32(b + 0x230, 0x300000);
	expect_error(b, SYNTH_BZ_SIZE, -ENOEXEC, "kernel_alignment");
	put32(b + 0x230, 0);
	expect_error(b, SYNTH_BZ_SIZE, -ENOEXEC, "kernel_alignment");
	b[0x234] = 0; /* alignment does not matter for a fixed kernel */
	assert_int_equal(parse(b, SYNTH_BZ_SIZE, &(struct bzimage_info){0}, (char[64]){0}, 64), 0);
	b[0x234] = 1;
	put32(b + 0x230, 0x200000);

	put32(b + 0x260, 0);
	expect_error(b, SYNTH_BZ_SIZE, -ENOEXEC, "init_size");
	put32(b + 0x260, SYNTH_INIT_SIZE);

	put32(b + 0x24c, SYNTH_PM_SIZE);
	expect_error(b, SYNTH_BZ_SIZE, -ENOEXEC, "payload");
	put32(b + 0x248, 0xffffffff);
	put32(b + 0x24c, 0xffffffff);
	expect_error(b, SYNTH_BZ_SIZE, -ENOEXEC, "payload");
	put32(b + 0x248, 0xfffffff0); /* offset + length wraps 32 bits */
	put32(b + 0x24c, 0x20);
	expect_error(b, SYNTH_BZ_SIZE, -ENOEXEC, "payload");
	put32(b + 0x248, SYNTH_PAYLOAD_OFF);
	put32(b + 0x24c, SYNTH_PAYLOAD_LEN);

	b[0x201] = 0x02; /* header would end at 0x204: before the version */
	expect_error(b, SYNTH_BZ_SIZE, -ENOEXEC, "too short");
	b[0x201] = 0x20; /* ends at 0x222: version readable, no cmdline_size */
	expect_error(b, SYNTH_BZ_SIZE, -ENOEXEC, "too short");
	b[0x201] = 0xff; /* beyond the header area: clamped */
	{
		struct bzimage_info bi;
		char err[128];

		assert_int_equal(parse(b, SYNTH_BZ_SIZE, &bi, err, sizeof(err)), 0);
		assert_int_equal(bi.hdr_end, BZ_HDR_AREA_END);
	}
	free(b);
}

static void test_absurd_setup_sects(void **state)
{
	uint8_t *b = synth_bzimage();

	(void)state;
	b[0x1f1] = 200;
	expect_error(b, SYNTH_BZ_SIZE, -ENOEXEC, "setup_sects 200");
	b[0x1f1] = 255;
	expect_error(b, SYNTH_BZ_SIZE, -ENOEXEC, "setup_sects 255");
	/* Allowed, but the file ends inside the real-mode part. */
	b[0x1f1] = 40;
	expect_error(b, SYNTH_BZ_SIZE, -ENOEXEC, "truncated");
	/* The real-mode part takes the whole file: nothing left to load. */
	b[0x1f1] = (uint8_t)(SYNTH_BZ_SIZE / 512 - 1);
	expect_error(b, SYNTH_BZ_SIZE, -ENOEXEC, "truncated");
	free(b);
}

/* Every prefix of a valid image is rejected cleanly (ASan checks the reads). */
static void test_truncated(void **state)
{
	uint8_t *b = synth_bzimage();
	struct bzimage_info bi;
	char err[256];

	(void)state;
	for (size_t len = 0; len < SYNTH_BZ_SIZE; len++)
		assert_int_not_equal(parse(b, len, &bi, err, sizeof(err)), 0);
	/* The messages say what is missing. */
	expect_error(b, 0x230, -ENOEXEC, "setup header ends at 0x26c");
	expect_error(b, SYNTH_SETUP_SIZE, -ENOEXEC, "real-mode part is 2560 bytes");
	expect_error(b, SYNTH_SETUP_SIZE + 0x100, -ENOEXEC, "protected-mode part only 256");
	assert_int_not_equal(bzimage_parse(NULL, 0, &bi, err, sizeof(err)), 0);
	assert_false(bzimage_probe(NULL, 0));
	assert_false(bzimage_probe(b, 0x205));
	free(b);
}

/* Random corruption of the header area never crashes or reads out of bounds. */
static void test_random_corruption(void **state)
{
	uint8_t *b = synth_bzimage();
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	struct bzimage_info bi;
	char err[256];
	unsigned ok = 0;

	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		uint8_t *c = synth_dup(b, SYNTH_BZ_SIZE);
		size_t len = SYNTH_BZ_SIZE;
		int flips = 1 + iter % 8;

		for (int i = 0; i < flips; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			c[0x1f1 + x % (0x290 - 0x1f1)] = (uint8_t)(x >> 32);
		}
		if (iter % 3 == 0)
			len = (size_t)(x >> 40) % (SYNTH_BZ_SIZE + 1);
		if (parse(c, len, &bi, err, sizeof(err)) == 0) {
			ok++;
			assert_true(bi.pm_offset + bi.pm_size == len);
			assert_true(bi.xloadflags & BZ_XLF_KERNEL_64);
			assert_true((uint64_t)bi.payload_offset + bi.payload_length <= bi.pm_size);
		}
		free(c);
	}
	/* Some single-byte changes hit don't-care bytes: those must still parse. */
	assert_true(ok > 0);
	free(b);
}

static void test_real_kernel(void **state)
{
	const char *path = getenv("HEARTH_TEST_KERNEL");
	struct bzimage_info bi;
	uint8_t *data;
	size_t len;
	char err[256];
	const uint8_t *p;

	(void)state;
	if (!path || !*path) {
		printf("skipped: HEARTH_TEST_KERNEL is not set (path of a Debian vmlinuz)\n");
		skip();
	}
	if (access(path, R_OK) != 0) {
		printf("skipped: HEARTH_TEST_KERNEL=%s does not exist or is not readable\n", path);
		skip();
	}
	assert_int_equal(read_whole_file(path, 256 * MiB, &data, &len), 0);
	if (bzimage_parse(data, len, &bi, err, sizeof(err)) != 0)
		fail_msg("%s: %s", path, err);
	assert_true(bi.version >= 0x020c);
	assert_true(bi.xloadflags & BZ_XLF_KERNEL_64);
	assert_true(bi.relocatable);
	assert_true(bi.kernel_alignment >= 4096);
	assert_true(bi.pref_address >= 1 * MiB);
	assert_true(bi.init_size > bi.pm_size);
	assert_true(bi.cmdline_size >= 255);
	assert_true(bi.payload_length > 0);
	/* The payload starts with the magic of one of the kernel's compressors. */
	p = data + bi.pm_offset + bi.payload_offset;
	assert_true((p[0] == 0x1f && p[1] == 0x8b) ||		      /* gzip */
		    (p[0] == 0xfd && p[1] == '7' && p[2] == 'z') ||   /* xz */
		    (p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f) || /* zstd */
		    (p[0] == 0x02 && p[1] == 0x21 && p[2] == 0x4c) || /* lz4 */
		    (p[0] == 'B' && p[1] == 'Z' && p[2] == 'h') ||    /* bzip2 */
		    (p[0] == 0x5d && p[1] == 0) ||		      /* lzma */
		    (p[0] == 0x89 && p[1] == 'L' && p[2] == 'Z'));    /* lzo */
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_setup_sects_zero_means_four),
	    cmocka_unit_test(test_bad_magic),
	    cmocka_unit_test(test_old_protocol),
	    cmocka_unit_test(test_no_64bit_entry),
	    cmocka_unit_test(test_bad_fields),
	    cmocka_unit_test(test_absurd_setup_sects),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_random_corruption),
	    cmocka_unit_test(test_real_kernel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
