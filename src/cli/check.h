/* SPDX-License-Identifier: MIT */
/*
 * `hearth check`: can this host run VMs, and how well?
 *
 * The work is split so that the verdict can be tested without KVM:
 * check_gather() collects facts about the host into struct check_facts,
 * check_evaluate() turns facts into report lines and a verdict (a pure
 * function), cli_check() prints the report.
 */
#ifndef HEARTH_CLI_CHECK_H
#define HEARTH_CLI_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* The KVM capabilities hearth asks about (KVM_CHECK_EXTENSION). */
enum check_cap {
	CHECK_CAP_IRQCHIP,
	CHECK_CAP_PIT2,
	CHECK_CAP_IRQFD,
	CHECK_CAP_IOEVENTFD,
	CHECK_CAP_USER_MEMORY,
	CHECK_CAP_SET_TSS_ADDR,
	CHECK_CAP_EXT_CPUID,
	CHECK_CAP_SIGNAL_MSI,
	CHECK_CAP_IRQ_ROUTING,
	CHECK_CAP_IMMEDIATE_EXIT,
	CHECK_CAP_XSAVE,
	CHECK_CAP_XCRS,
	CHECK_CAP_TSC_CONTROL,
	CHECK_CAP_GET_TSC_KHZ,
	CHECK_CAP_KVMCLOCK_CTRL,
	CHECK_CAP_NR_VCPUS,
	CHECK_CAP_MAX_VCPUS,
	CHECK_CAP_COUNT,
};

/* Fewest vCPUs per VM below which check warns. */
#define CHECK_MIN_MAX_VCPUS 254

/* What check_gather() found out. Errors are positive errno values, 0 = fine. */
struct check_facts {
	bool kvm_exists;   /* /dev/kvm exists */
	int kvm_open_err;  /* opening /dev/kvm read-write */
	char kvm_node[80]; /* e.g. "crw-rw---- root:kvm", "" if unknown */
	int api_version;   /* KVM_GET_API_VERSION, -1 if not asked */
	bool caps_known;   /* caps[] holds KVM_CHECK_EXTENSION results */
	int caps[CHECK_CAP_COUNT];
	bool cpu_vmx, cpu_svm;			      /* flags in /proc/cpuinfo */
	bool cpuinfo_known;			      /* /proc/cpuinfo could be read */
	bool mod_kvm_intel, mod_kvm_amd, mod_kvm_pvm; /* directories in /sys/module */
	bool modules_known;			      /* /sys/module could be read */
	int tun_err;				      /* opening /dev/net/tun */
	int io_uring_err;			      /* io_uring_setup() */
	int io_uring_disabled; /* /proc/sys/kernel/io_uring_disabled, -1 if absent */
};

enum check_status { CHECK_PASS, CHECK_WARN, CHECK_FAIL };

#define CHECK_MAX_LINES 32

struct check_line {
	enum check_status status;
	char what[40];	  /* what was checked */
	char detail[400]; /* what was found; for WARN and FAIL what to do */
};

struct check_report {
	struct check_line lines[CHECK_MAX_LINES];
	size_t nr_lines;
	bool can_run;	   /* a stock Linux guest can run here */
	bool pvm;	   /* /dev/kvm is served by PVM */
	char summary[240]; /* one line: the verdict */
};

/*
 * check_gather - look at the host: /dev/kvm, its API version and
 * capabilities, /proc/cpuinfo, /sys/module, /dev/net/tun, io_uring. Never
 * fails: what cannot be found out is recorded as such in f.
 */
void check_gather(struct check_facts *f);

/*
 * check_evaluate - turn facts into report lines and a verdict. Pure: no I/O.
 * A stock guest can run (r->can_run) only with read-write /dev/kvm, API
 * version 12, hardware virtualization (vmx or svm and kvm_intel or kvm_amd)
 * and every required capability.
 */
void check_evaluate(const struct check_facts *f, struct check_report *r);

/*
 * check_cpuinfo_flags - find "vmx" and "svm" among the words of the
 * "flags" lines of a /proc/cpuinfo text.
 */
void check_cpuinfo_flags(const char *cpuinfo, bool *vmx, bool *svm);

/* check_status_name - "PASS", "WARN" or "FAIL". */
const char *check_status_name(enum check_status s);

/*
 * cli_check - `hearth check [--quiet]`; argv[0] is the subcommand's name.
 * Prints one line per check and a verdict on stdout (nothing with --quiet).
 * Returns 0 when a stock Linux guest can run on this host, 1 when it cannot,
 * 2 for a usage error.
 */
int cli_check(int argc, char **argv);

#endif
