/* SPDX-License-Identifier: MIT */
/*
 * The snapshot state file loader (snapshot_parse()) and the memory file
 * check, without KVM: a real 1-vCPU state file from the fuzz seed corpus
 * (tests/fuzz/corpus/snapshot/one_vcpu: the file without its SHA-256
 * trailer) is accepted once its trailer is added; truncations, bit flips,
 * another format version and checksum-valid files with bad fields are
 * refused with a message naming the problem.
 *
 * Usage: test_snapshot ONE_VCPU_SEED
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_priv.h"

static const char *seed_path;
static uint8_t *body; /* the seed: a state file without its trailer */
static size_t body_len;

/* A whole state file from b[0, len): its length field and SHA-256 trailer made right. */
static uint8_t *seal(const uint8_t *b, size_t len, size_t *out_len)
{
	uint64_t total = len + SNAP_HASH_BYTES;
	uint8_t *f = malloc(total);

	assert_non_null(f);
	memcpy(f, b, len);
	memcpy(f + offsetof(struct snap_header, file_size), &total, sizeof(total));
	assert_int_equal(snap_sha256(f, len, f + len), 0);
	*out_len = (size_t)total;
	return f;
}

/* Parse f[0, len): 0 or -EINVAL with err set; s freed. */
static int parse(const uint8_t *f, size_t len, char *err, size_t errlen)
{
	struct snapshot s;
	int r;

	err[0] = '\0';
	r = snapshot_parse(f, len, &s, err, errlen);
	if (r == 0)
		snapshot_free(&s);
	else
		assert_true(err[0] != '\0');
	return r;
}

