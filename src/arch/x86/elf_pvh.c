/* SPDX-License-Identifier: MIT */
/* vmlinux ELF parsing for the PVH boot entry. */
#include "arch/x86/elf_pvh.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

bool elf_pvh_probe(const uint8_t *data, size_t len)
{
	return data && len >= SELFMAG && memcmp(data, ELFMAG, SELFMAG) == 0;
}

/* Range [off, off + size) lies inside a buffer of len bytes (no overflow). */
static bool range_ok(uint64_t off, uint64_t size, uint64_t len)
{
	return off <= len && size <= len - off;
}

static uint64_t align_up4or8(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

/*
 * Scan the notes in data[off, off + size) for the PVH entry. Returns 1 and
 * sets *entry when found, 0 when absent, -ENOEXEC for a malformed note.
 */
static int find_pvh_note(const uint8_t *data, uint64_t off, uint64_t size, uint64_t align,
			 uint32_t *entry, char *err, size_t errlen)
{
	uint64_t pos = 0;

	while (size - pos >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t name_off, desc_off, next;

		memcpy(&nh, data + off + pos, sizeof(nh));
		name_off = pos + sizeof(nh);
		desc_off = name_off + align_up4or8(nh.n_namesz, align);
		next = desc_off + align_up4or8(nh.n_descsz, align);
		/* The last note's padding may be cut off by the segment's end. */
		if (desc_off > size || nh.n_descsz > size - desc_off) {
			snprintf(err, errlen,
				 "malformed ELF note at file offset 0x%llx (name %u, desc %u "
				 "bytes overrun its %llu-byte segment)",
				 (unsigned long long)(off + pos), nh.n_namesz, nh.n_descsz,
				 (unsigned long long)size);
			return -ENOEXEC;
		}
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(data + off + name_off, "Xen", 4) == 0) {
			const uint8_t *d = data + off + desc_off;
			uint64_t v;

			if (nh.n_descsz == 4) {
				uint32_t v32;

				memcpy(&v32, d, 4);
				v = v32;
			} else if (nh.n_descsz == 8) {
				memcpy(&v, d, 8);
			} else {
				snprintf(err, errlen, "PVH entry note has a %u-byte value",
					 nh.n_descsz);
				return -ENOEXEC;
			}
			if (v > UINT32_MAX) {
				snprintf(err, errlen, "PVH entry point 0x%llx is above 4 GiB",
					 (unsigned long long)v);
				return -ENOEXEC;
			}
			*entry = (uint32_t)v;
			return 1;
		}
		if (next >= size)
			break;
		pos = next;
	}
	return 0;
}

static int check_ehdr(const Elf64_Ehdr *eh, size_t len, char *err, size_t errlen)
{
	if (eh->e_ident[EI_CLASS] != ELFCLASS64) {
		snprintf(err, errlen, "ELF kernel is not 64-bit (class %u)", eh->e_ident[EI_CLASS]);
		return -ENOEXEC;
	}
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB) {
		snprintf(err, errlen, "ELF kernel is not little-endian");
		return -ENOEXEC;
	}
	if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT) {
		snprintf(err, errlen, "ELF kernel has unknown ELF version %u", eh->e_version);
		return -ENOEXEC;
	}
	if (eh->e_machine != EM_X86_64) {
		snprintf(err, errlen, "ELF kernel is not for x86-64 (e_machine %u)", eh->e_machine);
		return -ENOEXEC;
	}
	if (eh->e_type != ET_EXEC) {
		snprintf(err, errlen, "ELF kernel is not an executable (e_type %u)", eh->e_type);
		return -ENOEXEC;
	}
	if (eh->e_phentsize != sizeof(Elf64_Phdr)) {
		snprintf(err, errlen, "ELF kernel has %u-byte program headers (expected %zu)",
			 eh->e_phentsize, sizeof(Elf64_Phdr));
		return -ENOEXEC;
	}
	if (eh->e_phnum == 0 || eh->e_phnum > ELF_PVH_MAX_PHDRS) {
		snprintf(err, errlen, "ELF kernel has %u program headers (1..%u accepted)",
			 eh->e_phnum, ELF_PVH_MAX_PHDRS);
		return -ENOEXEC;
	}
	if (!range_ok(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), len)) {
		snprintf(err, errlen, "ELF program headers lie beyond the end of the file");
		return -ENOEXEC;
	}
	return 0;
}

