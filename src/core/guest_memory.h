/* SPDX-License-Identifier: MIT */
/*
 * Guest memory: the RAM regions of one VM, their host mappings and backing,
 * and the helpers through which hearth itself reads and writes guest memory.
 * Every write hearth makes goes through gm_write()/gm_mark_dirty() so that a
 * VMM-side dirty bitmap stays right next to KVM's dirty log (which only sees
 * vCPU writes); snapshots and migration need both.
 */
#ifndef HEARTH_CORE_GUEST_MEMORY_H
#define HEARTH_CORE_GUEST_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_PAGE_SIZE   4096ULL
#define GM_MAX_REGIONS 8

enum gm_backing {
	GM_BACKING_ANON,      /* private anonymous, allocated lazily on first touch */
	GM_BACKING_MEMFD,     /* shared memfd (for vhost-user back-ends) */
	GM_BACKING_FILE,      /* private mapping of a file (snapshot restore) */
	GM_BACKING_HUGEPAGES, /* anonymous on 2 MiB hugepages */
};

struct gm_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	uint64_t file_offset; /* offset of this region in the backing fd */
	uint32_t slot;	      /* KVM memory slot */
	uint64_t *dirty;      /* VMM-side dirty bitmap, one bit per page */
};

struct guest_memory {
	enum gm_backing backing;
	int fd; /* memfd or file for MEMFD/FILE backing, else -1 */
	unsigned nr;
	struct gm_region regions[GM_MAX_REGIONS];
	bool track_dirty;
};

/* A RAM range requested from gm_create(). */
struct gm_range {
	uint64_t gpa;
	uint64_t size;
};

/*
 * gm_create - map guest RAM for the given ranges (page aligned, sorted, not
 * overlapping). path is the file for GM_BACKING_FILE, else NULL. Guest memory
 * is marked MADV_DONTDUMP and not offered to KSM. Returns 0 or -errno.
 */
int gm_create(struct guest_memory *gm, const struct gm_range *ranges, unsigned nr,
	      enum gm_backing backing, const char *path);

/* gm_destroy - unmap everything and close the backing fd. */
void gm_destroy(struct guest_memory *gm);

/*
 * gm_ptr - host pointer for [gpa, gpa+len) when that whole range lies in
 * one RAM region, else NULL. Use only for reads or together with
 * gm_mark_dirty(); prefer gm_read()/gm_write().
 */
void *gm_ptr(const struct guest_memory *gm, uint64_t gpa, uint64_t len);

/* gm_read - copy guest memory out. Returns 0, or -EFAULT outside RAM. */
int gm_read(const struct guest_memory *gm, uint64_t gpa, void *dst, uint64_t len);

/*
 * gm_write - copy into guest memory and mark the pages dirty in the
 * VMM-side bitmap. Returns 0, or -EFAULT when any byte is outside RAM
 * (nothing is written then).
 */
int gm_write(struct guest_memory *gm, uint64_t gpa, const void *src, uint64_t len);

/* gm_mark_dirty - record that hearth wrote [gpa, gpa+len) through gm_ptr(). */
void gm_mark_dirty(struct guest_memory *gm, uint64_t gpa, uint64_t len);

/* gm_set_dirty_tracking - start (clearing the bitmaps) or stop tracking. */
void gm_set_dirty_tracking(struct guest_memory *gm, bool on);

/* gm_total_size - sum of all region sizes. */
uint64_t gm_total_size(const struct guest_memory *gm);

#endif
