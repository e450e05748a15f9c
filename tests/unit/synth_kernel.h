/* SPDX-License-Identifier: MIT */
/*
 * Synthetic kernel images for the loader tests: a minimal bzImage (setup
 * header only, a patterned protected-mode part) and a minimal x86-64 vmlinux
 * ELF with PT_LOAD segments and a PVH entry note.
 */
#ifndef HEARTH_TESTS_SYNTH_KERNEL_H
#define HEARTH_TESTS_SYNTH_KERNEL_H

#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/bzimage.h"

static inline void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static inline void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static inline void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

#define SYNTH_SETUP_SECTS 4
#define SYNTH_SETUP_SIZE  ((SYNTH_SETUP_SECTS + 1) * 512)
#define SYNTH_PM_SIZE	  0x2000
#define SYNTH_BZ_SIZE	  (SYNTH_SETUP_SIZE + SYNTH_PM_SIZE)
#define SYNTH_PAYLOAD_OFF 0x400
#define SYNTH_PAYLOAD_LEN 0x1c00 /* to the end of the file */
#define SYNTH_INIT_SIZE	  0x400000
#define SYNTH_PREF	  0x1000000ULL

/* Byte i of the synthetic protected-mode part. */
static inline uint8_t synth_pm_byte(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/*
 * A valid bzImage (boot protocol 2.15, relocatable, 64-bit entry) of
 * SYNTH_BZ_SIZE bytes; the caller frees it. Junk fills the real-mode part
 * outside the header so that tests can see what gets copied.
 */
static inline uint8_t *synth_bzimage(void)
{
	uint8_t *b = calloc(1, SYNTH_BZ_SIZE);

	if (!b)
		abort();
	memset(b, 0xcc, SYNTH_SETUP_SIZE);
	memset(b + 0x1f1, 0, 0x290 - 0x1f1);
	b[0x1f1] = SYNTH_SETUP_SECTS;
	put32(b + 0x1f4, SYNTH_PM_SIZE / 16);
	put16(b + 0x1fa, 0xfffd);
	put16(b + 0x1fe, 0xaa55);
	b[0x200] = 0xeb;
	b[0x201] = 0x6a; /* header ends at 0x26c */
	memcpy(b + 0x202, "HdrS", 4);
	put16(b + 0x206, 0x020f);
	b[0x211] = BZ_LOADED_HIGH;
	put32(b + 0x214, 0x100000);
	put32(b + 0x22c, 0x7fffffff);
	put32(b + 0x230, 0x200000);
	b[0x234] = 1;
	b[0x235] = 21;
	put16(b + 0x236, BZ_XLF_KERNEL_64 | BZ_XLF_CAN_BE_LOADED_ABOVE_4G);
	put32(b + 0x238, 2047);
	put32(b + 0x248, SYNTH_PAYLOAD_OFF);
	put32(b + 0x24c, SYNTH_PAYLOAD_LEN);
	put64(b + 0x258, SYNTH_PREF);
	put32(b + 0x260, SYNTH_INIT_SIZE);
	for (size_t i = 0; i < SYNTH_PM_SIZE; i++)
		b[SYNTH_SETUP_SIZE + i] = synth_pm_byte(i);
	return b;
}

/* Synthetic vmlinux: text at 16 MiB (file 0x1000, 0x3000 bytes), data with bss after it. */
#define SYNTH_ELF_TEXT_PADDR  0x1000000ULL
#define SYNTH_ELF_TEXT_OFF    0x1000ULL
#define SYNTH_ELF_TEXT_SIZE   0x3000ULL
#define SYNTH_ELF_DATA_PADDR  0x1200000ULL
#define SYNTH_ELF_DATA_OFF    0x4000ULL
#define SYNTH_ELF_DATA_FILESZ 0x800ULL
#define SYNTH_ELF_DATA_MEMSZ  0x21000ULL /* bss beyond filesz */
#define SYNTH_ELF_NOTE_OFF    0x800ULL
#define SYNTH_ELF_ENTRY	      0x1000040ULL
#define SYNTH_ELF_SIZE	      0x4800 /* ends with the data segment */
#define SYNTH_ELF_PHNUM	      3	     /* LOAD text, LOAD data, NOTE */

static inline uint8_t synth_elf_byte(size_t off)
{
	return (uint8_t)(off * 13 + 5);
}

/* Write one note at p; returns its padded size. */
static inline size_t synth_note(uint8_t *p, const char *name, uint32_t type, const void *desc,
				uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	size_t nlen = (namesz + 3) & ~3U, dlen = (descsz + 3) & ~3U;

	put32(p, namesz);
	put32(p + 4, descsz);
	put32(p + 8, type);
	memcpy(p + 12, name, namesz);
	memcpy(p + 12 + nlen, desc, descsz);
	return 12 + nlen + dlen;
}

static inline void synth_phdr(uint8_t *elf, unsigned i, uint32_t type, uint64_t off, uint64_t paddr,
			      uint64_t filesz, uint64_t memsz, uint64_t align)
{
	Elf64_Phdr ph;

	memset(&ph, 0, sizeof(ph));
	ph.p_type = type;
	ph.p_flags = PF_R;
	ph.p_offset = off;
	ph.p_vaddr = paddr + 0xffffffff80000000ULL;
	ph.p_paddr = paddr;
	ph.p_filesz = filesz;
	ph.p_memsz = memsz;
	ph.p_align = align;
	memcpy(elf + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr), &ph, sizeof(ph));
}

