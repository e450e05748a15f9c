// SPDX-License-Identifier: MIT
/* Tests for `hearth check`: the verdict over synthetic host facts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/check.h"

/* A host with VT-x and everything hearth uses. */
static void good_intel_host(struct check_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->kvm_exists = true;
	snprintf(f->kvm_node, sizeof(f->kvm_node), "crw-rw---- root:kvm");
	f->api_version = 12;
	f->caps_known = true;
	for (int i = 0; i < CHECK_CAP_COUNT; i++)
		f->caps[i] = 1;
	f->caps[CHECK_CAP_NR_VCPUS] = 4;
	f->caps[CHECK_CAP_MAX_VCPUS] = 1024;
	f->cpuinfo_known = true;
	f->cpu_vmx = true;
	f->modules_known = true;
	f->mod_kvm_intel = true;
	f->io_uring_disabled = 0;
}

static bool has_line(const struct check_report *r, const char *what)
{
	for (size_t i = 0; i < r->nr_lines; i++)
		if (strcmp(r->lines[i].what, what) == 0)
			return true;
	return false;
}

/* The report line about what; fails the test when there is none. */
static const struct check_line *find_line(const struct check_report *r, const char *what)
{
	static const struct check_line none;

	for (size_t i = 0; i < r->nr_lines; i++)
		if (strcmp(r->lines[i].what, what) == 0)
			return &r->lines[i];
	fail_msg("no report line for '%s'", what);
	return &none;
}

static size_t count_status(const struct check_report *r, enum check_status st)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nr_lines; i++)
		n += r->lines[i].status == st;
	return n;
}

static void test_vmx_all_caps_ok(void **state)
{
	struct check_facts f;
	struct check_report r;
	const struct check_line *l;

	good_intel_host(&f);
	check_evaluate(&f, &r);
	assert_true(r.can_run);
	assert_false(r.pvm);
	assert_int_equal(count_status(&r, CHECK_FAIL), 0);
	assert_int_equal(count_status(&r, CHECK_WARN), 0);
	l = find_line(&r, "/dev/kvm");
	assert_non_null(l);
	assert_int_equal(l->status, CHECK_PASS);
	assert_non_null(strstr(l->detail, "root:kvm"));
	l = find_line(&r, "hardware virtualization");
	assert_non_null(l);
	assert_non_null(strstr(l->detail, "kvm_intel"));
	l = find_line(&r, "vCPUs per VM");
	assert_non_null(l);
	assert_int_equal(l->status, CHECK_PASS);
	assert_non_null(strstr(l->detail, "1024"));
	assert_non_null(strstr(r.summary, "can run"));
}

static void test_svm_host_ok(void **state)
{
	struct check_facts f;
	struct check_report r;

	good_intel_host(&f);
	f.cpu_vmx = false;
	f.mod_kvm_intel = false;
	f.cpu_svm = true;
	f.mod_kvm_amd = true;
	check_evaluate(&f, &r);
	assert_true(r.can_run);
	assert_non_null(strstr(find_line(&r, "hardware virtualization")->detail, "kvm_amd"));
}

static void test_pvm_host_cannot_run_stock(void **state)
{
	struct check_facts f;
	struct check_report r;
	const struct check_line *l;

	good_intel_host(&f);
	f.cpu_vmx = false;
	f.mod_kvm_intel = false;
	f.mod_kvm_pvm = true;
	check_evaluate(&f, &r);
	assert_false(r.can_run);
	assert_true(r.pvm);
	l = find_line(&r, "hardware virtualization");
	assert_non_null(l);
	assert_int_equal(l->status, CHECK_FAIL);
	assert_non_null(strstr(l->detail, "PVM"));
	assert_non_null(strstr(l->detail, "stock Linux kernels will not boot"));
	assert_non_null(strstr(l->detail, "tests/nested"));
	/* The KVM device itself is fine: only virtualization fails. */
	assert_int_equal(count_status(&r, CHECK_FAIL), 1);
	assert_non_null(strstr(r.summary, "PVM"));
}

