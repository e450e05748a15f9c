/* SPDX-License-Identifier: MIT */
/*
 * Parsing of an uncompressed x86-64 vmlinux ELF for booting through the Xen
 * PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY): the loadable segments and the
 * 32-bit entry address. The file is untrusted host input: every header,
 * note and segment is bounds-checked against the file size.
 */
#ifndef HEARTH_ARCH_X86_ELF_PVH_H
#define HEARTH_ARCH_X86_ELF_PVH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELF_PVH_MAX_SEGMENTS 16 /* PT_LOAD segments accepted */
#define ELF_PVH_MAX_PHDRS    64 /* program headers accepted */

#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* One PT_LOAD segment: file bytes [offset, offset + filesz) go to paddr, zeros up to memsz. */
struct elf_pvh_segment {
	uint64_t paddr;
	uint64_t offset;
	uint64_t filesz;
	uint64_t memsz;
};

struct elf_pvh_image {
	uint32_t entry; /* PVH 32-bit entry point (physical) */
	unsigned nr_segments;
	struct elf_pvh_segment segments[ELF_PVH_MAX_SEGMENTS]; /* in file order */
	uint64_t paddr_start;				       /* lowest segment address */
	uint64_t paddr_end; /* end of the highest segment (exclusive) */
};

/* elf_pvh_probe - true when data starts with the ELF magic. */
bool elf_pvh_probe(const uint8_t *data, size_t len);

/*
 * elf_pvh_parse - check the ELF64 little-endian x86-64 executable in
 * data[0, len), collect its PT_LOAD segments (non-empty ones, at most
 * ELF_PVH_MAX_SEGMENTS, not overlapping in memory, file ranges inside the
 * file) and find the PVH entry note ("Xen", type 18) in its PT_NOTE
 * segments. Returns 0 and fills *out, -ENOEXEC for a malformed or non-x86-64
 * ELF, or -ENOENT when there is no PVH note; err gets a message.
 */
int elf_pvh_parse(const uint8_t *data, size_t len, struct elf_pvh_image *out, char *err,
		  size_t errlen);

#endif
