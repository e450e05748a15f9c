/* SPDX-License-Identifier: MIT */
#include <elf.h>
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

#include "arch/x86/elf_pvh.h"
#include "core/util.h"
#include "synth_kernel.h"

#define PH_OFF(i, field)                                                                           \
	(sizeof(Elf64_Ehdr) + (i) * sizeof(Elf64_Phdr) + offsetof(Elf64_Phdr, field))

static int parse(const uint8_t *img, size_t len, struct elf_pvh_image *im, char *err, size_t errlen)
{
	uint8_t *copy = synth_dup(img, len);
	int ret;

	err[0] = 0;
	ret = elf_pvh_parse(copy, len, im, err, errlen);
	free(copy);
	if (ret)
		assert_true(strlen(err) > 0);
	return ret;
}

static void expect_error(const uint8_t *e, size_t len, int code, const char *needle)
{
	struct elf_pvh_image im;
	char err[256];
	int ret = parse(e, len, &im, err, sizeof(err));

	if (ret != code || !strstr(err, needle))
		fail_msg("got %d \"%s\", expected %d with \"%s\"", ret, err, code, needle);
}

static void test_valid(void **state)
{
	uint8_t *e = synth_elf(1);
	struct elf_pvh_image im;
	char err[256];

	(void)state;
	assert_true(elf_pvh_probe(e, SYNTH_ELF_SIZE));
	if (parse(e, SYNTH_ELF_SIZE, &im, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(im.entry, SYNTH_ELF_ENTRY);
	assert_int_equal(im.nr_segments, 2);
	assert_int_equal(im.segments[0].paddr, SYNTH_ELF_TEXT_PADDR);
	assert_int_equal(im.segments[0].offset, SYNTH_ELF_TEXT_OFF);
	assert_int_equal(im.segments[0].filesz, SYNTH_ELF_TEXT_SIZE);
	assert_int_equal(im.segments[0].memsz, SYNTH_ELF_TEXT_SIZE);
	assert_int_equal(im.segments[1].paddr, SYNTH_ELF_DATA_PADDR);
	assert_int_equal(im.segments[1].offset, SYNTH_ELF_DATA_OFF);
	assert_int_equal(im.segments[1].filesz, SYNTH_ELF_DATA_FILESZ);
	assert_int_equal(im.segments[1].memsz, SYNTH_ELF_DATA_MEMSZ);
	assert_int_equal(im.paddr_start, SYNTH_ELF_TEXT_PADDR);
	assert_int_equal(im.paddr_end, SYNTH_ELF_DATA_PADDR + SYNTH_ELF_DATA_MEMSZ);
	free(e);
}

/* A 4-byte entry note (the form 32-bit kernels emit) works too. */
static void test_entry_note_4_bytes(void **state)
{
	uint8_t *e = synth_elf(0);
	struct elf_pvh_image im;
	uint32_t entry = SYNTH_ELF_ENTRY + 0x10;
	size_t n;
	char err[256];

	(void)state;
	n = synth_note(e + SYNTH_ELF_NOTE_OFF, "Xen", 18, &entry, 4);
	put64(e + PH_OFF(2, p_filesz), n);
	assert_int_equal(parse(e, SYNTH_ELF_SIZE, &im, err, sizeof(err)), 0);
	assert_int_equal(im.entry, SYNTH_ELF_ENTRY + 0x10);
	free(e);
}

static void test_no_pvh_note(void **state)
{
	uint8_t *e = synth_elf(0);

	(void)state;
	expect_error(e, SYNTH_ELF_SIZE, -ENOENT,
		     "ELF kernel has no PVH entry note (needs CONFIG_PVH)");
	/* A type-18 note of another owner is not the PVH note. */
	free(e);
	e = synth_elf(1);
	memcpy(e + SYNTH_ELF_NOTE_OFF + 24 + 36 + 12, "Xem", 4);
	expect_error(e, SYNTH_ELF_SIZE, -ENOENT, "CONFIG_PVH");
	free(e);
}

static void test_header_checks(void **state)
{
	uint8_t *e = synth_elf(1);

	(void)state;
	e[EI_CLASS] = ELFCLASS32;
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "not 64-bit");
	e[EI_CLASS] = ELFCLASS64;
	e[EI_DATA] = ELFDATA2MSB;
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "little-endian");
	e[EI_DATA] = ELFDATA2LSB;
	put16(e + offsetof(Elf64_Ehdr, e_machine), EM_386);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "not for x86-64");
	put16(e + offsetof(Elf64_Ehdr, e_machine), EM_AARCH64);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "not for x86-64");
	put16(e + offsetof(Elf64_Ehdr, e_machine), EM_X86_64);
	put16(e + offsetof(Elf64_Ehdr, e_type), ET_REL);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "not an executable");
	put16(e + offsetof(Elf64_Ehdr, e_type), ET_EXEC);
	put16(e + offsetof(Elf64_Ehdr, e_phentsize), 32);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "program headers");
	put16(e + offsetof(Elf64_Ehdr, e_phentsize), sizeof(Elf64_Phdr));
	put16(e + offsetof(Elf64_Ehdr, e_phnum), 0xffff);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "program headers");
	put16(e + offsetof(Elf64_Ehdr, e_phnum), ELF_PVH_MAX_PHDRS + 1);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "program headers");
	put16(e + offsetof(Elf64_Ehdr, e_phnum), SYNTH_ELF_PHNUM);
	put64(e + offsetof(Elf64_Ehdr, e_phoff), SYNTH_ELF_SIZE - 2 * sizeof(Elf64_Phdr));
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "beyond the end");
	put64(e + offsetof(Elf64_Ehdr, e_phoff), 0xfffffffffffffff0ULL);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "beyond the end");
	put64(e + offsetof(Elf64_Ehdr, e_phoff), sizeof(Elf64_Ehdr));
	memcpy(e,
	       "\x7f"
	       "ELG",
	       4);
	assert_false(elf_pvh_probe(e, SYNTH_ELF_SIZE));
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "not an ELF");
	free(e);
}

