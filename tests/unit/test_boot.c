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

#include "arch/x86/boot.h"
#include "arch/x86/bzimage.h"
#include "arch/x86/elf_pvh.h"
#include "arch/x86/layout.h"
#include "core/guest_memory.h"
#include "core/util.h"
#include "synth_kernel.h"

#define RSDP 0xe0000ULL

struct vm {
	struct machine_layout l;
	struct guest_memory gm;
};

/* Guest RAM for a layout of ram bytes: [0, low_ram_end) and the part above 4 GiB. */
static void vm_init(struct vm *vm, uint64_t ram)
{
	struct gm_range r[2];
	unsigned nr = 0;
	char err[256];

	if (layout_compute(&vm->l, ram, 1, 40, err, sizeof(err)))
		fail_msg("%s", err);
	r[nr++] = (struct gm_range){0, vm->l.low_ram_end};
	if (vm->l.high_ram_size)
		r[nr++] = (struct gm_range){LAYOUT_4G, vm->l.high_ram_size};
	assert_int_equal(gm_create(&vm->gm, r, nr, GM_BACKING_ANON, NULL), 0);
}

static uint8_t *patterned(size_t len, uint8_t seed)
{
	uint8_t *p = malloc(len);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 12));
	return p;
}

static void assert_guest_equal(struct vm *vm, uint64_t gpa, const void *data, size_t len)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	assert_int_equal(gm_read(&vm->gm, gpa, buf, len), 0);
	if (memcmp(buf, data, len) != 0)
		fail_msg("guest memory at 0x%llx differs", (unsigned long long)gpa);
	free(buf);
}

static void read_zero_page(struct vm *vm, struct bz_boot_params *bp)
{
	assert_int_equal(gm_read(&vm->gm, LAYOUT_ZERO_PAGE_ADDR, bp, sizeof(*bp)), 0);
}

static void check_zero_page_e820(const struct machine_layout *l, const struct bz_boot_params *bp)
{
	struct e820_entry e[LAYOUT_MAX_E820];
	int n = layout_e820(l, e, LAYOUT_MAX_E820);

	assert_true(n >= 4);
	assert_int_equal(bp->e820_entries, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(bp->e820_table[i].addr, e[i].addr);
		assert_int_equal(bp->e820_table[i].size, e[i].size);
		assert_int_equal(bp->e820_table[i].type, e[i].type);
	}
	assert_int_equal(bp->e820_table[n].size, 0);
}

static void test_kernel_kind(void **state)
{
	uint8_t *b = synth_bzimage(), *e = synth_elf(1);

	(void)state;
	assert_int_equal(boot_kernel_kind(b, SYNTH_BZ_SIZE), 'b');
	assert_int_equal(boot_kernel_kind(e, SYNTH_ELF_SIZE), 'e');
	assert_int_equal(boot_kernel_kind(e, 3), 0);
	assert_int_equal(boot_kernel_kind((const uint8_t *)"hello", 5), 0);
	assert_int_equal(boot_kernel_kind(NULL, 0), 0);
	free(b);
	free(e);
}

