/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/config.h"

static void test_defaults(void **state)
{
	struct vm_config a, b;

	(void)state;
	config_init_defaults(&a);
	config_init_defaults(&b);
	assert_int_equal(a.ncpus, 1);
	assert_int_equal(a.mem_size, 512ULL << 20);
	assert_string_equal(a.cmdline, "console=ttyS0");
	assert_int_equal(a.serial, CONSOLE_STDIO);
	assert_true(a.rng);
	assert_int_equal(a.transport, TRANSPORT_PCI);
	assert_true(config_valid_id(a.id));
	assert_string_not_equal(a.id, b.id); /* generated ids differ */
	assert_false(config_valid_id(""));
	assert_false(config_valid_id("has space"));
	assert_false(config_valid_id("a/b"));
	assert_true(config_valid_id("web-1_a"));
}

static void test_disk(void **state)
{
	struct disk_config d;
	char err[128];

	(void)state;
	assert_int_equal(config_parse_disk("path=/img/a.raw", &d, err, sizeof(err)), 0);
	assert_string_equal(d.path, "/img/a.raw");
	assert_false(d.readonly);
	assert_int_equal(d.cache, DISK_CACHE_WRITEBACK);
	free(d.path);
	assert_int_equal(config_parse_disk("path=b.img,readonly=on,cache=unsafe,serial=SN1,id=root,"
					   "iops=100,bps=1048576",
					   &d, err, sizeof(err)),
			 0);
	assert_true(d.readonly);
	assert_int_equal(d.cache, DISK_CACHE_UNSAFE);
	assert_string_equal(d.serial, "SN1");
	assert_string_equal(d.id, "root");
	assert_int_equal(d.iops, 100);
	assert_int_equal(d.bps, 1048576);
	free(d.path);
	assert_int_equal(config_parse_disk("path=c,cache=none", &d, err, sizeof(err)), 0);
	assert_int_equal(d.cache, DISK_CACHE_NONE);
	free(d.path);

	assert_int_equal(config_parse_disk("readonly=on", &d, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "path=FILE is required"));
	assert_null(d.path);
	assert_int_equal(config_parse_disk("path=a,cache=always", &d, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cache=always"));
	assert_int_equal(config_parse_disk("path=a,readonly=maybe", &d, err, sizeof(err)), -1);
	assert_int_equal(config_parse_disk("path=a,colour=red", &d, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "colour"));
	assert_int_equal(
	    config_parse_disk("path=a,serial=123456789012345678901", &d, err, sizeof(err)), -1);
	assert_int_equal(config_parse_disk("path=a,iops=-1", &d, err, sizeof(err)), -1);
	assert_int_equal(config_parse_disk("path=", &d, err, sizeof(err)), -1);
	assert_int_equal(config_parse_disk("justafile.img", &d, err, sizeof(err)), -1);
	assert_int_equal(config_parse_disk("path=a,id=bad id", &d, err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_disk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
