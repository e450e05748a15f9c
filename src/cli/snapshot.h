/* SPDX-License-Identifier: MIT */
/* `hearth snapshot`: offline work on snapshot files (snapshot/snapshot.h). */
#ifndef HEARTH_CLI_SNAPSHOT_H
#define HEARTH_CLI_SNAPSHOT_H

/*
 * cli_snapshot - `hearth snapshot verify STATE MEM`: check a state file and
 * its memory file completely (format, version, checksum, every field, the
 * memory file's size and identity stamp, the SHA-256 of guest memory).
 * argv[0] is "snapshot". Prints "ok" or one line naming the problem on
 * stderr. Returns 0 (valid), 1 (invalid) or 2 (usage).
 */
int cli_snapshot(int argc, char **argv);

#endif