static void test_missing_dev_kvm(void **state)
{
	struct check_facts f;
	struct check_report r;
	const struct check_line *l;

	good_intel_host(&f);
	f.kvm_exists = false;
	f.kvm_open_err = ENOENT;
	f.kvm_node[0] = '\0';
	f.api_version = -1;
	f.caps_known = false;
	f.mod_kvm_intel = false;
	check_evaluate(&f, &r);
	assert_false(r.can_run);
	l = find_line(&r, "/dev/kvm");
	assert_non_null(l);
	assert_int_equal(l->status, CHECK_FAIL);
	assert_non_null(strstr(l->detail, "missing"));
	assert_non_null(strstr(l->detail, "modprobe kvm_intel"));
	/* Without /dev/kvm nothing about the API can be said. */
	assert_false(has_line(&r, "KVM API version"));
	l = find_line(&r, "KVM capabilities");
	assert_non_null(l);
	assert_int_equal(l->status, CHECK_FAIL);
	/* vmx without its module: says which module to load. */
	l = find_line(&r, "hardware virtualization");
	assert_int_equal(l->status, CHECK_FAIL);
	assert_non_null(strstr(l->detail, "modprobe kvm_intel"));
}

static void test_dev_kvm_permission(void **state)
{
	struct check_facts f;
	struct check_report r;
	const struct check_line *l;

	good_intel_host(&f);
	f.kvm_open_err = EACCES;
	f.caps_known = false;
	f.api_version = -1;
	check_evaluate(&f, &r);
	assert_false(r.can_run);
	l = find_line(&r, "/dev/kvm");
	assert_int_equal(l->status, CHECK_FAIL);
	assert_non_null(strstr(l->detail, "usermod -aG kvm"));
	assert_non_null(strstr(l->detail, "root:kvm"));
}

static void test_wrong_api_version(void **state)
{
	struct check_facts f;
	struct check_report r;

	good_intel_host(&f);
	f.api_version = 11;
	check_evaluate(&f, &r);
	assert_false(r.can_run);
	assert_int_equal(find_line(&r, "KVM API version")->status, CHECK_FAIL);
}

static void test_missing_required_cap_fails(void **state)
{
	struct check_facts f;
	struct check_report r;
	const struct check_line *l;

	good_intel_host(&f);
	f.caps[CHECK_CAP_IOEVENTFD] = 0;
	check_evaluate(&f, &r);
	assert_false(r.can_run);
	l = find_line(&r, "KVM_CAP_IOEVENTFD");
	assert_non_null(l);
	assert_int_equal(l->status, CHECK_FAIL);
	assert_int_equal(count_status(&r, CHECK_FAIL), 1);
	assert_non_null(strstr(r.summary, "FAIL"));
}

static void test_missing_optional_caps_warn(void **state)
{
	struct check_facts f;
	struct check_report r;

	good_intel_host(&f);
	f.caps[CHECK_CAP_KVMCLOCK_CTRL] = 0;
	f.caps[CHECK_CAP_TSC_CONTROL] = 0; /* GET_TSC_KHZ still there */
	f.caps[CHECK_CAP_MAX_VCPUS] = 128;
	f.tun_err = ENOENT;
	f.io_uring_err = EPERM;
	f.io_uring_disabled = 2;
	check_evaluate(&f, &r);
	assert_true(r.can_run);
	assert_int_equal(find_line(&r, "KVM_CAP_KVMCLOCK_CTRL")->status, CHECK_WARN);
	assert_int_equal(find_line(&r, "TSC frequency")->status, CHECK_WARN);
	assert_non_null(strstr(find_line(&r, "TSC frequency")->detail, "GET_TSC_KHZ"));
	assert_int_equal(find_line(&r, "vCPUs per VM")->status, CHECK_WARN);
	assert_non_null(strstr(find_line(&r, "vCPUs per VM")->detail, "128"));
	assert_int_equal(find_line(&r, "/dev/net/tun")->status, CHECK_WARN);
	assert_non_null(strstr(find_line(&r, "/dev/net/tun")->detail, "modprobe tun"));
	assert_int_equal(find_line(&r, "io_uring")->status, CHECK_WARN);
	assert_non_null(strstr(find_line(&r, "io_uring")->detail, "io_uring_disabled=2"));
	assert_int_equal(count_status(&r, CHECK_WARN), 5);
	assert_non_null(strstr(r.summary, "5 warnings"));
}

