/* SPDX-License-Identifier: MIT */
/*
 * A main() for fuzz targets built without libFuzzer: feeds every file
 * named on the command line, and every file of every directory named
 * there (in name order), to LLVMFuzzerTestOneInput() once. The default
 * test suite replays the seed corpora this way; a crash file found by a
 * fuzzing campaign can be replayed the same way under a debugger.
 *
 * Usage: fuzz_TARGET_replay FILE|DIR...
 * Exits 0 after replaying at least one input; 1 when an argument cannot
 * be read or no input was found (an empty corpus is a mistake). A finding
 * crashes the process, as under libFuzzer.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"
#include "fuzz_util.h"

#define REPLAY_MAX_INPUT (16u << 20)

static int replay_file(const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r = read_whole_file(path, REPLAY_MAX_INPUT, &data, &len);

	if (r) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(-r));
		return -1;
	}
	/* A heap copy of exactly len bytes, so that ASan sees reads past the input. */
	LLVMFuzzerTestOneInput(len ? data : (const uint8_t *)"", len);
	free(data);
	return 0;
}

static int only_files(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

/* Replay every file of dir in name order; returns how many, or -1. */
static int replay_dir(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, only_files, alphasort);
	int done = 0, failed = 0;

	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		free(names[i]);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		if (replay_file(path))
			failed = 1;
		else
			done++;
	}
	free(names);
	return failed ? -1 : done;
}

int main(int argc, char **argv)
{
	int total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int n;

		if (stat(argv[i], &st)) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : (replay_file(argv[i]) ? -1 : 1);
		if (n < 0)
			return 1;
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "replay: no input found\n");
		return 1;
	}
	printf("replayed %d input%s\n", total, total == 1 ? "" : "s");
	return 0;
}
