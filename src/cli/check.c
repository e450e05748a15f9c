// SPDX-License-Identifier: MIT
/* hearth check: can this host run VMs, and how well? */
#include "cli/check.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <linux/io_uring.h>
#include <linux/kvm.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/util.h"

/* How each capability matters to hearth. */
struct cap_desc {
	int cap;	  /* KVM_CAP_* */
	const char *name; /* as printed */
	bool required;	  /* without it a guest cannot run under hearth */
	const char *why;  /* what is lost without it */
};

static const struct cap_desc caps[CHECK_CAP_COUNT] = {
    [CHECK_CAP_IRQCHIP] = {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", true,
			   "in-kernel interrupt controllers (PIC, IOAPIC, LAPIC)"},
    [CHECK_CAP_PIT2] = {KVM_CAP_PIT2, "KVM_CAP_PIT2", true, "in-kernel timer (PIT)"},
    [CHECK_CAP_IRQFD] = {KVM_CAP_IRQFD, "KVM_CAP_IRQFD", true,
			 "interrupts injected through eventfds"},
    [CHECK_CAP_IOEVENTFD] = {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD", true,
			     "device notifications handled in the kernel"},
    [CHECK_CAP_USER_MEMORY] = {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", true,
			       "guest memory in hearth's address space"},
    [CHECK_CAP_SET_TSS_ADDR] = {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", true,
				"real-mode support area (Intel)"},
    [CHECK_CAP_EXT_CPUID] = {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", true,
			     "the guest's CPUID table"},
    [CHECK_CAP_SIGNAL_MSI] = {KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI", true,
			      "message-signalled interrupts (MSI-X of PCI devices)"},
    [CHECK_CAP_IRQ_ROUTING] = {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING", true,
			       "interrupt routes for MSI and irqfd"},
    [CHECK_CAP_IMMEDIATE_EXIT] = {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", true,
				  "stopping and pausing vCPUs without races"},
    [CHECK_CAP_XSAVE] = {KVM_CAP_XSAVE, "KVM_CAP_XSAVE", false,
			 "snapshots and migration cannot carry AVX/extended FPU state"},
    [CHECK_CAP_XCRS] = {KVM_CAP_XCRS, "KVM_CAP_XCRS", false,
			"snapshots and migration cannot carry XCR0"},
    [CHECK_CAP_TSC_CONTROL] = {KVM_CAP_TSC_CONTROL, "KVM_CAP_TSC_CONTROL", false, NULL},
    [CHECK_CAP_GET_TSC_KHZ] = {KVM_CAP_GET_TSC_KHZ, "KVM_CAP_GET_TSC_KHZ", false, NULL},
    [CHECK_CAP_KVMCLOCK_CTRL] = {KVM_CAP_KVMCLOCK_CTRL, "KVM_CAP_KVMCLOCK_CTRL", false,
				 "a paused guest may report soft lockups when resumed"},
    [CHECK_CAP_NR_VCPUS] = {KVM_CAP_NR_VCPUS, "KVM_CAP_NR_VCPUS", false, NULL},
    [CHECK_CAP_MAX_VCPUS] = {KVM_CAP_MAX_VCPUS, "KVM_CAP_MAX_VCPUS", false, NULL},
};

const char *check_status_name(enum check_status s)
{
	switch (s) {
	case CHECK_PASS:
		return "PASS";
	case CHECK_WARN:
		return "WARN";
	case CHECK_FAIL:
		return "FAIL";
	}
	return "????";
}

/* ---- evaluation (pure) ---- */