static void test_vcpu_defaults(void **state)
{
	struct check_facts f;
	struct check_report r;

	/* No MAX_VCPUS: KVM's documented fallback is NR_VCPUS, then 4. */
	good_intel_host(&f);
	f.caps[CHECK_CAP_MAX_VCPUS] = 0;
	f.caps[CHECK_CAP_NR_VCPUS] = 0;
	check_evaluate(&f, &r);
	assert_non_null(strstr(find_line(&r, "vCPUs per VM")->detail, "at most 4"));
	assert_int_equal(find_line(&r, "vCPUs per VM")->status, CHECK_WARN);
}

static void test_no_virtualization(void **state)
{
	struct check_facts f;
	struct check_report r;
	const struct check_line *l;

	good_intel_host(&f);
	f.cpu_vmx = false;
	f.mod_kvm_intel = false;
	check_evaluate(&f, &r);
	assert_false(r.can_run);
	assert_false(r.pvm);
	l = find_line(&r, "hardware virtualization");
	assert_int_equal(l->status, CHECK_FAIL);
	assert_non_null(strstr(l->detail, "neither vmx nor svm"));
}

static void test_cpuinfo_flags(void **state)
{
	bool vmx, svm;

	check_cpuinfo_flags("processor\t: 0\nflags\t\t: fpu vme vmx sse\nbugs\t\t: none\n", &vmx,
			    &svm);
	assert_true(vmx);
	assert_false(svm);
	check_cpuinfo_flags("flags\t\t: fpu svm\n", &vmx, &svm);
	assert_false(vmx);
	assert_true(svm);
	/* Whole words only, and only on the flags line. */
	check_cpuinfo_flags("flags\t\t: fpu vmxe xsvm\nmodel name\t: vmx svm\n", &vmx, &svm);
	assert_false(vmx);
	assert_false(svm);
	check_cpuinfo_flags("flags\t\t: vmx", &vmx, &svm);
	assert_true(vmx);
	check_cpuinfo_flags("", &vmx, &svm);
	assert_false(vmx);
	assert_false(svm);
}

/* Runs cli_check with stdout/stderr sent to a file; returns the exit status. */
static int run_cli(char **argv, int argc, char *out, size_t outlen)
{
	FILE *tmp = tmpfile();
	int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO), ret;
	size_t n;

	assert_non_null(tmp);
	fflush(stdout);
	fflush(stderr);
	dup2(fileno(tmp), STDOUT_FILENO);
	dup2(fileno(tmp), STDERR_FILENO);
	ret = cli_check(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	rewind(tmp);
	n = fread(out, 1, outlen - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	return ret;
}

static void test_cli(void **state)
{
	char cmd[] = "check", q[] = "--quiet", h[] = "--help", bogus[] = "--bogus", x[] = "extra";
	char *quiet[] = {cmd, q, NULL};
	char *loud[] = {cmd, NULL};
	char *help[] = {cmd, h, NULL};
	char *bad[] = {cmd, bogus, NULL};
	char *extra[] = {cmd, x, NULL};
	char out[16384];
	struct check_facts f;
	struct check_report r;
	int ret;

	/* The real host: whatever it is, --quiet prints nothing and agrees with the report. */
	check_gather(&f);
	check_evaluate(&f, &r);
	ret = run_cli(quiet, 2, out, sizeof(out));
	assert_int_equal(ret, r.can_run ? 0 : 1);
	assert_string_equal(out, "");

	ret = run_cli(loud, 1, out, sizeof(out));
	assert_int_equal(ret, r.can_run ? 0 : 1);
	assert_non_null(strstr(out, "/dev/kvm"));
	assert_non_null(strstr(out, r.summary));

	assert_int_equal(run_cli(help, 2, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "--quiet"));
	assert_int_equal(run_cli(bad, 2, out, sizeof(out)), 2);
	assert_int_equal(run_cli(extra, 2, out, sizeof(out)), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vmx_all_caps_ok),
	    cmocka_unit_test(test_svm_host_ok),
	    cmocka_unit_test(test_pvm_host_cannot_run_stock),
	    cmocka_unit_test(test_missing_dev_kvm),
	    cmocka_unit_test(test_dev_kvm_permission),
	    cmocka_unit_test(test_wrong_api_version),
	    cmocka_unit_test(test_missing_required_cap_fails),
	    cmocka_unit_test(test_missing_optional_caps_warn),
	    cmocka_unit_test(test_vcpu_defaults),
	    cmocka_unit_test(test_no_virtualization),
	    cmocka_unit_test(test_cpuinfo_flags),
	    cmocka_unit_test(test_cli),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