static void test_bzimage_layout(void **state)
{
	struct vm vm;
	uint8_t *b = synth_bzimage();
	size_t initrd_len = 3 * MiB + 123;
	uint8_t *initrd = patterned(initrd_len, 7);
	const char *cmdline = "console=ttyS0 root=/dev/vda rw";
	struct boot_input in = {b, SYNTH_BZ_SIZE, initrd, initrd_len, cmdline, RSDP};
	struct boot_entry out;
	struct bz_boot_params bp;
	char err[256];
	uint64_t expect_initrd;

	(void)state;
	vm_init(&vm, 256 * MiB);
	if (boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(out.mode, BOOT_ENTRY_LINUX64);
	assert_int_equal(out.rip, SYNTH_PREF + 0x200);
	assert_int_equal(out.boot_info_gpa, LAYOUT_ZERO_PAGE_ADDR);
	assert_int_equal(out.kernel_start, SYNTH_PREF);
	assert_int_equal(out.kernel_end, SYNTH_PREF + SYNTH_INIT_SIZE);
	/* Highest 4 KiB-aligned place below the end of RAM (below initrd_addr_max). */
	expect_initrd = ALIGN_DOWN(256 * MiB - initrd_len, 4096);
	assert_int_equal(out.initrd_gpa, expect_initrd);
	assert_int_equal(out.initrd_size, initrd_len);

	/* The protected-mode part at the load address, the initrd, the command line. */
	assert_guest_equal(&vm, SYNTH_PREF, b + SYNTH_SETUP_SIZE, SYNTH_PM_SIZE);
	assert_guest_equal(&vm, expect_initrd, initrd, initrd_len);
	assert_guest_equal(&vm, LAYOUT_CMDLINE_ADDR, cmdline, strlen(cmdline) + 1);

	read_zero_page(&vm, &bp);
	/* The image's header is copied... */
	assert_int_equal(bp.hdr.header, BZ_MAGIC);
	assert_int_equal(bp.hdr.version, 0x020f);
	assert_int_equal(bp.hdr.boot_flag, 0xaa55);
	assert_int_equal(bp.hdr.setup_sects, SYNTH_SETUP_SECTS);
	assert_int_equal(bp.hdr.kernel_alignment, 0x200000);
	assert_int_equal(bp.hdr.init_size, SYNTH_INIT_SIZE);
	assert_int_equal(bp.hdr.pref_address, SYNTH_PREF);
	assert_int_equal(bp.hdr.cmdline_size, 2047);
	/* ...and nothing of the real-mode code around it (0xcc junk). */
	assert_int_equal(bp.sentinel, 0);
	assert_int_equal(bp.e820_entries == 0xcc, 0);
	assert_int_equal(bp._pad7[0], 0);
	/* The loader's fields. */
	assert_int_equal(bp.hdr.type_of_loader, 0xff);
	assert_int_equal(bp.hdr.loadflags, BZ_LOADED_HIGH | BZ_CAN_USE_HEAP);
	assert_int_equal(bp.hdr.heap_end_ptr, BOOT_HEAP_END_PTR);
	assert_int_equal(bp.hdr.vid_mode, 0xffff);
	assert_int_equal(bp.hdr.code32_start, SYNTH_PREF);
	assert_int_equal(bp.hdr.cmd_line_ptr, LAYOUT_CMDLINE_ADDR);
	assert_int_equal(bp.ext_cmd_line_ptr, 0);
	assert_int_equal(bp.hdr.ramdisk_image, expect_initrd);
	assert_int_equal(bp.hdr.ramdisk_size, initrd_len);
	assert_int_equal(bp.ext_ramdisk_image, 0);
	assert_int_equal(bp.ext_ramdisk_size, 0);
	assert_int_equal(bp.hdr.setup_data, 0);
	assert_int_equal(bp.acpi_rsdp_addr, RSDP);
	check_zero_page_e820(&vm.l, &bp);

	gm_destroy(&vm.gm);
	free(initrd);
	free(b);
}

/* initrd_addr_max and memory above 4 GiB: the initrd stays below both limits. */
static void test_bzimage_initrd_limits(void **state)
{
	struct vm vm;
	uint8_t *b = synth_bzimage();
	uint8_t *initrd = patterned(2 * MiB, 1);
	struct boot_input in = {b, SYNTH_BZ_SIZE, initrd, 2 * MiB, NULL, 0};
	struct boot_entry out;
	struct bz_boot_params bp;
	char err[256];

	(void)state;
	put32(b + 0x22c, 0x7ffffff); /* initrd below 128 MiB */
	vm_init(&vm, 256 * MiB);
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.initrd_gpa, 128 * MiB - 2 * MiB);
	assert_guest_equal(&vm, out.initrd_gpa, initrd, 2 * MiB);
	read_zero_page(&vm, &bp);
	assert_int_equal(bp.hdr.ramdisk_image, 126 * MiB);
	assert_int_equal(bp.acpi_rsdp_addr, 0);
	/* No command line given: an empty one. */
	assert_guest_equal(&vm, LAYOUT_CMDLINE_ADDR, "", 1);
	gm_destroy(&vm.gm);

	/* 4 GiB of RAM: low RAM ends at 3 GiB, the kernel limits to 2 GiB. */
	put32(b + 0x22c, 0x7fffffff);
	vm_init(&vm, 4 * GiB);
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.initrd_gpa, 2 * GiB - 2 * MiB);
	read_zero_page(&vm, &bp);
	check_zero_page_e820(&vm.l, &bp);
	gm_destroy(&vm.gm);

	/* A kernel that takes the initrd anywhere below 4 GiB: still below low RAM's end. */
	put32(b + 0x22c, 0xffffffff);
	vm_init(&vm, 4 * GiB);
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.initrd_gpa, vm.l.low_ram_end - 2 * MiB);
	gm_destroy(&vm.gm);

	/* An initrd with a length that is not a page multiple keeps 4 KiB alignment. */
	in.initrd_len = 2 * MiB - 1;
	vm_init(&vm, 64 * MiB);
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.initrd_gpa, 62 * MiB);
	assert_int_equal(out.initrd_size, 2 * MiB - 1);
	gm_destroy(&vm.gm);
	free(initrd);
	free(b);
}

