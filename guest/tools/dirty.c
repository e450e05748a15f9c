/* SPDX-License-Identifier: MIT */
/*
 * hearth-dirty MBPS [MIB]: a guest program that dirties memory at a steady
 * rate, for live-migration tests and benchmarks (guest/tests/migrate.sh).
 *
 * It maps MIB MiB (default 256) of anonymous memory, writes every page once,
 * then rewrites pages round and round, MBPS megabytes (10^6 bytes) of pages
 * a second, in slices of 10 ms: each slice writes its share of pages (one
 * 8-byte store per 4 KiB page, enough for the page to be dirty) and sleeps
 * until the slice's end. A guest that falls behind (paused, throttled) never
 * catches up more than one second. Every 5 s it prints
 * "HEARTH-DIRTY mb=N cs=N": megabytes of pages dirtied and centiseconds
 * since the start, so the rate reached can be read from the console.
 *
 * Built static by guest/prepare.sh and installed as /bin/hearth-dirty.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE	   4096ULL
#define SLICE_NS   10000000ULL
#define REPORT_NS  5000000000ULL
#define MAX_LAG_NS 1000000000ULL
#define NS_PER_SEC 1000000000ULL

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = {.tv_sec = (time_t)(t / NS_PER_SEC),
			      .tv_nsec = (long)(t % NS_PER_SEC)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
		;
}

int main(int argc, char **argv)
{
	uint64_t mbps, mib, pages, next = 0, done = 0, start, report, slice, seq = 1, skipped = 0;
	volatile uint64_t *mem;
	char *end;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: hearth-dirty MBPS [MIB]\n");
		return 2;
	}
	mbps = strtoull(argv[1], &end, 10);
	if (*end || !mbps) {
		fprintf(stderr, "hearth-dirty: bad rate '%s'\n", argv[1]);
		return 2;
	}
	mib = argc == 3 ? strtoull(argv[2], &end, 10) : 256;
	if ((argc == 3 && *end) || !mib || mib > 65536) {
		fprintf(stderr, "hearth-dirty: bad size '%s'\n", argv[2]);
		return 2;
	}
	pages = mib * 1024 * 1024 / PAGE;
	mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("hearth-dirty: mmap");
		return 1;
	}
	for (uint64_t p = 0; p < pages; p++)
		mem[p * (PAGE / 8)] = seq;

	/* Pages due are a running total from the start, so that fractions add up. */
	start = now_ns();
	report = start + REPORT_NS;
	for (slice = start;; slice += SLICE_NS) {
		uint64_t t = now_ns(), due;

		if (t > slice + MAX_LAG_NS) { /* a paused guest does not catch up */
			skipped += t - MAX_LAG_NS - slice;
			slice = t - MAX_LAG_NS;
		}
		/* ns * (10^6 bytes/s) / (bytes/page * 10^3) = pages */
		due = (slice + SLICE_NS - start - skipped) * mbps / (PAGE * 1000);
		if (due > done + pages)
			due = done + pages;
		while (done < due) {
			mem[next * (PAGE / 8)] = ++seq;
			next = next + 1 == pages ? 0 : next + 1;
			done++;
		}
		if (t >= report) {
			printf("HEARTH-DIRTY mb=%llu cs=%llu\n",
			       (unsigned long long)(done * PAGE / 1000000),
			       (unsigned long long)((t - start) / 10000000));
			fflush(stdout);
			report += REPORT_NS;
		}
		sleep_until(slice + SLICE_NS);
	}
}
