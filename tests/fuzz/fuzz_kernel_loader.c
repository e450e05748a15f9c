/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the kernel loaders. The input's first byte picks the initrd
 * size and the command line; the rest is the kernel file. It goes through
 * bzimage_parse() and elf_pvh_parse() directly, then through boot_load()
 * into a 32 MiB guest whose RAM has inaccessible guard pages on both sides
 * (a write past RAM crashes instead of landing elsewhere).
 *
 * Oracles: a parsed bzImage's parts lie inside the file; a parsed ELF's
 * segments lie inside the file, do not overlap in memory and are counted
 * within the limit; a successful boot_load() puts the kernel, the initrd
 * and the boot information inside RAM, the initrd below the kernel's limit.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/bzimage.h"
#include "arch/x86/elf_pvh.h"
#include "arch/x86/layout.h"
#include "core/util.h"
#include "fuzz_util.h"

#define RAM_SIZE (32ULL << 20)

static bool in_ram(const struct machine_layout *l, uint64_t start, uint64_t end)
{
	return start <= end && end <= l->low_ram_end;
}

static void check_bzimage(const uint8_t *data, size_t size)
{
	struct bzimage_info bi;
	char err[256];

	if (bzimage_parse(data, size, &bi, err, sizeof(err)))
		return;
	FUZZ_TRACE("bzImage: version %#x setup %zu pm %zu+%zu\n", bi.version, bi.setup_size,
		   bi.pm_offset, bi.pm_size);
	FUZZ_CHECK(bi.setup_size <= size);
	FUZZ_CHECK(bi.pm_offset <= size && bi.pm_size <= size - bi.pm_offset);
	FUZZ_CHECK(bi.hdr_end <= BZ_HDR_AREA_END && bi.hdr_end <= size);
}

static void check_elf(const uint8_t *data, size_t size)
{
	struct elf_pvh_image img;
	char err[256];

	if (elf_pvh_parse(data, size, &img, err, sizeof(err)))
		return;
	FUZZ_TRACE("ELF: entry %#x, %u segments\n", img.entry, img.nr_segments);
	FUZZ_CHECK(img.nr_segments <= ELF_PVH_MAX_SEGMENTS);
	for (unsigned i = 0; i < img.nr_segments; i++) {
		const struct elf_pvh_segment *s = &img.segments[i];

		FUZZ_CHECK(s->offset <= size && s->filesz <= size - s->offset);
		FUZZ_CHECK(s->filesz <= s->memsz);
		FUZZ_CHECK(s->paddr + s->memsz >= s->paddr);
		FUZZ_CHECK(s->paddr >= img.paddr_start && s->paddr + s->memsz <= img.paddr_end);
		for (unsigned j = 0; j < i; j++) {
			const struct elf_pvh_segment *t = &img.segments[j];

			FUZZ_CHECK(s->paddr + s->memsz <= t->paddr ||
				   t->paddr + t->memsz <= s->paddr);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const cmdlines[] = {NULL, "", "console=ttyS0 quiet",
					       "root=/dev/vda rw init=/sbin/init panic=-1"};
	static const size_t initrd_sizes[] = {0, 1, 4096, 12345, 1u << 20, 4u << 20, 31u << 20};
	static struct machine_layout l;
	static struct guest_memory gm;
	static uint8_t *initrd;
	static bool ready;
	struct boot_input bin = {0};
	struct boot_entry out;
	char err[256];
	uint8_t *kernel;
	uint8_t sel;
	int r;

	fuzz_quiet();
	if (!ready) {
		struct gm_range range;

		FUZZ_CHECK(layout_compute(&l, RAM_SIZE, 1, 40, err, sizeof(err)) == 0);
		FUZZ_CHECK(l.high_ram_size == 0);
		range = (struct gm_range){0, l.low_ram_end};
		FUZZ_CHECK(fuzz_gm_create(&gm, &range, 1) == 0);
		initrd = malloc(31u << 20);
		FUZZ_CHECK(initrd != NULL);
		memset(initrd, 0x5a, 31u << 20);
		ready = true;
	}
	if (size == 0)
		return 0;
	sel = data[0];
	/* An exact-size heap copy: reads past the file's end are caught by ASan. */
	kernel = malloc(size - 1 ? size - 1 : 1);
	FUZZ_CHECK(kernel != NULL);
	memcpy(kernel, data + 1, size - 1);

	check_bzimage(kernel, size - 1);
	check_elf(kernel, size - 1);

	bin.kernel = kernel;
	bin.kernel_len = size - 1;
	bin.initrd = initrd;
	bin.initrd_len = initrd_sizes[(sel & 7) % ARRAY_SIZE(initrd_sizes)];
	bin.cmdline = cmdlines[(sel >> 3) & 3];
	bin.rsdp_gpa = sel & 0x20 ? 0xe0000 : 0;
	memset(&out, 0, sizeof(out));
	r = boot_load(&gm, &l, &bin, &out, err, sizeof(err));
	FUZZ_TRACE("boot_load: %d %s\n", r, r ? err : "");
	if (r == 0) {
		FUZZ_CHECK(in_ram(&l, out.kernel_start, out.kernel_end));
		FUZZ_CHECK(out.boot_info_gpa < l.low_ram_end);
		FUZZ_CHECK(out.mode == BOOT_ENTRY_LINUX64 || out.mode == BOOT_ENTRY_PVH32);
		if (bin.initrd_len) {
			FUZZ_CHECK(out.initrd_size == bin.initrd_len);
			FUZZ_CHECK(in_ram(&l, out.initrd_gpa, out.initrd_gpa + out.initrd_size));
			FUZZ_CHECK(out.initrd_gpa % BOOT_INITRD_ALIGN == 0);
		}
	} else {
		FUZZ_CHECK(r == -ENOEXEC || r == -ENOTSUP || r == -E2BIG || r == -ENOMEM ||
			   r == -EFAULT || r == -ENOENT || r == -EINVAL);
	}
	free(kernel);
	fuzz_gm_clear(&gm);
	return 0;
}