static void test_bzimage_no_initrd(void **state)
{
	struct vm vm;
	uint8_t *b = synth_bzimage();
	struct boot_input in = {b, SYNTH_BZ_SIZE, NULL, 0, "quiet", RSDP};
	struct boot_entry out;
	struct bz_boot_params bp;
	char err[256];

	(void)state;
	put16(b + 0x206, 0x020d); /* 2.13: no acpi_rsdp_addr field yet */
	vm_init(&vm, 64 * MiB);
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.initrd_gpa, 0);
	assert_int_equal(out.initrd_size, 0);
	read_zero_page(&vm, &bp);
	assert_int_equal(bp.hdr.ramdisk_image, 0);
	assert_int_equal(bp.hdr.ramdisk_size, 0);
	assert_int_equal(bp.acpi_rsdp_addr, 0);
	assert_int_equal(bp.hdr.version, 0x020d);
	gm_destroy(&vm.gm);
	free(b);
}

/* Where a kernel goes when it cannot go to pref_address. */
static void test_bzimage_load_address(void **state)
{
	struct vm vm;
	uint8_t *b = synth_bzimage();
	struct boot_input in = {b, SYNTH_BZ_SIZE, NULL, 0, NULL, 0};
	struct boot_entry out;
	char err[256];

	(void)state;
	vm_init(&vm, 64 * MiB);

	/* No usable preference: the lowest kernel_alignment boundary above 1 MiB. */
	put64(b + 0x258, 0);
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.rip, 2 * MiB + 0x200);
	assert_int_equal(out.kernel_start, 2 * MiB);
	assert_int_equal(out.kernel_end, 2 * MiB + SYNTH_INIT_SIZE);
	assert_guest_equal(&vm, 2 * MiB, b + SYNTH_SETUP_SIZE, SYNTH_PM_SIZE);

	/* A misaligned preference is not taken either. */
	put64(b + 0x258, SYNTH_PREF + 0x1000);
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.rip, 2 * MiB + 0x200);
	/* The kernel still decompresses itself at pref_address and above. */
	assert_int_equal(out.kernel_end, SYNTH_PREF + 0x1000 + SYNTH_INIT_SIZE);

	/* A fixed kernel: loaded at 1 MiB, runs at pref_address. */
	put64(b + 0x258, SYNTH_PREF);
	b[0x234] = 0;
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.rip, 1 * MiB + 0x200);
	assert_int_equal(out.kernel_start, 1 * MiB);
	assert_int_equal(out.kernel_end, SYNTH_PREF + SYNTH_INIT_SIZE);
	assert_guest_equal(&vm, 1 * MiB, b + SYNTH_SETUP_SIZE, SYNTH_PM_SIZE);
	gm_destroy(&vm.gm);
	free(b);
}

