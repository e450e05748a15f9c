/* SPDX-License-Identifier: MIT */
/*
 * The I/O bus: port-I/O and MMIO ranges kept in a sorted array and searched
 * by binary search. A static registration that overlaps another is refused
 * (a programming error caught when the VM is built).
 */
#ifndef HEARTH_CORE_BUS_H
#define HEARTH_CORE_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Access callbacks of a device on the bus. offset is relative to the start
 * of the registered range; len is 1, 2, 4 or 8 and offset+len never exceeds
 * the range (the bus checks). A read callback fills data[0..len).
 */
struct bus_device_ops {
	const char *name;
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_device_ops *ops;
	void *opaque;
};

struct bus {
	const char *name; /* "pio" or "mmio", for messages */
	struct bus_range *ranges;
	size_t nr;
	size_t cap;
	pthread_rwlock_t lock;
};

/* bus_init - an empty bus. */
void bus_init(struct bus *bus, const char *name);

/* bus_destroy - free the range table. */
void bus_destroy(struct bus *bus);

/*
 * bus_register - add [base, base+len) for a device. Returns 0, -EEXIST when
 * the range overlaps a registered one, -EINVAL for len 0 or wrap-around,
 * -ENOMEM.
 */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_device_ops *ops,
		 void *opaque);

/* bus_unregister - remove the range starting at base. Returns 0 or -ENOENT. */
int bus_unregister(struct bus *bus, uint64_t base);

/*
 * bus_read / bus_write - dispatch an access. An access that is not entirely
 * inside one registered range returns false (reads then see all ones).
 */
bool bus_read(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len);
bool bus_write(struct bus *bus, uint64_t addr, const uint8_t *data, uint32_t len);

#endif