static void add_line(struct check_report *r, enum check_status st, const char *what,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void add_line(struct check_report *r, enum check_status st, const char *what,
		     const char *fmt, ...)
{
	struct check_line *l;
	va_list ap;

	if (r->nr_lines >= CHECK_MAX_LINES)
		return;
	l = &r->lines[r->nr_lines++];
	l->status = st;
	snprintf(l->what, sizeof(l->what), "%s", what);
	va_start(ap, fmt);
	vsnprintf(l->detail, sizeof(l->detail), fmt, ap);
	va_end(ap);
}

/* /dev/kvm itself; returns whether it can be used. */
static bool eval_kvm_node(const struct check_facts *f, struct check_report *r)
{
	const char *node = f->kvm_node[0] ? f->kvm_node : "?";

	if (!f->kvm_exists) {
		add_line(
		    r, CHECK_FAIL, "/dev/kvm",
		    "missing: load KVM (modprobe kvm_intel, or modprobe kvm_amd) after enabling "
		    "VT-x/AMD-V in the firmware setup");
		return false;
	}
	if (f->kvm_open_err == EACCES || f->kvm_open_err == EPERM) {
		add_line(r, CHECK_FAIL, "/dev/kvm",
			 "present (%s) but not read-write for this user: join its group "
			 "(sudo usermod -aG kvm $USER, then log in again) or give the group "
			 "read-write access (mode 0660, e.g. a udev rule)",
			 node);
		return false;
	}
	if (f->kvm_open_err) {
		add_line(r, CHECK_FAIL, "/dev/kvm", "present (%s) but cannot be opened: %s", node,
			 strerror(f->kvm_open_err));
		return false;
	}
	add_line(r, CHECK_PASS, "/dev/kvm", "present, read-write (%s)", node);
	return true;
}

/* Hardware virtualization or PVM; returns whether stock guests can run. */
static bool eval_virt(const struct check_facts *f, struct check_report *r)
{
	const char *what = "hardware virtualization";
	bool cpu = f->cpu_vmx || f->cpu_svm;
	bool mod = f->mod_kvm_intel || f->mod_kvm_amd;
	const char *ext = f->cpu_vmx ? "Intel VT-x (vmx)" : "AMD-V (svm)";
	const char *modname = f->mod_kvm_intel ? "kvm_intel" : "kvm_amd";

	if (mod) {
		if (f->mod_kvm_pvm)
			add_line(r, CHECK_WARN, what,
				 "%s, %s loaded; kvm_pvm is loaded too, so /dev/kvm may be PVM "
				 "(then only PVM-enabled guest kernels boot)",
				 cpu ? ext : "CPU flags unknown", modname);
		else
			add_line(r, CHECK_PASS, what, "%s, %s loaded",
				 cpu ? ext : "CPU flags unknown", modname);
		return true;
	}
	if (f->mod_kvm_pvm) {
		r->pvm = true;
		add_line(
		    r, CHECK_FAIL, what,
		    "none: /dev/kvm is PVM (kvm_pvm, pagetable-based virtualization). Only "
		    "PVM-enabled guest kernels run at speed here; stock Linux kernels will not "
		    "boot. Run stock guests on the nested test host (see tests/nested)");
		return false;
	}
	if (cpu && f->modules_known) {
		add_line(r, CHECK_FAIL, what,
			 "the CPU has %s but %s is not loaded: modprobe %s (if it fails, look at "
			 "dmesg: virtualization may be disabled in the firmware setup)",
			 ext, f->cpu_vmx ? "kvm_intel" : "kvm_amd",
			 f->cpu_vmx ? "kvm_intel" : "kvm_amd");
		return false;
	}
	if (cpu) {
		add_line(r, CHECK_WARN, what,
			 "%s; cannot see /sys/module to tell which KVM module "
			 "serves /dev/kvm",
			 ext);
		return true;
	}
	if (!f->cpuinfo_known) {
		add_line(r, CHECK_FAIL, what,
			 "cannot tell: /proc/cpuinfo is unreadable and no kvm_intel or kvm_amd "
			 "module is loaded");
		return false;
	}
	add_line(r, CHECK_FAIL, what,
		 "the CPU shows neither vmx nor svm: enable VT-x/AMD-V in the firmware setup, or "
		 "on a virtual machine turn on nested virtualization");
	return false;
}

/* The capabilities; returns whether every required one is there. */
static bool eval_caps(const struct check_facts *f, struct check_report *r)
{
	bool ok = true;
	int nr, max;

	for (size_t i = 0; i < CHECK_CAP_COUNT; i++) {
		const struct cap_desc *d = &caps[i];

		if (!d->why)
			continue; /* reported below, combined */
		if (f->caps[i] > 0)
			add_line(r, CHECK_PASS, d->name, "supported");
		else if (d->required)
			add_line(r, CHECK_FAIL, d->name, "missing: hearth needs it for %s", d->why);
		else
			add_line(r, CHECK_WARN, d->name, "missing: %s", d->why);
		if (d->required && f->caps[i] <= 0)
			ok = false;
	}
	if (f->caps[CHECK_CAP_TSC_CONTROL] > 0)
		add_line(r, CHECK_PASS, "TSC frequency",
			 "KVM_CAP_TSC_CONTROL: a guest's TSC frequency can be set");
	else if (f->caps[CHECK_CAP_GET_TSC_KHZ] > 0)
		add_line(r, CHECK_WARN, "TSC frequency",
			 "KVM_CAP_GET_TSC_KHZ only: the TSC frequency can be read but not set, so "
			 "migration is limited to hosts with the same TSC frequency");
	else
		add_line(r, CHECK_WARN, "TSC frequency",
			 "neither KVM_CAP_TSC_CONTROL nor KVM_CAP_GET_TSC_KHZ: the guest's TSC "
			 "frequency is unknown to hearth; migration is not safe");

	/* KVM's API documentation: no MAX_VCPUS means NR_VCPUS; no NR_VCPUS means 4. */
	nr = f->caps[CHECK_CAP_NR_VCPUS] > 0 ? f->caps[CHECK_CAP_NR_VCPUS] : 4;
	max = f->caps[CHECK_CAP_MAX_VCPUS] > 0 ? f->caps[CHECK_CAP_MAX_VCPUS] : nr;
	if (max < CHECK_MIN_MAX_VCPUS)
		add_line(r, CHECK_WARN, "vCPUs per VM",
			 "at most %d (recommended %d): VMs with more vCPUs cannot be created", max,
			 nr);
	else
		add_line(r, CHECK_PASS, "vCPUs per VM", "at most %d (recommended %d)", max, nr);
	return ok;
}

static void eval_extras(const struct check_facts *f, struct check_report *r)
{
	switch (f->tun_err) {
	case 0:
		add_line(r, CHECK_PASS, "/dev/net/tun", "tap networking available");
		break;
	case ENOENT:
	case ENODEV:
		add_line(r, CHECK_WARN, "/dev/net/tun",
			 "missing (modprobe tun): no tap networking for guests");
		break;
	case EACCES:
	case EPERM:
		add_line(r, CHECK_WARN, "/dev/net/tun",
			 "not accessible to this user: tap networking needs read-write access "
			 "and CAP_NET_ADMIN, or taps created beforehand");
		break;
	default:
		add_line(r, CHECK_WARN, "/dev/net/tun", "cannot be opened (%s): no tap networking",
			 strerror(f->tun_err));
		break;
	}

	if (!f->io_uring_err)
		add_line(r, CHECK_PASS, "io_uring", "available for block devices");
	else if (f->io_uring_disabled > 0)
		add_line(r, CHECK_WARN, "io_uring",
			 "disabled by sysctl kernel.io_uring_disabled=%d: block devices cannot use "
			 "io_uring",
			 f->io_uring_disabled);
	else if (f->io_uring_err == ENOSYS)
		add_line(r, CHECK_WARN, "io_uring",
			 "the kernel has no io_uring: block devices cannot use it");
	else
		add_line(r, CHECK_WARN, "io_uring", "not usable (%s): block devices cannot use it",
			 strerror(f->io_uring_err));
}

void check_evaluate(const struct check_facts *f, struct check_report *r)
{
	bool kvm_ok, api_ok = false, virt_ok, caps_ok = false;
	size_t warns = 0;

	memset(r, 0, sizeof(*r));
	kvm_ok = eval_kvm_node(f, r);
	if (kvm_ok) {
		if (f->api_version == KVM_API_VERSION) {
			add_line(r, CHECK_PASS, "KVM API version", "%d", f->api_version);
			api_ok = true;
		} else {
			add_line(r, CHECK_FAIL, "KVM API version", "%d; hearth needs %d",
				 f->api_version, KVM_API_VERSION);
		}
	}
	virt_ok = eval_virt(f, r);
	if (kvm_ok && api_ok && f->caps_known)
		caps_ok = eval_caps(f, r);
	else
		add_line(r, CHECK_FAIL, "KVM capabilities", "not checked: %s",
			 kvm_ok ? "unexpected KVM API version" : "/dev/kvm is not usable");
	eval_extras(f, r);

	r->can_run = kvm_ok && api_ok && virt_ok && caps_ok;
	for (size_t i = 0; i < r->nr_lines; i++)
		warns += r->lines[i].status == CHECK_WARN;
	if (r->can_run && warns)
		snprintf(r->summary, sizeof(r->summary),
			 "this host can run Linux guests (%zu warning%s above)", warns,
			 warns == 1 ? "" : "s");
	else if (r->can_run)
		snprintf(r->summary, sizeof(r->summary), "this host can run Linux guests");
	else if (r->pvm && kvm_ok && api_ok && caps_ok)
		snprintf(r->summary, sizeof(r->summary),
			 "this host cannot run stock Linux guests: its KVM is PVM, which runs only "
			 "PVM-enabled guest kernels (use the nested test host for stock kernels)");
	else
		snprintf(r->summary, sizeof(r->summary),
			 "this host cannot run VMs with hearth: see the FAIL lines above");
}

/* ---- gathering facts ---- */

static bool word_in(const char *line, size_t len, const char *word)
{
	size_t wl = strlen(word);

	for (size_t i = 0; i + wl <= len; i++) {
		bool start =
		    i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t' || line[i - 1] == ':';
		bool end = i + wl == len || line[i + wl] == ' ' || line[i + wl] == '\t' ||
			   line[i + wl] == '\n';

		if (start && end && memcmp(line + i, word, wl) == 0)
			return true;
	}
	return false;
}

void check_cpuinfo_flags(const char *cpuinfo, bool *vmx, bool *svm)
{
	const char *p = cpuinfo;

	*vmx = *svm = false;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (strncmp(p, "flags", 5) == 0 && (p[5] == ' ' || p[5] == '\t' || p[5] == ':')) {
			*vmx |= word_in(p, len, "vmx");
			*svm |= word_in(p, len, "svm");
		}
		p = nl ? nl + 1 : NULL;
	}
}

