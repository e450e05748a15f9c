/* SPDX-License-Identifier: MIT */
#include "core/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	pthread_rwlock_init(&bus->lock, NULL);
}

void bus_destroy(struct bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr = bus->cap = 0;
	pthread_rwlock_destroy(&bus->lock);
}

/* Index of the first range whose base is greater than addr. */
static size_t bus_upper_bound(const struct bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_device_ops *ops,
		 void *opaque)
{
	size_t pos;
	int err = 0;

	if (len == 0 || base + len < base)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	pos = bus_upper_bound(bus, base);
	if (pos > 0) {
		const struct bus_range *prev = &bus->ranges[pos - 1];
		if (prev->base + prev->len > base) {
			err = -EEXIST;
			goto out;
		}
	}
	if (pos < bus->nr && base + len > bus->ranges[pos].base) {
		err = -EEXIST;
		goto out;
	}
	if (bus->nr == bus->cap) {
		size_t cap = bus->cap ? bus->cap * 2 : 16;
		struct bus_range *r = realloc(bus->ranges, cap * sizeof(*r));
		if (!r) {
			err = -ENOMEM;
			goto out;
		}
		bus->ranges = r;
		bus->cap = cap;
	}
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos], (bus->nr - pos) * sizeof(bus->ranges[0]));
	bus->ranges[pos] =
	    (struct bus_range){.base = base, .len = len, .ops = ops, .opaque = opaque};
	bus->nr++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return err;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
	size_t pos;
	int err = -ENOENT;

	pthread_rwlock_wrlock(&bus->lock);
	pos = bus_upper_bound(bus, base);
	if (pos > 0 && bus->ranges[pos - 1].base == base) {
		pos--;
		memmove(&bus->ranges[pos], &bus->ranges[pos + 1],
			(bus->nr - pos - 1) * sizeof(bus->ranges[0]));
		bus->nr--;
		err = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return err;
}

/* Find the range holding [addr, addr+len) entirely; caller holds the lock. */
static const struct bus_range *bus_find(const struct bus *bus, uint64_t addr, uint32_t len)
{
	size_t pos = bus_upper_bound(bus, addr);
	const struct bus_range *r;

	if (pos == 0)
		return NULL;
	r = &bus->ranges[pos - 1];
	if (addr - r->base >= r->len || len > r->len - (addr - r->base))
		return NULL;
	return r;
}

/*
 * Look up the range under the read lock and call the device after dropping
 * it, so that a device may change the bus from its callback (a PCI BAR
 * being moved); devices outlive their ranges while the VM runs.
 */
static bool bus_lookup(struct bus *bus, uint64_t addr, uint32_t len, struct bus_range *out)
{
	const struct bus_range *r;

	pthread_rwlock_rdlock(&bus->lock);
	r = bus_find(bus, addr, len);
	if (r)
		*out = *r;
	pthread_rwlock_unlock(&bus->lock);
	return r != NULL;
}

bool bus_read(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len)
{
	struct bus_range r;

	if (!bus_lookup(bus, addr, len, &r)) {
		memset(data, 0xff, len);
		return false;
	}
	if (r.ops->read)
		r.ops->read(r.opaque, addr - r.base, data, len);
	else
		memset(data, 0xff, len);
	return true;
}

bool bus_write(struct bus *bus, uint64_t addr, const uint8_t *data, uint32_t len)
{
	struct bus_range r;

	if (!bus_lookup(bus, addr, len, &r))
		return false;
	if (r.ops->write)
		r.ops->write(r.opaque, addr - r.base, data, len);
	return true;
}