/* Change the u32 at off of a copy of the body, seal it, expect a refusal naming want. */
static void refuse_field(size_t off, uint32_t value, const char *want)
{
	uint8_t *b = malloc(body_len), *f;
	char err[256];
	size_t len;

	assert_non_null(b);
	memcpy(b, body, body_len);
	memcpy(b + off, &value, sizeof(value));
	f = seal(b, body_len, &len);
	assert_int_equal(parse(f, len, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("u32 %u at %zu: '%s' does not name '%s'", value, off, err, want);
	free(f);
	free(b);
}

static void test_accepts_the_real_file(void **state)
{
	struct snapshot s;
	char err[256] = "";
	size_t len;
	uint8_t *f = seal(body, body_len, &len);

	(void)state;
	assert_int_equal(snapshot_parse(f, len, &s, err, sizeof(err)), 0);
	assert_int_equal(s.machine.ncpus, 1);
	assert_true(s.machine.ncpuid > 0);
	assert_int_equal(s.vcpus[0].index, 0);
	assert_int_equal(s.vcpus[0].version, VCPU_STATE_VERSION);
	assert_int_equal(s.irqchip.version, IRQCHIP_STATE_VERSION);
	assert_int_equal(s.nvirtio, 0);
	assert_int_equal(s.hdr.mem_size, s.machine.mem_size);
	snapshot_free(&s);
	free(f);
}

static void test_refuses_truncations(void **state)
{
	size_t len;
	uint8_t *f = seal(body, body_len, &len);
	char err[256];

	(void)state;
	for (size_t n = 0; n < len; n += n < 256 ? 1 : 997)
		assert_int_equal(parse(f, n, err, sizeof(err)), -EINVAL);
	assert_int_equal(parse(f, len - 1, err, sizeof(err)), -EINVAL);
	free(f);
}

static void test_refuses_bit_flips(void **state)
{
	size_t len;
	uint8_t *f = seal(body, body_len, &len);
	char err[256];

	(void)state;
	for (size_t off = 0; off < len; off += off < 128 ? 1 : 331) {
		f[off] ^= (uint8_t)(1u << (off % 8));
		assert_int_equal(parse(f, len, err, sizeof(err)), -EINVAL);
		if (off >= sizeof(struct snap_header))
			assert_non_null(strstr(err, "checksum"));
		f[off] ^= (uint8_t)(1u << (off % 8));
	}
	assert_int_equal(parse(f, len, err, sizeof(err)), 0);
	free(f);
}

static void test_refuses_bad_fields(void **state)
{
	const size_t hdr = sizeof(struct snap_header), sec = sizeof(struct snap_section_hdr);
	const size_t machine = hdr + sec;

	(void)state;
	refuse_field(offsetof(struct snap_header, version), 2, "version 2");
	refuse_field(offsetof(struct snap_header, nsections), 100000, "sections");
	refuse_field(offsetof(struct snap_header, nsections), 3, "after the last section");
	refuse_field(hdr, SNAP_SEC_VCPU, "the first section is not the machine");
	refuse_field(machine + offsetof(struct snap_machine, ncpus), 0, "0 vCPUs");
	refuse_field(machine + offsetof(struct snap_machine, ncpus), 2, "missing");
	refuse_field(machine + offsetof(struct snap_machine, transport), 7, "transport");
	refuse_field(machine + offsetof(struct snap_machine, ndisks), 17, "disks");
	refuse_field(machine + offsetof(struct snap_machine, ncpuid), 100000, "CPUID");
	refuse_field(machine + offsetof(struct snap_machine, mem_size), 12345, "machine");
	refuse_field(hdr + 8, 100, "bytes");	       /* the machine section's length */
	refuse_field(hdr + 8, 0xffffffffu, "overrun"); /* its length, too large */
	refuse_field(offsetof(struct snap_header, mem_size), 4096, "memory size");
}

static void test_refuses_trailing_bytes(void **state)
{
	uint8_t *b = calloc(1, body_len + 8), *f;
	char err[256];
	size_t len;

	(void)state;
	assert_non_null(b);
	memcpy(b, body, body_len);
	f = seal(b, body_len + 8, &len);
	assert_int_equal(parse(f, len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "after the last section"));
	free(f);
	free(b);
}

static void test_memory_file_check(void **state)
{
	struct snapshot s;
	struct snap_mem_trailer t = {0};
	char err[256], path[] = "/tmp/hearth-test-snapshot-XXXXXX";
	size_t len;
	uint8_t *f = seal(body, body_len, &len);
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(snapshot_parse(f, len, &s, err, sizeof(err)), 0);
	memcpy(t.magic, SNAP_MEM_MAGIC, sizeof(t.magic));
	t.version = SNAP_VERSION;
	t.mem_size = s.hdr.mem_size;
	memcpy(t.id, s.hdr.id, sizeof(t.id));
	assert_int_equal(ftruncate(fd, (off_t)(s.hdr.mem_size + SNAP_MEM_TRAILER)), 0);
	assert_int_equal(pwrite(fd, &t, sizeof(t), (off_t)s.hdr.mem_size), (ssize_t)sizeof(t));
	assert_int_equal(snapshot_check_mem_file(&s, fd, err, sizeof(err)), 0);

	t.id[3] ^= 1; /* another snapshot's */
	assert_int_equal(pwrite(fd, &t, sizeof(t), (off_t)s.hdr.mem_size), (ssize_t)sizeof(t));
	assert_int_equal(snapshot_check_mem_file(&s, fd, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "another snapshot"));
	t.id[3] ^= 1;
	t.magic[0] = 'X';
	assert_int_equal(pwrite(fd, &t, sizeof(t), (off_t)s.hdr.mem_size), (ssize_t)sizeof(t));
	assert_int_equal(snapshot_check_mem_file(&s, fd, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "trailer"));
	assert_int_equal(ftruncate(fd, (off_t)s.hdr.mem_size), 0);
	assert_int_equal(snapshot_check_mem_file(&s, fd, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "memory file is"));
	close(fd);
	snapshot_free(&s);
	free(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepts_the_real_file),
	    cmocka_unit_test(test_refuses_truncations),
	    cmocka_unit_test(test_refuses_bit_flips),
	    cmocka_unit_test(test_refuses_bad_fields),
	    cmocka_unit_test(test_refuses_trailing_bytes),
	    cmocka_unit_test(test_memory_file_check),
	};
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: test_snapshot ONE_VCPU_SEED\n");
		return 2;
	}
	seed_path = argv[1];
	if (read_whole_file(seed_path, SNAP_MAX_FILE, &body, &body_len) ||
	    body_len < sizeof(struct snap_header)) {
		fprintf(stderr, "test_snapshot: cannot read %s\n", seed_path);
		return 1;
	}
	r = cmocka_run_group_tests(tests, NULL, NULL);
	free(body);
	return r;
}
