/* SPDX-License-Identifier: MIT */
/* `hearth snapshot verify`. */
#include "cli/snapshot.h"
#include "snapshot/snapshot.h"

#include <stdio.h>
#include <string.h>

static void snapshot_usage(FILE *out)
{
	fprintf(out, "Usage: hearth snapshot verify STATE_FILE MEMORY_FILE\n"
		     "\n"
		     "Checks a snapshot made by PUT /snapshot/create: the state file's format,\n"
		     "version, checksum and every field, the memory file's size and identity\n"
		     "stamp, and the SHA-256 of the guest memory it holds.\n"
		     "Exit status: 0 valid, 1 invalid, 2 usage.\n");
}

int cli_snapshot(int argc, char **argv)
{
	char err[512];

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		snapshot_usage(stdout);
		return 0;
	}
	if (argc != 4 || strcmp(argv[1], "verify")) {
		snapshot_usage(stderr);
		return 2;
	}
	if (snapshot_verify(argv[2], argv[3], err, sizeof(err))) {
		fprintf(stderr, "hearth: snapshot verify: %s\n", err);
		return 1;
	}
	printf("ok\n");
	return 0;
}
