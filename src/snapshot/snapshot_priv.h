/* SPDX-License-Identifier: MIT */
/* Shared by the snapshot module's files. */
#ifndef HEARTH_SNAPSHOT_SNAPSHOT_PRIV_H
#define HEARTH_SNAPSHOT_SNAPSHOT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/snapshot.h"

/* snap_sha256 - out = SHA-256 of data[0, len). Returns 0 or -EIO. */
int snap_sha256(const void *data, size_t len, uint8_t out[SNAP_HASH_BYTES]);

/* snap_page_is_zero - whether the 4 KiB page at p (8-byte aligned) holds only zeros. */
bool snap_page_is_zero(const uint8_t *p);

#endif