static void test_bzimage_memory_too_small(void **state)
{
	struct vm vm;
	uint8_t *b = synth_bzimage();
	struct boot_input in = {b, SYNTH_BZ_SIZE, NULL, 0, NULL, 0};
	struct boot_entry out;
	char err[256];

	(void)state;
	put32(b + 0x260, 64 * MiB); /* needs RAM up to 80 MiB */
	vm_init(&vm, 64 * MiB);
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), -ENOMEM);
	assert_non_null(strstr(err, "memory too small for the kernel"));
	assert_non_null(strstr(err, "80 MiB"));
	assert_non_null(strstr(err, "64 MiB"));
	gm_destroy(&vm.gm);

	vm_init(&vm, 80 * MiB); /* exactly enough */
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.kernel_end, 80 * MiB);
	gm_destroy(&vm.gm);
	free(b);
}

static void test_bzimage_initrd_too_big(void **state)
{
	struct vm vm;
	uint8_t *b = synth_bzimage();
	size_t len = 64 * MiB - SYNTH_PREF - SYNTH_INIT_SIZE; /* exactly the room left */
	uint8_t *initrd = patterned(len + 4096, 3);
	struct boot_input in = {b, SYNTH_BZ_SIZE, initrd, len, NULL, 0};
	struct boot_entry out;
	char err[256];

	(void)state;
	vm_init(&vm, 64 * MiB);
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.initrd_gpa, SYNTH_PREF + SYNTH_INIT_SIZE);
	in.initrd_len = len + 1;
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), -ENOMEM);
	assert_non_null(strstr(err, "initrd"));
	in.initrd_len = 128 * MiB;
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), -ENOMEM);
	assert_non_null(strstr(err, "does not fit"));
	gm_destroy(&vm.gm);
	free(initrd);
	free(b);
}

static void test_cmdline_limits(void **state)
{
	struct vm vm;
	uint8_t *b = synth_bzimage(), *e = synth_elf(1);
	char *cmd = malloc(LAYOUT_CMDLINE_MAX + 1);
	struct boot_input in = {b, SYNTH_BZ_SIZE, NULL, 0, cmd, 0};
	struct boot_entry out;
	char err[256];

	(void)state;
	vm_init(&vm, 64 * MiB);
	put32(b + 0x238, 16);
	memset(cmd, 'a', 16);
	cmd[16] = 0;
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), 0);
	assert_guest_equal(&vm, LAYOUT_CMDLINE_ADDR, cmd, 17);
	cmd[16] = 'b';
	cmd[17] = 0;
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "17 bytes"));
	assert_non_null(strstr(err, "at most 16"));

	/* A kernel that takes more than hearth has room for: hearth's limit. */
	put32(b + 0x238, 0x7fffffff);
	memset(cmd, 'c', LAYOUT_CMDLINE_MAX);
	cmd[LAYOUT_CMDLINE_MAX] = 0;
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "65536 bytes"));
	assert_non_null(strstr(err, "at most 65535"));
	cmd[LAYOUT_CMDLINE_MAX - 1] = 0;
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), 0);

	/* PVH kernels: hearth's limit. */
	in.kernel = e;
	in.kernel_len = SYNTH_ELF_SIZE;
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), 0);
	cmd[LAYOUT_CMDLINE_MAX - 1] = 'd';
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), -E2BIG);
	gm_destroy(&vm.gm);
	free(cmd);
	free(b);
	free(e);
}

