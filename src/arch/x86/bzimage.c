/* SPDX-License-Identifier: MIT */
/* bzImage setup header parsing (Linux x86 boot protocol). */
#include "arch/x86/bzimage.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define HDR_OFF(f) (offsetof(struct bz_boot_params, hdr) + offsetof(struct bz_setup_header, f))

_Static_assert(sizeof(struct bz_setup_header) == 0x26c - 0x1f1, "setup header size");
_Static_assert(HDR_OFF(setup_sects) == 0x1f1, "setup_sects");
_Static_assert(HDR_OFF(boot_flag) == 0x1fe, "boot_flag");
_Static_assert(HDR_OFF(header) == 0x202, "header");
_Static_assert(HDR_OFF(version) == 0x206, "version");
_Static_assert(HDR_OFF(type_of_loader) == 0x210, "type_of_loader");
_Static_assert(HDR_OFF(loadflags) == 0x211, "loadflags");
_Static_assert(HDR_OFF(code32_start) == 0x214, "code32_start");
_Static_assert(HDR_OFF(ramdisk_image) == 0x218, "ramdisk_image");
_Static_assert(HDR_OFF(ramdisk_size) == 0x21c, "ramdisk_size");
_Static_assert(HDR_OFF(heap_end_ptr) == 0x224, "heap_end_ptr");
_Static_assert(HDR_OFF(cmd_line_ptr) == 0x228, "cmd_line_ptr");
_Static_assert(HDR_OFF(initrd_addr_max) == 0x22c, "initrd_addr_max");
_Static_assert(HDR_OFF(kernel_alignment) == 0x230, "kernel_alignment");
_Static_assert(HDR_OFF(relocatable_kernel) == 0x234, "relocatable_kernel");
_Static_assert(HDR_OFF(xloadflags) == 0x236, "xloadflags");
_Static_assert(HDR_OFF(cmdline_size) == 0x238, "cmdline_size");
_Static_assert(HDR_OFF(hardware_subarch_data) == 0x240, "hardware_subarch_data");
_Static_assert(HDR_OFF(payload_offset) == 0x248, "payload_offset");
_Static_assert(HDR_OFF(setup_data) == 0x250, "setup_data");
_Static_assert(HDR_OFF(pref_address) == 0x258, "pref_address");
_Static_assert(HDR_OFF(init_size) == 0x260, "init_size");
_Static_assert(HDR_OFF(kernel_info_offset) == 0x268, "kernel_info_offset");

_Static_assert(sizeof(struct bz_boot_params) == 4096, "zero page size");
_Static_assert(offsetof(struct bz_boot_params, acpi_rsdp_addr) == 0x070, "acpi_rsdp_addr");
_Static_assert(offsetof(struct bz_boot_params, ext_ramdisk_image) == 0x0c0, "ext_ramdisk_image");
_Static_assert(offsetof(struct bz_boot_params, ext_ramdisk_size) == 0x0c4, "ext_ramdisk_size");
_Static_assert(offsetof(struct bz_boot_params, ext_cmd_line_ptr) == 0x0c8, "ext_cmd_line_ptr");
_Static_assert(offsetof(struct bz_boot_params, cc_blob_address) == 0x13c, "cc_blob_address");
_Static_assert(offsetof(struct bz_boot_params, alt_mem_k) == 0x1e0, "alt_mem_k");
_Static_assert(offsetof(struct bz_boot_params, e820_entries) == 0x1e8, "e820_entries");
_Static_assert(offsetof(struct bz_boot_params, sentinel) == 0x1ef, "sentinel");
_Static_assert(offsetof(struct bz_boot_params, edd_mbr_sig_buffer) == 0x290, "edd_mbr_sig_buffer");
_Static_assert(offsetof(struct bz_boot_params, e820_table) == 0x2d0, "e820_table");
_Static_assert(offsetof(struct bz_boot_params, eddbuf) == 0xd00, "eddbuf");
_Static_assert(sizeof(struct bz_e820_entry) == 20, "e820 entry");

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

bool bzimage_probe(const uint8_t *data, size_t len)
{
	return data && len >= BZ_MAGIC_OFFSET + 4 && rd32(data + BZ_MAGIC_OFFSET) == BZ_MAGIC;
}