static int add_load(struct elf_pvh_image *out, const Elf64_Phdr *ph, unsigned idx, size_t len,
		    char *err, size_t errlen)
{
	struct elf_pvh_segment *s;
	unsigned i;

	if (ph->p_memsz == 0)
		return 0;
	if (ph->p_filesz > ph->p_memsz) {
		snprintf(err, errlen, "ELF segment %u has filesz 0x%llx > memsz 0x%llx", idx,
			 (unsigned long long)ph->p_filesz, (unsigned long long)ph->p_memsz);
		return -ENOEXEC;
	}
	if (!range_ok(ph->p_offset, ph->p_filesz, len)) {
		snprintf(err, errlen,
			 "ELF segment %u (offset 0x%llx, size 0x%llx) lies beyond the end of the "
			 "%zu-byte file",
			 idx, (unsigned long long)ph->p_offset, (unsigned long long)ph->p_filesz,
			 len);
		return -ENOEXEC;
	}
	if (ph->p_paddr + ph->p_memsz < ph->p_paddr) {
		snprintf(err, errlen, "ELF segment %u wraps around the address space", idx);
		return -ENOEXEC;
	}
	for (i = 0; i < out->nr_segments; i++) {
		const struct elf_pvh_segment *o = &out->segments[i];

		if (ph->p_paddr < o->paddr + o->memsz && o->paddr < ph->p_paddr + ph->p_memsz) {
			snprintf(err, errlen, "ELF segment %u overlaps another at 0x%llx", idx,
				 (unsigned long long)o->paddr);
			return -ENOEXEC;
		}
	}
	if (out->nr_segments == ELF_PVH_MAX_SEGMENTS) {
		snprintf(err, errlen, "ELF kernel has more than %u loadable segments",
			 ELF_PVH_MAX_SEGMENTS);
		return -ENOEXEC;
	}
	s = &out->segments[out->nr_segments++];
	s->paddr = ph->p_paddr;
	s->offset = ph->p_offset;
	s->filesz = ph->p_filesz;
	s->memsz = ph->p_memsz;
	if (out->nr_segments == 1 || s->paddr < out->paddr_start)
		out->paddr_start = s->paddr;
	if (s->paddr + s->memsz > out->paddr_end)
		out->paddr_end = s->paddr + s->memsz;
	return 0;
}

int elf_pvh_parse(const uint8_t *data, size_t len, struct elf_pvh_image *out, char *err,
		  size_t errlen)
{
	Elf64_Ehdr eh;
	bool found = false;
	unsigned i;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!elf_pvh_probe(data, len)) {
		snprintf(err, errlen, "not an ELF file");
		return -ENOEXEC;
	}
	if (len < sizeof(eh)) {
		snprintf(err, errlen, "ELF file truncated (%zu bytes)", len);
		return -ENOEXEC;
	}
	memcpy(&eh, data, sizeof(eh));
	ret = check_ehdr(&eh, len, err, errlen);
	if (ret)
		return ret;

	for (i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, data + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD) {
			ret = add_load(out, &ph, i, len, err, errlen);
			if (ret)
				return ret;
		} else if (ph.p_type == PT_NOTE && !found) {
			if (!range_ok(ph.p_offset, ph.p_filesz, len)) {
				snprintf(err, errlen,
					 "ELF note segment %u lies beyond the end of the file", i);
				return -ENOEXEC;
			}
			ret = find_pvh_note(data, ph.p_offset, ph.p_filesz, ph.p_align == 8 ? 8 : 4,
					    &out->entry, err, errlen);
			if (ret < 0)
				return ret;
			found = ret == 1;
		}
	}
	if (out->nr_segments == 0) {
		snprintf(err, errlen, "ELF kernel has no loadable segments");
		return -ENOEXEC;
	}
	if (!found) {
		snprintf(err, errlen, "ELF kernel has no PVH entry note (needs CONFIG_PVH)");
		return -ENOENT;
	}
	for (i = 0; i < out->nr_segments; i++) {
		const struct elf_pvh_segment *s = &out->segments[i];

		if (out->entry >= s->paddr && out->entry < s->paddr + s->filesz)
			break;
	}
	if (i == out->nr_segments) {
		snprintf(err, errlen, "PVH entry point 0x%x is outside the loaded segments",
			 out->entry);
		return -ENOEXEC;
	}
	return 0;
}