static void test_bad_kernels(void **state)
{
	struct vm vm;
	uint8_t *b = synth_bzimage(), *e = synth_elf(0);
	struct boot_input in = {(const uint8_t *)"garbage!", 8, NULL, 0, NULL, 0};
	struct boot_entry out;
	char err[256];

	(void)state;
	vm_init(&vm, 64 * MiB);
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "neither"));
	put16(b + 0x236, 0);
	in.kernel = b;
	in.kernel_len = SYNTH_BZ_SIZE;
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "64-bit"));
	in.kernel = e;
	in.kernel_len = SYNTH_ELF_SIZE;
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "ELF kernel has no PVH entry note (needs CONFIG_PVH)");
	gm_destroy(&vm.gm);
	free(b);
	free(e);
}

static void test_pvh_layout(void **state)
{
	struct vm vm;
	uint8_t *e = synth_elf(1);
	size_t initrd_len = 1 * MiB + 5;
	uint8_t *initrd = patterned(initrd_len, 9);
	uint8_t *junk = patterned(SYNTH_ELF_DATA_MEMSZ, 0x55);
	const char *cmdline = "console=hvc0 init=/init";
	struct boot_input in = {e, SYNTH_ELF_SIZE, initrd, initrd_len, cmdline, RSDP};
	struct boot_entry out;
	struct hvm_start_info si;
	struct hvm_modlist_entry mod;
	struct hvm_memmap_table_entry mm[LAYOUT_MAX_E820];
	struct e820_entry e820[LAYOUT_MAX_E820];
	uint8_t *zeros = calloc(1, SYNTH_ELF_DATA_MEMSZ);
	char err[256];
	int n;

	(void)state;
	vm_init(&vm, 128 * MiB);
	/* Leftovers where the bss goes must be cleared. */
	assert_int_equal(gm_write(&vm.gm, SYNTH_ELF_DATA_PADDR, junk, SYNTH_ELF_DATA_MEMSZ), 0);
	if (boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(out.mode, BOOT_ENTRY_PVH32);
	assert_int_equal(out.rip, SYNTH_ELF_ENTRY);
	assert_int_equal(out.boot_info_gpa, LAYOUT_PVH_INFO_ADDR);
	assert_int_equal(out.kernel_start, SYNTH_ELF_TEXT_PADDR);
	assert_int_equal(out.kernel_end, SYNTH_ELF_DATA_PADDR + SYNTH_ELF_DATA_MEMSZ);
	assert_int_equal(out.initrd_gpa, ALIGN_DOWN(128 * MiB - initrd_len, 4096));
	assert_int_equal(out.initrd_size, initrd_len);

	assert_guest_equal(&vm, SYNTH_ELF_TEXT_PADDR, e + SYNTH_ELF_TEXT_OFF, SYNTH_ELF_TEXT_SIZE);
	assert_guest_equal(&vm, SYNTH_ELF_DATA_PADDR, e + SYNTH_ELF_DATA_OFF,
			   SYNTH_ELF_DATA_FILESZ);
	assert_guest_equal(&vm, SYNTH_ELF_DATA_PADDR + SYNTH_ELF_DATA_FILESZ, zeros,
			   SYNTH_ELF_DATA_MEMSZ - SYNTH_ELF_DATA_FILESZ);
	assert_guest_equal(&vm, out.initrd_gpa, initrd, initrd_len);
	assert_guest_equal(&vm, LAYOUT_CMDLINE_ADDR, cmdline, strlen(cmdline) + 1);

	assert_int_equal(gm_read(&vm.gm, LAYOUT_PVH_INFO_ADDR, &si, sizeof(si)), 0);
	assert_int_equal(si.magic, 0x336ec578);
	assert_int_equal(si.version, 1);
	assert_int_equal(si.flags, 0);
	assert_int_equal(si.cmdline_paddr, LAYOUT_CMDLINE_ADDR);
	assert_int_equal(si.rsdp_paddr, RSDP);
	assert_int_equal(si.nr_modules, 1);
	assert_int_equal(si.modlist_paddr, LAYOUT_PVH_INFO_ADDR + sizeof(si));
	assert_int_equal(gm_read(&vm.gm, si.modlist_paddr, &mod, sizeof(mod)), 0);
	assert_int_equal(mod.paddr, out.initrd_gpa);
	assert_int_equal(mod.size, initrd_len);
	assert_int_equal(mod.cmdline_paddr, 0);

	n = layout_e820(&vm.l, e820, LAYOUT_MAX_E820);
	assert_int_equal(si.memmap_entries, n);
	assert_true(si.memmap_paddr >= si.modlist_paddr + sizeof(mod));
	assert_true(si.memmap_paddr + n * sizeof(mm[0]) <= LAYOUT_ZERO_PAGE_ADDR);
	assert_int_equal(gm_read(&vm.gm, si.memmap_paddr, mm, n * sizeof(mm[0])), 0);
	for (int i = 0; i < n; i++) {
		assert_int_equal(mm[i].addr, e820[i].addr);
		assert_int_equal(mm[i].size, e820[i].size);
		assert_int_equal(mm[i].type, e820[i].type);
		assert_int_equal(mm[i].reserved, 0);
	}
	gm_destroy(&vm.gm);

	/* Without an initrd: no module list. */
	in.initrd = NULL;
	in.initrd_len = 0;
	vm_init(&vm, 128 * MiB);
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(gm_read(&vm.gm, LAYOUT_PVH_INFO_ADDR, &si, sizeof(si)), 0);
	assert_int_equal(si.nr_modules, 0);
	assert_int_equal(si.modlist_paddr, 0);
	assert_int_equal(out.initrd_gpa, 0);
	gm_destroy(&vm.gm);
	free(zeros);
	free(junk);
	free(initrd);
	free(e);
}

static void test_pvh_bad_placement(void **state)
{
	struct vm vm;
	uint8_t *e = synth_elf(1);
	uint8_t *initrd = patterned(64 * MiB, 2);
	struct boot_input in = {e, SYNTH_ELF_SIZE, NULL, 0, NULL, 0};
	struct boot_entry out;
	char err[256];

	(void)state;
	vm_init(&vm, 32 * MiB);
	/* A segment over the boot structures below 1 MiB. */
	put64(e + sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + offsetof(Elf64_Phdr, p_paddr), 0x6000);
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "below 1 MiB"));
	/* A segment beyond the end of RAM. */
	put64(e + sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + offsetof(Elf64_Phdr, p_paddr),
	      32 * MiB - 0x1000);
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), -ENOMEM);
	assert_non_null(strstr(err, "memory too small"));
	put64(e + sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + offsetof(Elf64_Phdr, p_paddr),
	      SYNTH_ELF_DATA_PADDR);
	/* An initrd that does not fit above the kernel. */
	in.initrd = initrd;
	in.initrd_len = 32 * MiB - SYNTH_ELF_DATA_PADDR - SYNTH_ELF_DATA_MEMSZ + 1;
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), -ENOMEM);
	assert_non_null(strstr(err, "initrd"));
	gm_destroy(&vm.gm);
	free(initrd);
	free(e);
}