int bzimage_parse(const uint8_t *data, size_t len, struct bzimage_info *out, char *err,
		  size_t errlen)
{
	struct bz_setup_header h;
	size_t hdr_end, copy;

	memset(out, 0, sizeof(*out));
	if (!data || len < BZ_MAGIC_OFFSET + 4) {
		snprintf(err, errlen, "kernel image too small (%zu bytes) to be a bzImage", len);
		return -ENOEXEC;
	}
	if (rd32(data + BZ_MAGIC_OFFSET) != BZ_MAGIC) {
		snprintf(err, errlen, "not a bzImage: no \"HdrS\" magic at offset 0x%x",
			 BZ_MAGIC_OFFSET);
		return -ENOEXEC;
	}

	/*
	 * The header ends at 0x202 plus the jump offset in byte 0x201; anything
	 * the file does not hold reads as zero, and nothing past the header area
	 * is taken.
	 */
	hdr_end = BZ_MAGIC_OFFSET + (size_t)data[BZ_JUMP_OFFSET + 1];
	if (hdr_end > BZ_HDR_AREA_END)
		hdr_end = BZ_HDR_AREA_END;
	memset(&h, 0, sizeof(h));
	copy = hdr_end;
	if (copy > len)
		copy = len;
	if (copy > BZ_SETUP_HDR_OFFSET + sizeof(h))
		copy = BZ_SETUP_HDR_OFFSET + sizeof(h);
	memcpy(&h, data + BZ_SETUP_HDR_OFFSET, copy - BZ_SETUP_HDR_OFFSET);

	if (len < hdr_end) {
		snprintf(err, errlen,
			 "bzImage truncated: setup header ends at 0x%zx, file is %zu bytes",
			 hdr_end, len);
		return -ENOEXEC;
	}
	if (hdr_end < HDR_OFF(version) + 2) {
		snprintf(err, errlen, "bzImage setup header too short (ends at 0x%zx)", hdr_end);
		return -ENOEXEC;
	}
	if (h.version < BZ_MIN_VERSION) {
		snprintf(
		    err, errlen, "kernel boot protocol %u.%02u is too old (need %u.%02u or newer)",
		    h.version >> 8, h.version & 0xff, BZ_MIN_VERSION >> 8, BZ_MIN_VERSION & 0xff);
		return -ENOTSUP;
	}
	if (h.boot_flag != BZ_BOOT_FLAG) {
		snprintf(err, errlen, "bad bzImage boot flag 0x%04x (expected 0x%04x)", h.boot_flag,
			 BZ_BOOT_FLAG);
		return -ENOEXEC;
	}
	if (hdr_end < HDR_OFF(cmdline_size) + 4) {
		snprintf(err, errlen, "bzImage setup header too short (ends at 0x%zx)", hdr_end);
		return -ENOEXEC;
	}
	if (!(h.loadflags & BZ_LOADED_HIGH)) {
		snprintf(err, errlen, "zImage kernels (loaded low) are not supported");
		return -ENOTSUP;
	}

	out->version = h.version;
	out->setup_sects = h.setup_sects ? h.setup_sects : BZ_DEFAULT_SECTS;
	if (out->setup_sects > BZ_MAX_SETUP_SECTS) {
		snprintf(err, errlen, "bzImage setup_sects %u is too large (at most %u)",
			 out->setup_sects, BZ_MAX_SETUP_SECTS);
		return -ENOEXEC;
	}
	out->setup_size = (size_t)(out->setup_sects + 1) * BZ_SECTOR_SIZE;
	if (out->setup_size >= len) {
		snprintf(err, errlen,
			 "bzImage truncated: real-mode part is %zu bytes, file %zu bytes",
			 out->setup_size, len);
		return -ENOEXEC;
	}
	out->pm_offset = out->setup_size;
	out->pm_size = len - out->setup_size;
	out->hdr_end = hdr_end;

	/* Fields of 2.12+ only: older kernels cannot be entered in 64-bit mode. */
	out->xloadflags = h.version >= 0x020c ? h.xloadflags : 0;
	if (!(out->xloadflags & BZ_XLF_KERNEL_64)) {
		snprintf(err, errlen,
			 "kernel has no 64-bit entry point (XLF_KERNEL_64 not set, boot protocol "
			 "%u.%02u)",
			 h.version >> 8, h.version & 0xff);
		return -ENOTSUP;
	}
	if (hdr_end < HDR_OFF(init_size) + 4) {
		snprintf(err, errlen, "bzImage setup header too short (ends at 0x%zx)", hdr_end);
		return -ENOEXEC;
	}
	if (out->pm_size < BZ_ENTRY64_OFFSET + 16) {
		snprintf(err, errlen, "bzImage truncated: protected-mode part only %zu bytes",
			 out->pm_size);
		return -ENOEXEC;
	}

	out->loadflags = h.loadflags;
	out->cmdline_size = h.cmdline_size;
	out->initrd_addr_max = h.initrd_addr_max;
	out->kernel_alignment = h.kernel_alignment;
	out->relocatable = h.relocatable_kernel != 0;
	out->min_alignment = h.min_alignment;
	out->pref_address = h.pref_address;
	out->init_size = h.init_size;
	out->payload_offset = h.payload_offset;
	out->payload_length = h.payload_length;

	if (out->relocatable &&
	    (out->kernel_alignment == 0 || (out->kernel_alignment & (out->kernel_alignment - 1)) ||
	     out->kernel_alignment > (1U << 30))) {
		snprintf(err, errlen, "bad bzImage kernel_alignment 0x%x", out->kernel_alignment);
		return -ENOEXEC;
	}
	if (out->init_size == 0) {
		snprintf(err, errlen, "bzImage init_size is 0");
		return -ENOEXEC;
	}
	if ((uint64_t)out->payload_offset + out->payload_length > out->pm_size) {
		snprintf(err, errlen,
			 "bzImage payload (offset 0x%x, length 0x%x) lies beyond the %zu-byte "
			 "protected-mode part",
			 out->payload_offset, out->payload_length, out->pm_size);
		return -ENOEXEC;
	}
	return 0;
}
