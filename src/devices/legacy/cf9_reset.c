/* SPDX-License-Identifier: MIT */
/* Reset control register (port 0xcf9). See cf9_reset.h. */
#include "devices/legacy/cf9_reset.h"

#include <stdbool.h>
#include <string.h>

#define CF9_STORED 0x0a /* SYS_RST (bit 1) and FULL_RST (bit 3) */

void cf9_reset_init(struct cf9_reset *r, cf9_reset_fn reset, void *opaque)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->reset = reset;
	r->opaque = opaque;
}

void cf9_reset_destroy(struct cf9_reset *r)
{
	pthread_mutex_destroy(&r->lock);
}

uint8_t cf9_reset_read(struct cf9_reset *r)
{
	uint8_t val;

	pthread_mutex_lock(&r->lock);
	val = r->val;
	pthread_mutex_unlock(&r->lock);
	return val;
}

void cf9_reset_write(struct cf9_reset *r, uint8_t val)
{
	pthread_mutex_lock(&r->lock);
	r->val = val & CF9_STORED;
	pthread_mutex_unlock(&r->lock);
	if ((val & CF9_RESET_CPU) && r->reset)
		r->reset(r->opaque);
}

static void cf9_bus_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	if (!len)
		return;
	memset(data, 0xff, len);
	if (offset == 0)
		data[0] = cf9_reset_read(opaque);
}

static void cf9_bus_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	if (len && offset == 0)
		cf9_reset_write(opaque, data[0]);
}

const struct bus_device_ops cf9_reset_bus_ops = {
    .name = "cf9-reset",
    .read = cf9_bus_read,
    .write = cf9_bus_write,
};
