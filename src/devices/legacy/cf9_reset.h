/* SPDX-License-Identifier: MIT */
/*
 * The reset control register at port 0xcf9 (LAYOUT_PORT_RESET), the FADT's
 * RESET_REG: a 1-byte register whose bit 2 (RST_CPU) resets the machine.
 *
 * Port 0xcf9 lies inside the 32-bit PCI configuration address register at
 * 0xcf8, and the bus does not allow overlapping ranges: the PCI host bridge
 * that owns 0xcf8-0xcfb passes 1-byte accesses to 0xcf9 to
 * cf9_reset_read()/cf9_reset_write() (as chipsets do: only 32-bit accesses
 * reach CONFIG_ADDRESS). Where nothing else owns the port,
 * cf9_reset_bus_ops can be registered for the 1-byte range directly.
 *
 * Writes store bits 1 (SYS_RST) and 3 (FULL_RST), which read back; a write
 * with bit 2 set calls the reset callback (whatever bits 1 and 3 say: hard,
 * soft and full resets are all a machine reset here); bit 2 reads 0.
 * Accesses wider than one byte: reads give 0xff above byte 0, writes use
 * byte 0.
 *
 * Locking: a mutex guards the register; reset is called without it.
 */
#ifndef HEARTH_DEVICES_LEGACY_CF9_RESET_H
#define HEARTH_DEVICES_LEGACY_CF9_RESET_H

#include <pthread.h>
#include <stdint.h>

#include "core/bus.h"

#define CF9_RESET_CPU 0x04

/* Called when the guest requests a reset. */
typedef void (*cf9_reset_fn)(void *opaque);

struct cf9_reset {
	pthread_mutex_t lock;
	cf9_reset_fn reset;
	void *opaque;
	uint8_t val;
};

/* Bus callbacks for a 1-port range at 0xcf9; opaque is the struct cf9_reset. */
extern const struct bus_device_ops cf9_reset_bus_ops;

/* cf9_reset_init - register value 0; reset (may be NULL) gets opaque. */
void cf9_reset_init(struct cf9_reset *r, cf9_reset_fn reset, void *opaque);

/* cf9_reset_destroy - release r's resources (its mutex). */
void cf9_reset_destroy(struct cf9_reset *r);

/* cf9_reset_read - the register's value (bits 1 and 3 as last written). */
uint8_t cf9_reset_read(struct cf9_reset *r);

/* cf9_reset_write - a guest write of val; bit 2 set calls the reset callback. */
void cf9_reset_write(struct cf9_reset *r, uint8_t val);

#endif