static void test_segment_beyond_file(void **state)
{
	uint8_t *e = synth_elf(1);

	(void)state;
	put64(e + PH_OFF(1, p_offset), SYNTH_ELF_SIZE - 0x100);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "beyond the end");
	put64(e + PH_OFF(1, p_offset), 0xffffffffffffff00ULL); /* offset + size wraps */
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "beyond the end");
	put64(e + PH_OFF(1, p_offset), SYNTH_ELF_DATA_OFF);
	/* The file ends inside the data segment. */
	expect_error(e, SYNTH_ELF_DATA_OFF + 0x10, -ENOEXEC, "beyond the end");
	/* The note segment beyond the file. */
	put64(e + PH_OFF(2, p_offset), SYNTH_ELF_SIZE);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "note segment");
	free(e);
}

static void test_bad_segments(void **state)
{
	uint8_t *e = synth_elf(1);

	(void)state;
	put64(e + PH_OFF(1, p_memsz), SYNTH_ELF_DATA_FILESZ - 1);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "filesz");
	put64(e + PH_OFF(1, p_memsz), SYNTH_ELF_DATA_MEMSZ);

	put64(e + PH_OFF(1, p_paddr), SYNTH_ELF_TEXT_PADDR + 0x2000);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "overlaps");
	put64(e + PH_OFF(1, p_paddr), SYNTH_ELF_TEXT_PADDR - 0x1000);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "overlaps");
	put64(e + PH_OFF(1, p_paddr), 0xfffffffffffff000ULL);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "wraps");
	put64(e + PH_OFF(1, p_paddr), SYNTH_ELF_DATA_PADDR);

	/* The entry must lie in loaded file bytes. */
	put64(e + PH_OFF(0, p_paddr), 0x2000000);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "outside the loaded segments");
	put64(e + PH_OFF(0, p_paddr), SYNTH_ELF_TEXT_PADDR);

	/* No PT_LOAD at all. */
	put32(e + PH_OFF(0, p_type), PT_NULL);
	put32(e + PH_OFF(1, p_type), PT_NULL);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "no loadable segments");
	free(e);
}

