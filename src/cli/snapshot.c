/* SPDX-License-Identifier: MIT */
/* `hearth snapshot verify` and `hearth snapshot rebase`. */
#include "cli/snapshot.h"
#include "snapshot/snapshot.h"

#include <stdio.h>
#include <string.h>

static void snapshot_usage(FILE *out)
{
	fprintf(out, "Usage: hearth snapshot verify STATE_FILE MEMORY_FILE\n"
		     "       hearth snapshot rebase DIFF_MEMORY_FILE BASE_MEMORY_FILE\n"
		     "\n"
		     "verify checks a snapshot made by PUT /snapshot/create: the state file's\n"
		     "format, version, checksum and every field, the memory file's size and\n"
		     "identity stamp, and the SHA-256 of the guest memory it holds.\n"
		     "rebase merges the memory file of a Diff snapshot onto the memory file of\n"
		     "the snapshot before it, in place: BASE_MEMORY_FILE then goes with the\n"
		     "Diff's state file.\n"
		     "Exit status: 0 valid (merged), 1 invalid (failed), 2 usage.\n");
}

int cli_snapshot(int argc, char **argv)
{
	char err[512];

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		snapshot_usage(stdout);
		return 0;
	}
	if (argc != 4 || (strcmp(argv[1], "verify") && strcmp(argv[1], "rebase"))) {
		snapshot_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "rebase")) {
		if (snapshot_rebase(argv[2], argv[3], err, sizeof(err))) {
			fprintf(stderr, "hearth: snapshot rebase: %s\n", err);
			return 1;
		}
		return 0;
	}
	if (snapshot_verify(argv[2], argv[3], err, sizeof(err))) {
		fprintf(stderr, "hearth: snapshot verify: %s\n", err);
		return 1;
	}
	printf("ok\n");
	return 0;
}