static void mode_string(mode_t m, char *out)
{
	static const char rwx[] = "rwxrwxrwx";

	out[0] = S_ISCHR(m) ? 'c' : S_ISBLK(m) ? 'b' : S_ISDIR(m) ? 'd' : '-';
	for (int i = 0; i < 9; i++)
		out[1 + i] = (m & (1u << (8 - i))) ? rwx[i] : '-';
	out[10] = '\0';
}

static void describe_node(const struct stat *st, char *buf, size_t len)
{
	struct passwd *pw = getpwuid(st->st_uid);
	struct group *gr = getgrgid(st->st_gid);
	char mode[11], uid[16], gid[16];

	mode_string(st->st_mode, mode);
	snprintf(uid, sizeof(uid), "%u", (unsigned)st->st_uid);
	snprintf(gid, sizeof(gid), "%u", (unsigned)st->st_gid);
	snprintf(buf, len, "%s %s:%s", mode, pw ? pw->pw_name : uid, gr ? gr->gr_name : gid);
}

static bool dir_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int probe_open(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/*
 * Read a /proc file (whose size stat() does not know) into a NUL-terminated
 * buffer of at most max bytes. Returns NULL on failure; the caller frees.
 */
static char *read_proc_file(const char *path, size_t max)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap), *nbuf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (!buf || fd < 0)
		goto fail;
	for (;;) {
		if (len + 1 == cap) {
			if (cap >= max)
				break; /* long enough: keep what we have */
			nbuf = realloc(buf, cap * 2);
			if (!nbuf)
				goto fail;
			buf = nbuf;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	return buf;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static int probe_io_uring(void)
{
	struct io_uring_params p;
	long fd;

	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, 1, &p);
	if (fd < 0)
		return errno;
	close((int)fd);
	return 0;
}

void check_gather(struct check_facts *f)
{
	struct stat st;
	char *text;
	int fd;

	memset(f, 0, sizeof(*f));
	f->api_version = -1;
	f->io_uring_disabled = -1;

	if (stat("/dev/kvm", &st) == 0) {
		f->kvm_exists = true;
		describe_node(&st, f->kvm_node, sizeof(f->kvm_node));
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		f->kvm_open_err = errno;
		if (errno != ENOENT)
			f->kvm_exists = true;
	} else {
		f->api_version = ioctl(fd, KVM_GET_API_VERSION, 0);
		for (size_t i = 0; i < CHECK_CAP_COUNT; i++) {
			int v = ioctl(fd, KVM_CHECK_EXTENSION, caps[i].cap);

			f->caps[i] = v > 0 ? v : 0;
		}
		f->caps_known = true;
		close(fd);
	}

	text = read_proc_file("/proc/cpuinfo", 16 * MiB);
	if (text) {
		check_cpuinfo_flags(text, &f->cpu_vmx, &f->cpu_svm);
		f->cpuinfo_known = true;
		free(text);
	}

	f->modules_known = dir_exists("/sys/module");
	f->mod_kvm_intel = dir_exists("/sys/module/kvm_intel");
	f->mod_kvm_amd = dir_exists("/sys/module/kvm_amd");
	f->mod_kvm_pvm = dir_exists("/sys/module/kvm_pvm");

	f->tun_err = probe_open("/dev/net/tun");
	f->io_uring_err = probe_io_uring();
	text = read_proc_file("/proc/sys/kernel/io_uring_disabled", 4096);
	if (text) {
		uint64_t v;

		text[strcspn(text, "\n")] = '\0';
		if (parse_uint(text, 0, 100, &v) == 0)
			f->io_uring_disabled = (int)v;
		free(text);
	}
}

/* ---- the command ---- */

static void check_usage(FILE *out)
{
	fprintf(out, "Usage: hearth check [--quiet]\n"
		     "\n"
		     "Tell whether this host can run virtual machines with hearth, and how well.\n"
		     "Prints one line per check: PASS, WARN (works, with a limitation) or FAIL\n"
		     "(with what to do about it), then a verdict.\n"
		     "\n"
		     "Checks: /dev/kvm access, KVM API version, hardware virtualization\n"
		     "(VT-x/AMD-V, or PVM, which runs only PVM-enabled guest kernels), the KVM\n"
		     "capabilities hearth uses, vCPUs per VM, /dev/net/tun, io_uring.\n"
		     "\n"
		     "Options:\n"
		     "  -q, --quiet  print nothing; only set the exit status\n"
		     "  -h, --help   this text\n"
		     "\n"
		     "Exit status: 0 when a stock Linux guest can run here, 1 when it cannot,\n"
		     "2 for a usage error.\n");
}

int cli_check(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct check_facts *f;
	struct check_report *r;
	bool quiet = false;
	int c, ret;

	optind = 0; /* full getopt reset: cli_check may be called more than once */
	while ((c = getopt_long(argc, argv, "+qh", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			quiet = true;
			break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			check_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hearth check: unexpected argument '%s'\n", argv[optind]);
		check_usage(stderr);
		return 2;
	}

	f = calloc(1, sizeof(*f));
	r = calloc(1, sizeof(*r));
	if (!f || !r) {
		free(f);
		free(r);
		if (!quiet)
			fprintf(stderr, "hearth check: out of memory\n");
		return 1;
	}
	check_gather(f);
	check_evaluate(f, r);
	if (!quiet) {
		for (size_t i = 0; i < r->nr_lines; i++)
			printf("%s  %-24s %s\n", check_status_name(r->lines[i].status),
			       r->lines[i].what, r->lines[i].detail);
		printf("\n%s\n", r->summary);
		fflush(stdout);
	}
	ret = r->can_run ? 0 : 1;
	free(f);
	free(r);
	return ret;
}
