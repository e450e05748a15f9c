/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the snapshot state file loader (snapshot_parse()).
 *
 * Each input is checked twice: as it is (the length, magic, version and
 * checksum checks see it), and as a state file body whose header's length
 * field and SHA-256 trailer are made right, so that the section and field
 * checks behind the checksum are reached too. Whatever is accepted must be
 * self-consistent: the counts the machine section gives match what was
 * decoded. The seed corpus (corpus/snapshot/) holds such bodies: a real
 * 1-vCPU snapshot's state without its trailer, and variants of it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_priv.h"

static void parse_one(const uint8_t *data, size_t len)
{
	struct snapshot s;
	char err[256];

	if (snapshot_parse(data, len, &s, err, sizeof(err)))
		return;
	/* Accepted: the decoded arrays are as large as the machine says. */
	if (!s.cpuid || !s.vcpus || !s.disks || s.machine.ncpus < 1 ||
	    s.nvirtio !=
		s.machine.ndisks + s.machine.nnics + s.machine.rng + s.machine.virtio_console)
		abort();
	for (uint32_t i = 0; i < s.machine.ncpus; i++)
		if (s.vcpus[i].index != i)
			abort();
	snapshot_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t total = (uint64_t)size + SNAP_HASH_BYTES;
	uint8_t *buf;

	parse_one(data, size);
	if (size < sizeof(struct snap_header) || size > SNAP_MAX_FILE)
		return 0;
	buf = malloc(size + SNAP_HASH_BYTES);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	memcpy(buf + offsetof(struct snap_header, file_size), &total, sizeof(total));
	if (!snap_sha256(buf, size, buf + size))
		parse_one(buf, size + SNAP_HASH_BYTES);
	free(buf);
	return 0;
}
