/* SPDX-License-Identifier: MIT */
#include "core/guest_memory.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif

static uint64_t gm_bitmap_words(uint64_t size)
{
	return (size / GM_PAGE_SIZE + 63) / 64;
}

static int gm_map_region(struct guest_memory *gm, struct gm_region *r)
{
	int flags, fd = -1;
	void *p;

	switch (gm->backing) {
	case GM_BACKING_ANON:
		flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
		break;
	case GM_BACKING_HUGEPAGES:
		flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_HUGETLB;
		break;
	case GM_BACKING_MEMFD:
		flags = MAP_SHARED;
		fd = gm->fd;
		break;
	case GM_BACKING_FILE:
		flags = MAP_PRIVATE;
		fd = gm->fd;
		break;
	default:
		return -EINVAL;
	}
	p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, flags, fd,
		 fd >= 0 ? (off_t)r->file_offset : 0);
	if (p == MAP_FAILED)
		return -errno;
	/* Guest RAM is not part of hearth's core dumps and is not merged by KSM. */
	madvise(p, r->size, MADV_DONTDUMP);
	madvise(p, r->size, MADV_UNMERGEABLE);
	r->hva = p;
	r->dirty = calloc(gm_bitmap_words(r->size), sizeof(uint64_t));
	if (!r->dirty) {
		munmap(p, r->size);
		r->hva = NULL;
		return -ENOMEM;
	}
	return 0;
}

int gm_create(struct guest_memory *gm, const struct gm_range *ranges, unsigned nr,
	      enum gm_backing backing, const char *path)
{
	uint64_t offset = 0, prev_end = 0;
	int err;

	memset(gm, 0, sizeof(*gm));
	gm->fd = -1;
	gm->backing = backing;
	if (nr == 0 || nr > GM_MAX_REGIONS)
		return -EINVAL;
	for (unsigned i = 0; i < nr; i++) {
		if (!ranges[i].size || !IS_ALIGNED(ranges[i].gpa | ranges[i].size, GM_PAGE_SIZE) ||
		    ranges[i].gpa < prev_end || ranges[i].gpa + ranges[i].size < ranges[i].gpa)
			return -EINVAL;
		prev_end = ranges[i].gpa + ranges[i].size;
		offset += ranges[i].size;
	}
	if (backing == GM_BACKING_MEMFD) {
		gm->fd = memfd_create("hearth-guest-ram", MFD_CLOEXEC);
		if (gm->fd < 0)
			return -errno;
		if (ftruncate(gm->fd, (off_t)offset) < 0) {
			err = -errno;
			goto out_close;
		}
	} else if (backing == GM_BACKING_FILE) {
		struct stat st;
		gm->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (gm->fd < 0)
			return -errno;
		if (fstat(gm->fd, &st) < 0) {
			err = -errno;
			goto out_close;
		}
		if ((uint64_t)st.st_size < offset) {
			err = -EINVAL;
			goto out_close;
		}
	}
	offset = 0;
	for (unsigned i = 0; i < nr; i++) {
		struct gm_region *r = &gm->regions[i];
		r->gpa = ranges[i].gpa;
		r->size = ranges[i].size;
		r->slot = i;
		r->file_offset = offset;
		offset += r->size;
		err = gm_map_region(gm, r);
		if (err)
			goto out_unmap;
		gm->nr++;
	}
	return 0;

out_unmap:
	gm_destroy(gm);
	return err;
out_close:
	close(gm->fd);
	gm->fd = -1;
	return err;
}

void gm_destroy(struct guest_memory *gm)
{
	for (unsigned i = 0; i < gm->nr; i++) {
		munmap(gm->regions[i].hva, gm->regions[i].size);
		free(gm->regions[i].dirty);
	}
	gm->nr = 0;
	if (gm->fd >= 0)
		close(gm->fd);
	gm->fd = -1;
}

static const struct gm_region *gm_find(const struct guest_memory *gm, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < gm->nr; i++) {
		const struct gm_region *r = &gm->regions[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return r;
	}
	return NULL;
}

void *gm_ptr(const struct guest_memory *gm, uint64_t gpa, uint64_t len)
{
	const struct gm_region *r = gm_find(gm, gpa, len ? len : 1);

	return r ? r->hva + (gpa - r->gpa) : NULL;
}

int gm_read(const struct guest_memory *gm, uint64_t gpa, void *dst, uint64_t len)
{
	const void *src;

	if (!len)
		return 0;
	src = gm_ptr(gm, gpa, len);
	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int gm_write(struct guest_memory *gm, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst;

	if (!len)
		return 0;
	dst = gm_ptr(gm, gpa, len);
	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	gm_mark_dirty(gm, gpa, len);
	return 0;
}

void gm_mark_dirty(struct guest_memory *gm, uint64_t gpa, uint64_t len)
{
	const struct gm_region *r;
	uint64_t first, last;

	if (!gm->track_dirty || !len)
		return;
	r = gm_find(gm, gpa, len);
	if (!r)
		return;
	first = (gpa - r->gpa) / GM_PAGE_SIZE;
	last = (gpa - r->gpa + len - 1) / GM_PAGE_SIZE;
	for (uint64_t p = first; p <= last; p++)
		atomic_fetch_or((_Atomic uint64_t *)&r->dirty[p / 64], 1ULL << (p % 64));
}

void gm_set_dirty_tracking(struct guest_memory *gm, bool on)
{
	for (unsigned i = 0; i < gm->nr; i++)
		memset(gm->regions[i].dirty, 0,
		       gm_bitmap_words(gm->regions[i].size) * sizeof(uint64_t));
	gm->track_dirty = on;
}

uint64_t gm_total_size(const struct guest_memory *gm)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < gm->nr; i++)
		total += gm->regions[i].size;
	return total;
}