static uint8_t *load_env_file(const char *var, const char *what, size_t *len)
{
	const char *path = getenv(var);
	uint8_t *data;

	if (!path || !*path) {
		printf("skipped: %s is not set (%s)\n", var, what);
		return NULL;
	}
	if (access(path, R_OK) != 0) {
		printf("skipped: %s=%s does not exist or is not readable\n", var, path);
		return NULL;
	}
	assert_int_equal(read_whole_file(path, 1024 * MiB, &data, len), 0);
	return data;
}

static void test_real_kernel(void **state)
{
	struct vm vm;
	size_t len;
	uint8_t *k = load_env_file("HEARTH_TEST_KERNEL", "path of a Debian vmlinuz", &len);
	uint8_t *initrd = patterned(4 * MiB, 4);
	struct boot_input in = {k, len, initrd, 4 * MiB, "console=ttyS0 panic=-1", RSDP};
	struct boot_entry out;
	struct bzimage_info bi;
	struct bz_boot_params bp;
	char err[256];

	(void)state;
	if (!k) {
		free(initrd);
		skip();
	}
	assert_int_equal(bzimage_parse(k, len, &bi, err, sizeof(err)), 0);
	vm_init(&vm, 512 * MiB);
	if (boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(out.mode, BOOT_ENTRY_LINUX64);
	assert_int_equal(out.rip, bi.pref_address + 0x200);
	assert_int_equal(out.kernel_end, bi.pref_address + bi.init_size);
	assert_int_equal(out.initrd_gpa, 512 * MiB - 4 * MiB);
	assert_guest_equal(&vm, bi.pref_address, k + bi.pm_offset, bi.pm_size);
	read_zero_page(&vm, &bp);
	/* Header bytes as in the image, except what a loader must fill in. */
	assert_int_equal(bp.hdr.version, bi.version);
	assert_int_equal(bp.hdr.init_size, bi.init_size);
	assert_int_equal(bp.hdr.xloadflags, bi.xloadflags);
	assert_int_equal(bp.hdr.type_of_loader, 0xff);
	assert_true(bp.hdr.loadflags & BZ_CAN_USE_HEAP);
	assert_int_equal(bp.hdr.ramdisk_image, out.initrd_gpa);
	assert_int_equal(bp.acpi_rsdp_addr, bi.version >= 0x020e ? RSDP : 0);
	check_zero_page_e820(&vm.l, &bp);
	gm_destroy(&vm.gm);

	/* Too little memory for this kernel gives the clear error. */
	vm_init(&vm, ALIGN_DOWN(bi.pref_address + bi.init_size - 4096, 4096));
	assert_int_equal(boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)), -ENOMEM);
	assert_non_null(strstr(err, "memory too small for the kernel"));
	gm_destroy(&vm.gm);
	free(initrd);
	free(k);
}

