/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/cpu_model.h"

/* A small table shaped like KVM_GET_SUPPORTED_CPUID's answer. */
static unsigned fake_supported(struct kvm_cpuid_entry2 *e)
{
	unsigned n = 0;

	memset(e, 0, 16 * sizeof(*e));
	e[n++] = (struct kvm_cpuid_entry2){
	    .function = 0, .eax = 0x1f, .ebx = 0x68747541, .edx = 0x69746e65, .ecx = 0x444d4163};
	e[n++] = (struct kvm_cpuid_entry2){
	    .function = 1, .ebx = 0x00ff0800, .ecx = 0x1, .edx = 0x10000000};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0xa, .eax = 0x7300805, .ebx = 1};
	e[n++] = (struct kvm_cpuid_entry2){
	    .function = 0xb, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX};
	e[n++] = (struct kvm_cpuid_entry2){
	    .function = 0xb, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0xd,
					   .index = 0,
					   .eax = 0x207,
					   .ebx = 0x240,
					   .ecx = 0xa88,
					   .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX};
	e[n++] = (struct kvm_cpuid_entry2){
	    .function = 0xd, .index = 1, .eax = 0x5, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0x40000000,
					   .eax = 0x40000001,
					   .ebx = 0x4b4d564b,
					   .ecx = 0x564b4d56,
					   .edx = 0x4d};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0x80000008, .eax = 0x3028};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0x8000001e};
	return n;
}

static void test_base_model(void **state)
{
	struct kvm_cpuid_entry2 sup[16];
	static struct cpu_model m;
	const struct kvm_cpuid_entry2 *e;
	unsigned n = fake_supported(sup);

	(void)state;
	assert_int_equal(cpu_model_from_supported(&m, sup, n), 0);
	assert_string_equal(m.vendor, "AuthenticAMD");
	assert_int_equal(m.phys_bits, 0x28);
	assert_int_equal(m.xsave_size, 0xa88);
	e = cpu_model_find(m.entries, m.nent, 1, 0);
	assert_non_null(e);
	assert_true(e->ecx & (1U << 31)); /* hypervisor present */
	e = cpu_model_find(m.entries, m.nent, 0xa, 0);
	assert_int_equal(e->eax | e->ebx | e->ecx | e->edx, 0); /* no PMU */
	e = cpu_model_find(m.entries, m.nent, 0xd, 0);
	assert_int_equal(e->ebx, 0xa88); /* size for every offered feature */
	e = cpu_model_find(m.entries, m.nent, 0xd, 1);
	assert_int_equal(e->eax, 0x5);
	assert_null(cpu_model_find(m.entries, m.nent, 0xd, 2));
	e = cpu_model_find(m.entries, m.nent, 0x40000000, 0);
	assert_non_null(e); /* KVM's paravirtual leaves are kept */
	assert_int_equal(cpu_model_from_supported(&m, sup, 0), -EINVAL);
}

static void test_vcpu_topology(void **state)
{
	struct kvm_cpuid_entry2 sup[16];
	static struct cpu_model m;
	static struct kvm_cpuid_entry2 out[CPU_MODEL_MAX_ENTRIES];
	const struct kvm_cpuid_entry2 *e;
	unsigned n = fake_supported(sup);

	(void)state;
	assert_int_equal(cpu_model_from_supported(&m, sup, n), 0);
	for (unsigned idx = 0; idx < 6; idx++) {
		unsigned nent = cpu_model_vcpu_cpuid(&m, idx, 6, out);
		assert_int_equal(nent, m.nent);
		e = cpu_model_find(out, nent, 1, 0);
		assert_int_equal(e->ebx >> 24, idx);	    /* APIC ID */
		assert_int_equal((e->ebx >> 16) & 0xff, 6); /* logical processors */
		assert_int_equal(e->ebx & 0xffff, 0x0800);  /* the rest untouched */
		assert_true(e->edx & (1U << 28));	    /* HTT with several vCPUs */
		e = cpu_model_find(out, nent, 0xb, 1);
		assert_int_equal(e->eax, 3); /* 6 cores need 3 bits of APIC ID */
		assert_int_equal(e->ebx, 6);
		assert_int_equal(e->edx, idx);
		assert_int_equal((e->ecx >> 8) & 0xff, 2); /* core level */
		e = cpu_model_find(out, nent, 0xb, 0);
		assert_int_equal(e->ebx, 1); /* one thread per core */
		e = cpu_model_find(out, nent, 0x80000008, 0);
		assert_int_equal(e->ecx & 0xff, 5);
		e = cpu_model_find(out, nent, 0x8000001e, 0);
		assert_int_equal(e->eax, idx);
	}
	/* One vCPU: no HTT. */
	cpu_model_vcpu_cpuid(&m, 0, 1, out);
	e = cpu_model_find(out, m.nent, 1, 0);
	assert_false(e->edx & (1U << 28));
	/* The base model is not modified by per-vCPU tables. */
	e = cpu_model_find(m.entries, m.nent, 1, 0);
	assert_int_equal(e->ebx, 0x00ff0800);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base_model),
	    cmocka_unit_test(test_vcpu_topology),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
