/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the live-migration stream as a destination reads it
 * (migration/migration.h): the greeting, the machine description, the
 * page runs into guest memory, the state record (parsed as the destination
 * parses it) and the commit. Guest memory is a fixed 16 MiB at address 0:
 * runs outside it must be refused, never written. The seed corpus
 * (corpus/migration/) holds a real stream cut down to a few page runs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/guest_memory.h"
#include "fuzz_util.h"
#include "migration/migration.h"
#include "snapshot/snapshot.h"

#define FUZZ_MEM (16ULL << 20)

static struct guest_memory gm;
static bool gm_ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mig_reader r = {
	    .fd = -1, .cancel_fd = -1, .buf = data, .len = size, .kill_at_pass = -1};
	struct gm_range range = {0, FUZZ_MEM};
	struct mig_hello hello;
	struct mig_rec_hdr h;
	struct mig_desc d;
	struct mig_commit commit;
	struct snapshot s;
	uint8_t *buf, *state = NULL;
	size_t state_len = 0;
	char err[256];

	if (!gm_ready) {
		if (gm_create(&gm, &range, 1, GM_BACKING_ANON, NULL))
			abort();
		gm_ready = true;
	}
	if (mig_expect(&r, MIG_REC_HELLO, &hello, sizeof(hello), NULL, err, sizeof(err)) ||
	    mig_check_hello(&hello, err, sizeof(err)) || mig_read_hdr(&r, &h, err, sizeof(err)) ||
	    h.type != MIG_REC_DESC)
		return 0;
	buf = malloc(h.len ? h.len : 1);
	if (!buf)
		return 0;
	if (mig_read_exact(&r, buf, h.len, err, sizeof(err)) ||
	    mig_parse_desc(buf, h.len, &d, err, sizeof(err))) {
		free(buf);
		return 0;
	}
	free(buf);
	/* Accepted: the description is within its limits. */
	if (d.machine.ndisks > CONFIG_MAX_DISKS || d.machine.nnics > CONFIG_MAX_NICS ||
	    d.machine.ncpuid > CPU_MODEL_MAX_ENTRIES)
		abort();
	if (!mig_receive_memory(&r, &gm, &state, &state_len, err, sizeof(err))) {
		if (!snapshot_parse(state, state_len, &s, err, sizeof(err)))
			snapshot_free(&s);
		free(state);
		mig_expect(&r, MIG_REC_COMMIT, &commit, sizeof(commit), NULL, err, sizeof(err));
	}
	mig_desc_free(&d);
	return 0;
}