static void test_too_many_segments(void **state)
{
	size_t n = ELF_PVH_MAX_SEGMENTS + 2, len = 0x3000;
	uint8_t *e = calloc(1, len);
	uint8_t *base = synth_elf(1);

	(void)state;
	memcpy(e, base, sizeof(Elf64_Ehdr));
	put16(e + offsetof(Elf64_Ehdr, e_phnum), (uint16_t)n);
	for (unsigned i = 0; i < n; i++)
		synth_phdr(e, i, PT_LOAD, 0x2000, 0x1000000 + i * 0x1000ULL, 0x100, 0x100, 0x1000);
	expect_error(e, len, -ENOEXEC, "more than");
	free(e);
	free(base);
}

static void test_bad_notes(void **state)
{
	uint8_t *e = synth_elf(1);
	const size_t pvh = SYNTH_ELF_NOTE_OFF + 24 + 36; /* the PVH note */
	uint64_t entry;

	(void)state;
	/* A descriptor that runs past the note segment. */
	put32(e + pvh + 4, 0x1000);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "malformed ELF note");
	put32(e + pvh + 4, 0xffffffff);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "malformed ELF note");
	put32(e + pvh + 4, 8);
	/* A name that runs past it (and would wrap 32-bit arithmetic). */
	put32(e + pvh, 0xfffffffd);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "malformed ELF note");
	put32(e + pvh, 4);
	/* A PVH note with a value of odd size or above 4 GiB. */
	put32(e + pvh + 4, 2);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "2-byte");
	put32(e + pvh + 4, 8);
	entry = 0x100000000ULL;
	memcpy(e + pvh + 16, &entry, 8);
	expect_error(e, SYNTH_ELF_SIZE, -ENOEXEC, "above 4 GiB");
	free(e);
}

/* Two PT_NOTE headers over the same and over partly shared bytes. */
static void test_overlapping_note_segments(void **state)
{
	uint8_t *e = synth_elf(1);
	uint8_t *e2 = calloc(1, SYNTH_ELF_SIZE);
	struct elf_pvh_image im;
	char err[256];
	uint64_t notes_len;

	(void)state;
	memcpy(&notes_len, e + PH_OFF(2, p_filesz), 8);
	memcpy(e2, e, SYNTH_ELF_SIZE);
	/* Phdr 3 duplicates the note segment, starting 4 bytes in (mid-note). */
	put16(e2 + offsetof(Elf64_Ehdr, e_phnum), 4);
	memmove(e2 + SYNTH_ELF_NOTE_OFF + 0x100, e2 + SYNTH_ELF_NOTE_OFF, notes_len);
	memset(e2 + SYNTH_ELF_NOTE_OFF, 0, 0x100);
	put64(e2 + PH_OFF(2, p_offset), SYNTH_ELF_NOTE_OFF + 0x100);
	synth_phdr(e2, 3, PT_NOTE, SYNTH_ELF_NOTE_OFF + 0x104, 0, notes_len - 4, notes_len - 4, 4);
	/* The first note segment has the entry: the second is not read. */
	assert_int_equal(parse(e2, SYNTH_ELF_SIZE, &im, err, sizeof(err)), 0);
	assert_int_equal(im.entry, SYNTH_ELF_ENTRY);
	/* Reversed, the misaligned view comes first and reads as garbage notes. */
	synth_phdr(e2, 2, PT_NOTE, SYNTH_ELF_NOTE_OFF + 0x104, 0, notes_len - 4, notes_len - 4, 4);
	synth_phdr(e2, 3, PT_NOTE, SYNTH_ELF_NOTE_OFF + 0x100, 0, notes_len, notes_len, 4);
	assert_int_not_equal(parse(e2, SYNTH_ELF_SIZE, &im, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "malformed"));
	free(e2);
	free(e);
}