static void test_real_vmlinux(void **state)
{
	struct vm vm;
	size_t len;
	uint8_t *k =
	    load_env_file("HEARTH_TEST_VMLINUX",
			  "make one with scripts/extract-vmlinux.sh from a Debian vmlinuz", &len);
	struct boot_input in = {k, len, NULL, 0, "console=ttyS0", RSDP};
	struct boot_entry out;
	struct elf_pvh_image im;
	struct hvm_start_info si;
	char err[256];

	(void)state;
	if (!k)
		skip();
	assert_int_equal(elf_pvh_parse(k, len, &im, err, sizeof(err)), 0);
	vm_init(&vm, 512 * MiB);
	if (boot_load(&vm.gm, &vm.l, &in, &out, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(out.mode, BOOT_ENTRY_PVH32);
	assert_int_equal(out.rip, im.entry);
	assert_int_equal(out.kernel_end, im.paddr_end);
	for (unsigned i = 0; i < im.nr_segments; i++)
		assert_guest_equal(&vm, im.segments[i].paddr, k + im.segments[i].offset,
				   im.segments[i].filesz);
	assert_int_equal(gm_read(&vm.gm, LAYOUT_PVH_INFO_ADDR, &si, sizeof(si)), 0);
	assert_int_equal(si.magic, HVM_START_MAGIC);
	assert_int_equal(si.rsdp_paddr, RSDP);
	gm_destroy(&vm.gm);
	free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kernel_kind),
	    cmocka_unit_test(test_bzimage_layout),
	    cmocka_unit_test(test_bzimage_initrd_limits),
	    cmocka_unit_test(test_bzimage_no_initrd),
	    cmocka_unit_test(test_bzimage_load_address),
	    cmocka_unit_test(test_bzimage_memory_too_small),
	    cmocka_unit_test(test_bzimage_initrd_too_big),
	    cmocka_unit_test(test_cmdline_limits),
	    cmocka_unit_test(test_bad_kernels),
	    cmocka_unit_test(test_pvh_layout),
	    cmocka_unit_test(test_pvh_bad_placement),
	    cmocka_unit_test(test_real_kernel),
	    cmocka_unit_test(test_real_vmlinux),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
