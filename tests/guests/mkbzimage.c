/* SPDX-License-Identifier: MIT */
/*
 * mkbzimage - wrap flat 64-bit code into a minimal bzImage that hearth (and
 * any Linux boot protocol loader) can boot: one setup sector carrying the
 * setup header, then the protected-mode part whose offset 0x200 is the
 * 64-bit entry point, where the code is placed. The real-mode entry of the
 * setup sector only resets the machine: these guests run at the 64-bit entry. The real-mode entry
 * of the setup sector only resets the machine: these guests run at the 64-bit entry.
 *
 * Usage: mkbzimage CODE.bin OUT.bzImage
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETUP_SECTS 1

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

int main(int argc, char **argv)
{
	uint8_t setup[(SETUP_SECTS + 1) * 512];
	uint8_t *pm;
	size_t code_len, pm_len;
	FILE *in, *out;
	long size;

	if (argc != 3) {
		fprintf(stderr, "usage: mkbzimage CODE.bin OUT.bzImage\n");
		return 2;
	}
	in = fopen(argv[1], "rb");
	if (!in || fseek(in, 0, SEEK_END) || (size = ftell(in)) < 0 || fseek(in, 0, SEEK_SET)) {
		perror(argv[1]);
		return 1;
	}
	code_len = (size_t)size;
	pm_len = 0x200 + code_len;
	pm = calloc(1, pm_len);
	if (!pm || fread(pm + 0x200, 1, code_len, in) != code_len) {
		perror(argv[1]);
		return 1;
	}
	fclose(in);

	memset(setup, 0, sizeof(setup));
	setup[0x1f1] = SETUP_SECTS;
	put16(setup + 0x1fe, 0xaa55); /* boot_flag */
	setup[0x200] = 0xeb;	      /* jump over the header */
	setup[0x201] = 0x66;	      /* to 0x268 */
	/*
	 * Real-mode entry (for loaders that start bzImages in real mode, such
	 * as QEMU's): reset through the i8042 at once. mov $0xfe,%al;
	 * out %al,$0x64; jmp . -- the same bytes in 16, 32 and 64-bit mode.
	 */
	memcpy(setup + 0x268, "\xb0\xfe\xe6\x64\xeb\xfe", 6);
	memcpy(setup + 0x202, "HdrS", 4); /* header magic */
	put16(setup + 0x206, 0x020f);	  /* boot protocol 2.15 */
	setup[0x210] = 0;		  /* type_of_loader: filled by the loader */
	setup[0x211] = 0x01;		  /* loadflags: LOADED_HIGH */
	put32(setup + 0x214, 0x100000);	  /* code32_start */
	put32(setup + 0x22c, 0x7fffffff); /* initrd_addr_max */
	put32(setup + 0x230, 0x200000);	  /* kernel_alignment */
	setup[0x234] = 0;		  /* relocatable_kernel */
	setup[0x235] = 21;		  /* min_alignment (log2) */
	put16(setup + 0x236, 0x1);	  /* xloadflags: XLF_KERNEL_64 */
	put32(setup + 0x238, 2047);	  /* cmdline_size */
	put32(setup + 0x258, 0x100000);	  /* pref_address (low) */
	put32(setup + 0x260, (uint32_t)((pm_len + 0xfff) & ~0xfffU)); /* init_size */

	out = fopen(argv[2], "wb");
	if (!out || fwrite(setup, 1, sizeof(setup), out) != sizeof(setup) ||
	    fwrite(pm, 1, pm_len, out) != pm_len || fclose(out)) {
		perror(argv[2]);
		return 1;
	}
	free(pm);
	return 0;
}