/*
 * A valid PVH vmlinux of SYNTH_ELF_SIZE bytes. Its note segment holds four
 * notes (24, 36, 24 and 24 bytes); the third is the PVH entry note, left out
 * when with_pvh is 0. The caller frees it.
 */
static inline uint8_t *synth_elf(int with_pvh)
{
	uint8_t *e = calloc(1, SYNTH_ELF_SIZE);
	Elf64_Ehdr eh;
	uint64_t entry = SYNTH_ELF_ENTRY;
	uint8_t gnu_id[20];
	size_t n = 0;

	if (!e)
		abort();
	for (size_t i = SYNTH_ELF_TEXT_OFF; i < SYNTH_ELF_SIZE; i++)
		e[i] = synth_elf_byte(i);
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = SYNTH_ELF_TEXT_PADDR;
	eh.e_phoff = sizeof(Elf64_Ehdr);
	eh.e_ehsize = sizeof(Elf64_Ehdr);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = SYNTH_ELF_PHNUM;
	memcpy(e, &eh, sizeof(eh));

	memset(gnu_id, 0x5a, sizeof(gnu_id));
	n += synth_note(e + SYNTH_ELF_NOTE_OFF + n, "Xen", 6, "linux", 6);
	n += synth_note(e + SYNTH_ELF_NOTE_OFF + n, "GNU", NT_GNU_BUILD_ID, gnu_id, 20);
	if (with_pvh)
		n += synth_note(e + SYNTH_ELF_NOTE_OFF + n, "Xen", 18, &entry, 8);
	n += synth_note(e + SYNTH_ELF_NOTE_OFF + n, "Linux", 1, "x", 2);

	synth_phdr(e, 0, PT_LOAD, SYNTH_ELF_TEXT_OFF, SYNTH_ELF_TEXT_PADDR, SYNTH_ELF_TEXT_SIZE,
		   SYNTH_ELF_TEXT_SIZE, 0x200000);
	synth_phdr(e, 1, PT_LOAD, SYNTH_ELF_DATA_OFF, SYNTH_ELF_DATA_PADDR, SYNTH_ELF_DATA_FILESZ,
		   SYNTH_ELF_DATA_MEMSZ, 0x200000);
	synth_phdr(e, 2, PT_NOTE, SYNTH_ELF_NOTE_OFF, 0, n, n, 4);
	return e;
}

/* A copy of data[0, len) in a buffer of exactly len bytes (so ASan sees overreads). */
static inline uint8_t *synth_dup(const uint8_t *data, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	if (!p)
		abort();
	memcpy(p, data, len);
	return p;
}

#endif
