/* SPDX-License-Identifier: MIT */
/*
 * bzImage parsing per the Linux x86 boot protocol (Documentation/arch/x86/
 * boot.rst), and the layout of the zero page (struct boot_params) that a
 * loader hands to the kernel. The image is untrusted host input: the parser
 * reads only inside the buffer it is given and reports malformed images as
 * errors.
 */
#ifndef HEARTH_ARCH_X86_BZIMAGE_H
#define HEARTH_ARCH_X86_BZIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Offsets in the image file (the same as in struct boot_params). */
#define BZ_SETUP_HDR_OFFSET 0x1f1 /* start of struct bz_setup_header */
#define BZ_JUMP_OFFSET	    0x200 /* 2-byte jump; 0x202 + byte at 0x201 ends the header */
#define BZ_MAGIC_OFFSET	    0x202
#define BZ_HDR_AREA_END	    0x290 /* the header never extends beyond this */

#define BZ_MAGIC     0x53726448U /* "HdrS" */
#define BZ_BOOT_FLAG 0xaa55

#define BZ_MIN_VERSION	   0x0206 /* oldest boot protocol accepted */
#define BZ_DEFAULT_SECTS   4	  /* setup_sects 0 means 4 */
#define BZ_MAX_SETUP_SECTS 63	  /* real-mode part (boot sector + setup) <= 32 KiB */
#define BZ_SECTOR_SIZE	   512

/* loadflags */
#define BZ_LOADED_HIGH	 0x01
#define BZ_KASLR_FLAG	 0x02
#define BZ_QUIET_FLAG	 0x20
#define BZ_KEEP_SEGMENTS 0x40
#define BZ_CAN_USE_HEAP	 0x80

/* xloadflags (protocol 2.12+) */
#define BZ_XLF_KERNEL_64	      0x01
#define BZ_XLF_CAN_BE_LOADED_ABOVE_4G 0x02
#define BZ_XLF_EFI_HANDOVER_32	      0x04
#define BZ_XLF_EFI_HANDOVER_64	      0x08
#define BZ_XLF_EFI_KEXEC	      0x10
#define BZ_XLF_5LEVEL		      0x20
#define BZ_XLF_5LEVEL_ENABLED	      0x40

#define BZ_LOADER_TYPE_UNDEFINED 0xff /* type_of_loader for a loader with no assigned id */
#define BZ_VID_MODE_NORMAL	 0xffff
#define BZ_ENTRY64_OFFSET	 0x200 /* 64-bit entry: protected-mode code start + 0x200 */
#define BZ_E820_MAX		 128   /* entries in boot_params.e820_table */

/* The setup header, at offset 0x1f1 of both the image and the zero page. */
struct bz_setup_header {
	uint8_t setup_sects;		/* 0x1f1 */
	uint16_t root_flags;		/* 0x1f2 */
	uint32_t syssize;		/* 0x1f4 */
	uint16_t ram_size;		/* 0x1f8 */
	uint16_t vid_mode;		/* 0x1fa */
	uint16_t root_dev;		/* 0x1fc */
	uint16_t boot_flag;		/* 0x1fe */
	uint16_t jump;			/* 0x200 */
	uint32_t header;		/* 0x202 */
	uint16_t version;		/* 0x206 */
	uint32_t realmode_swtch;	/* 0x208 */
	uint16_t start_sys_seg;		/* 0x20c */
	uint16_t kernel_version;	/* 0x20e */
	uint8_t type_of_loader;		/* 0x210 */
	uint8_t loadflags;		/* 0x211 */
	uint16_t setup_move_size;	/* 0x212 */
	uint32_t code32_start;		/* 0x214 */
	uint32_t ramdisk_image;		/* 0x218 */
	uint32_t ramdisk_size;		/* 0x21c */
	uint32_t bootsect_kludge;	/* 0x220 */
	uint16_t heap_end_ptr;		/* 0x224 */
	uint8_t ext_loader_ver;		/* 0x226 */
	uint8_t ext_loader_type;	/* 0x227 */
	uint32_t cmd_line_ptr;		/* 0x228 */
	uint32_t initrd_addr_max;	/* 0x22c */
	uint32_t kernel_alignment;	/* 0x230 */
	uint8_t relocatable_kernel;	/* 0x234 */
	uint8_t min_alignment;		/* 0x235 */
	uint16_t xloadflags;		/* 0x236 */
	uint32_t cmdline_size;		/* 0x238 */
	uint32_t hardware_subarch;	/* 0x23c */
	uint64_t hardware_subarch_data; /* 0x240 */
	uint32_t payload_offset;	/* 0x248 */
	uint32_t payload_length;	/* 0x24c */
	uint64_t setup_data;		/* 0x250 */
	uint64_t pref_address;		/* 0x258 */
	uint32_t init_size;		/* 0x260 */
	uint32_t handover_offset;	/* 0x264 */
	uint32_t kernel_info_offset;	/* 0x268 */
} __attribute__((packed));

