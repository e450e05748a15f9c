/* SPDX-License-Identifier: MIT */
/*
 * line-stamp STAMPED: copy standard input to standard output unchanged and
 * append every complete line to the file STAMPED as "MICROSECONDS LINE",
 * MICROSECONDS being CLOCK_MONOTONIC when the line's newline arrived
 * (carriage returns dropped). Used to see when a guest's console lines
 * reach the host: the guest-visible pause of a live migration is the
 * largest gap between two lines of a guest that prints every few ms.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_KEPT 4096

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static char buf[65536], line[LINE_MAX_KEPT];
	size_t line_len = 0;
	FILE *stamped;

	if (argc != 2) {
		fprintf(stderr, "usage: line-stamp STAMPED_FILE <in >out\n");
		return 2;
	}
	stamped = fopen(argv[1], "a");
	if (!stamped) {
		perror(argv[1]);
		return 1;
	}
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
		struct timespec ts;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		/* The copy first: whoever waits on it sees it at once. */
		write_all(STDOUT_FILENO, buf, (size_t)n);
		for (ssize_t i = 0; i < n; i++) {
			char c = buf[i];

			if (c == '\n') {
				fprintf(stamped, "%lld %.*s\n",
					(long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000,
					(int)line_len, line);
				fflush(stamped);
				line_len = 0;
			} else if (c != '\r' && line_len < sizeof(line)) {
				line[line_len++] = c;
			}
		}
	}
	if (line_len) {
		fprintf(stamped, "- %.*s\n", (int)line_len, line);
	}
	fclose(stamped);
	return 0;
}