static void test_truncated(void **state)
{
	uint8_t *e = synth_elf(1);
	struct elf_pvh_image im;
	char err[256];

	(void)state;
	for (size_t len = 0; len < SYNTH_ELF_SIZE; len++)
		assert_int_not_equal(parse(e, len, &im, err, sizeof(err)), 0);
	assert_int_equal(parse(e, SYNTH_ELF_SIZE, &im, err, sizeof(err)), 0);
	assert_int_not_equal(elf_pvh_parse(NULL, 0, &im, err, sizeof(err)), 0);
	free(e);
}

static void test_random_corruption(void **state)
{
	uint8_t *e = synth_elf(1);
	uint64_t x = 0x243f6a8885a308d3ULL;
	struct elf_pvh_image im;
	char err[256];

	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		uint8_t *c = synth_dup(e, SYNTH_ELF_SIZE);
		int flips = 1 + iter % 6;

		for (int i = 0; i < flips; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* Headers, program headers and notes. */
			if (x & 1)
				c[(x >> 8) % (sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr))] =
				    (uint8_t)(x >> 32);
			else
				c[SYNTH_ELF_NOTE_OFF + (x >> 8) % 0x80] = (uint8_t)(x >> 32);
		}
		if (parse(c, SYNTH_ELF_SIZE, &im, err, sizeof(err)) == 0) {
			assert_true(im.nr_segments >= 1 && im.nr_segments <= ELF_PVH_MAX_SEGMENTS);
			for (unsigned i = 0; i < im.nr_segments; i++) {
				assert_true(im.segments[i].offset + im.segments[i].filesz <=
					    SYNTH_ELF_SIZE);
				assert_true(im.segments[i].filesz <= im.segments[i].memsz);
			}
		}
		free(c);
	}
	free(e);
}

static void test_real_vmlinux(void **state)
{
	const char *path = getenv("HEARTH_TEST_VMLINUX");
	struct elf_pvh_image im;
	uint8_t *data;
	size_t len;
	char err[256];
	unsigned i;

	(void)state;
	if (!path || !*path) {
		printf("skipped: HEARTH_TEST_VMLINUX is not set (make one with "
		       "scripts/extract-vmlinux.sh from a Debian vmlinuz)\n");
		skip();
	}
	if (access(path, R_OK) != 0) {
		printf("skipped: HEARTH_TEST_VMLINUX=%s does not exist or is not readable\n", path);
		skip();
	}
	assert_int_equal(read_whole_file(path, 1024 * MiB, &data, &len), 0);
	if (elf_pvh_parse(data, len, &im, err, sizeof(err)) != 0)
		fail_msg("%s: %s", path, err);
	assert_true(im.nr_segments >= 2);
	assert_true(im.paddr_start >= 1 * MiB);
	assert_true(im.entry >= im.paddr_start && im.entry < im.paddr_end);
	/* The entry lands in the first (text) segment of a Linux kernel. */
	for (i = 0; i < im.nr_segments; i++)
		if (im.entry >= im.segments[i].paddr &&
		    im.entry < im.segments[i].paddr + im.segments[i].filesz)
			break;
	assert_true(i < im.nr_segments);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_entry_note_4_bytes),
	    cmocka_unit_test(test_no_pvh_note),
	    cmocka_unit_test(test_header_checks),
	    cmocka_unit_test(test_segment_beyond_file),
	    cmocka_unit_test(test_bad_segments),
	    cmocka_unit_test(test_too_many_segments),
	    cmocka_unit_test(test_bad_notes),
	    cmocka_unit_test(test_overlapping_note_segments),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_random_corruption),
	    cmocka_unit_test(test_real_vmlinux),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