/* One e820 entry as the zero page holds it (20 bytes). */
struct bz_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/* The zero page (struct boot_params), 4 KiB. Only the fields a loader sets are named. */
struct bz_boot_params {
	uint8_t screen_info[0x40];	 /* 0x000 */
	uint8_t apm_bios_info[0x14];	 /* 0x040 */
	uint8_t _pad2[4];		 /* 0x054 */
	uint64_t tboot_addr;		 /* 0x058 */
	uint8_t ist_info[0x10];		 /* 0x060 */
	uint64_t acpi_rsdp_addr;	 /* 0x070, protocol 2.14+ */
	uint8_t _pad3[8];		 /* 0x078 */
	uint8_t hd0_info[16];		 /* 0x080 */
	uint8_t hd1_info[16];		 /* 0x090 */
	uint8_t sys_desc_table[0x10];	 /* 0x0a0 */
	uint8_t olpc_ofw_header[0x10];	 /* 0x0b0 */
	uint32_t ext_ramdisk_image;	 /* 0x0c0 */
	uint32_t ext_ramdisk_size;	 /* 0x0c4 */
	uint32_t ext_cmd_line_ptr;	 /* 0x0c8 */
	uint8_t _pad4[112];		 /* 0x0cc */
	uint32_t cc_blob_address;	 /* 0x13c */
	uint8_t edid_info[0x80];	 /* 0x140 */
	uint8_t efi_info[0x20];		 /* 0x1c0 */
	uint32_t alt_mem_k;		 /* 0x1e0 */
	uint32_t scratch;		 /* 0x1e4 */
	uint8_t e820_entries;		 /* 0x1e8 */
	uint8_t eddbuf_entries;		 /* 0x1e9 */
	uint8_t edd_mbr_sig_buf_entries; /* 0x1ea */
	uint8_t kbd_status;		 /* 0x1eb */
	uint8_t secure_boot;		 /* 0x1ec */
	uint8_t _pad5[2];		 /* 0x1ed */
	uint8_t sentinel;		 /* 0x1ef */
	uint8_t _pad6[1];		 /* 0x1f0 */
	struct bz_setup_header hdr;	 /* 0x1f1 */
	uint8_t _pad7[0x290 - 0x1f1 - sizeof(struct bz_setup_header)];
	uint32_t edd_mbr_sig_buffer[16];	      /* 0x290 */
	struct bz_e820_entry e820_table[BZ_E820_MAX]; /* 0x2d0 */
	uint8_t _pad8[48];			      /* 0xcd0 */
	uint8_t eddbuf[0x1ec];			      /* 0xd00 */
	uint8_t _pad9[276];			      /* 0xeec */
} __attribute__((packed));

/* What a loader needs to know about a bzImage, taken from its setup header. */
struct bzimage_info {
	uint16_t version;     /* boot protocol, e.g. 0x020f for 2.15 */
	unsigned setup_sects; /* effective (0 in the image means 4) */
	uint8_t loadflags;
	uint16_t xloadflags;
	uint32_t cmdline_size;	  /* longest command line, not counting the NUL */
	uint32_t initrd_addr_max; /* highest byte address an initrd may occupy */
	uint32_t kernel_alignment;
	bool relocatable;
	uint8_t min_alignment; /* log2 */
	uint64_t pref_address;
	uint32_t init_size;	 /* bytes the kernel needs from its run address */
	uint32_t payload_offset; /* compressed vmlinux, relative to the protected-mode part */
	uint32_t payload_length;
	size_t setup_size; /* (setup_sects + 1) * 512: real-mode part */
	size_t pm_offset;  /* protected-mode part starts here in the file */
	size_t pm_size;	   /* and runs to the end of the file */
	size_t hdr_end;	   /* setup header bytes [0x1f1, hdr_end) to copy */
};

/* bzimage_probe - true when data looks like a bzImage ("HdrS" at 0x202). */
bool bzimage_probe(const uint8_t *data, size_t len);

/*
 * bzimage_parse - check and decode the setup header of the bzImage in
 * data[0, len). Requires the "HdrS" magic, boot protocol >= 2.06, the 0xAA55
 * boot flag, LOADED_HIGH (a bzImage, not a zImage), a 64-bit entry point
 * (XLF_KERNEL_64) and a protected-mode part inside the file. Returns 0 and
 * fills *out, or -ENOEXEC (not a bzImage / malformed) or -ENOTSUP (too old,
 * no 64-bit entry) with a message in err.
 */
int bzimage_parse(const uint8_t *data, size_t len, struct bzimage_info *out, char *err,
		  size_t errlen);

#endif
