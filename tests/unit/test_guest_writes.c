/* SPDX-License-Identifier: MIT */
/*
 * What a guest can make hearth write is bounded: its errors reach the log a
 * few times a second whatever their number, and a serial output file stops
 * at CONSOLE_FILE_MAX_BYTES.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/log.h"
#include "vmm/console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_guest_errors_are_rate_limited(void **state)
{
	char path[] = "/tmp/hearth-test-log-XXXXXX", line[2048];
	uint64_t before = log_guest_error_count();
	unsigned lines = 0;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	log_set_output(fd);
	for (int i = 0; i < 20000; i++)
		log_guest_error("virtio-blk: descriptor %d points outside RAM", i);
	log_set_output(-1);
	assert_int_equal(log_guest_error_count() - before, 20000);
	f = fdopen(fd, "r");
	assert_non_null(f);
	rewind(f);
	while (fgets(line, sizeof(line), f))
		lines++;
	fclose(f);
	unlink(path);
	/* Five a second, plus a "suppressed" line per window: a handful, not 20000. */
	assert_true(lines >= 1);
	assert_true(lines <= 12);
}

static void test_serial_file_is_capped(void **state)
{
	char path[] = "/tmp/hearth-test-serial-XXXXXX", err[256] = "";
	static uint8_t chunk[64 * 1024];
	struct console *c;
	struct stat st;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	memset(chunk, 'x', sizeof(chunk));
	c = console_open(CONSOLE_FILE, path, err, sizeof(err));
	assert_non_null(c);
	for (unsigned i = 0; i < CONSOLE_FILE_MAX_BYTES / sizeof(chunk) + 16; i++)
		console_write(c, chunk, sizeof(chunk));
	console_write(c, chunk, 1);
	console_close(c);
	assert_int_equal(stat(path, &st), 0);
	unlink(path);
	assert_int_equal(st.st_size, CONSOLE_FILE_MAX_BYTES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_guest_errors_are_rate_limited),
	    cmocka_unit_test(test_serial_file_is_capped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
