/* SPDX-License-Identifier: MIT */
#include "cli/run.h"
#include "api/api.h"
#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "core/log.h"
#include "core/util.h"
#include "migration/migration.h"
#include "vmm/vm.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

void cli_run_usage(void)
{
	printf(
	    "Usage: hearth run --kernel PATH [options]\n"
	    "       hearth run --api-sock PATH [options]\n"
	    "       hearth run --incoming tcp:ADDR:PORT [options]\n"
	    "\n"
	    "Boot a Linux guest in the foreground.\n"
	    "\n"
	    "Options:\n"
	    "  --kernel PATH      kernel to boot: a bzImage (Linux x86 boot protocol 2.06+,\n"
	    "                     64-bit entry) or an uncompressed vmlinux ELF with a PVH\n"
	    "                     entry note (CONFIG_PVH)\n"
	    "  --initrd PATH      initial ramdisk, placed as the boot protocol says\n"
	    "  --cmdline STRING   kernel command line (default \"%s\")\n"
	    "  --cpus N           number of vCPUs, 1-%u (default %u)\n"
	    "  --memory SIZE      guest RAM; a bare number is MiB, or use a suffix K, M, G, T\n"
	    "                     (default 512M)\n"
	    "  --id NAME          name of the VM: 1-%u characters of A-Z a-z 0-9 _ -\n"
	    "                     (default: generated and printed at start)\n"
	    "  --serial KIND      where the guest's serial console (COM1) goes:\n"
	    "                       stdio        this terminal or stdin/stdout (default)\n"
	    "                       pty          a new pseudo-terminal, its path is printed\n"
	    "                       file:PATH    output only, truncated at start, capped at "
	    "%u MiB\n"
	    "                       socket:PATH  a UNIX socket hearth listens on, one client\n"
	    "                       none         discard output, no input\n"
	    "  --disk path=FILE[,readonly=on][,cache=writeback|none|unsafe][,serial=STR]\n"
	    "         [,id=NAME][,iops=N][,bps=N]\n"
	    "                     a virtio-blk disk on a raw image (repeatable, at most %d);\n"
	    "                     cache: writeback (default; a guest flush is an fdatasync),\n"
	    "                     none (O_DIRECT, flush = fdatasync), unsafe (flushes are\n"
	    "                     acknowledged without syncing); iops/bps: rate limits\n"
	    "  --net tap=NAME[,mac=MAC][,rx_bps=N][,tx_bps=N]\n"
	    "                     a virtio-net card on a tap device, created if absent\n"
	    "                     (repeatable, at most %d); MAC default: derived from --id\n"
	    "  --rng on|off       virtio-rng entropy device (default on)\n"
	    "  --console serial|virtio\n"
	    "                     virtio: also a virtio console (hvc0) that takes the input,\n"
	    "                     and console=hvc0 is appended to the command line\n"
	    "  --transport pci|mmio\n"
	    "                     how virtio devices attach (default pci)\n"
	    "  --dirty-log auto|ring|bitmap\n"
	    "                     how KVM reports the pages the guest writes while they\n"
	    "                     are tracked (migration, diff snapshots): ring (KVM's\n"
	    "                     dirty ring, or hearth refuses to start), bitmap\n"
	    "                     (KVM_GET_DIRTY_LOG), auto: the ring where the host's\n"
	    "                     KVM has it and is not PVM (default)\n"
	    "  --shutdown-timeout SECONDS\n"
	    "                     after SIGTERM presses the power button, how long the guest\n"
	    "                     has to power off before it is stopped hard (default %u)\n"
	    "  --api-sock PATH    serve the control API (HTTP, Firecracker-compatible) on a\n"
	    "                     new UNIX socket (mode 0600, removed at exit); without\n"
	    "                     --kernel, wait for the VM's configuration and an\n"
	    "                     InstanceStart action there (devices only as configured:\n"
	    "                     no entropy device, virtio-mmio, 128 MiB by default)\n"
	    "  --config-file FILE boot the VM a Firecracker configuration document (JSON:\n"
	    "                     \"boot-source\", \"drives\", \"machine-config\"...) describes,\n"
	    "                     checked as the API checks its requests; with --api-sock,\n"
	    "                     the API controls it once it runs\n"
	    "  --incoming tcp:ADDR:PORT\n"
	    "                     wait there for a VM migrating live from another hearth\n"
	    "                     (hearth migrate); --disk/--net given here replace the\n"
	    "                     source's (by id= or position), the rest keep its paths\n"
	    "  --tls-psk FILE     with --incoming: the stream is TLS 1.3, the source must\n"
	    "                     know the key in FILE (IDENTITY:HEXKEY, psktool's format,\n"
	    "                     at least 16 bytes, not readable by others)\n"
	    "  --tls-cert FILE --tls-key FILE --tls-ca FILE\n"
	    "                     with --incoming: TLS 1.3 with this certificate and key\n"
	    "                     (PEM); the source must present a certificate the CA signed\n"
	    "  --seccomp on|off|log\n"
	    "                     system-call filters, one per thread kind (vCPU, event\n"
	    "                     loop, API, I/O) (default on): a forbidden call ends\n"
	    "                     hearth by SIGSYS after one line naming the thread and\n"
	    "                     the call; log allows it and the kernel logs it (audit,\n"
	    "                     dmesg); off installs none. log and off: debugging only\n"
	    "  -v, --verbose      more messages (repeat for debug output)\n"
	    "  -h, --help         this help\n"
	    "\n"
	    "Console keys (stdio on a terminal): Ctrl-A x quits, Ctrl-A h lists the keys,\n"
	    "Ctrl-A Ctrl-A sends Ctrl-A to the guest.\n"
	    "\n"
	    "Signals: SIGTERM, SIGINT or SIGHUP press the guest's ACPI power button (a\n"
	    "clean shutdown); a second one, or the shutdown timeout, stops the VM hard.\n"
	    "\n"
	    "Exit status:\n"
	    "  0  the guest powered off or rebooted (hearth exits rather than restarting),\n"
	    "     or the user quit with Ctrl-A x\n"
	    "  1  host-side error (bad kernel or initrd, no /dev/kvm, not enough memory...)\n"
	    "  2  usage error (bad or missing option, or a --config-file document\n"
	    "     that cannot be read or is refused)\n"
	    "  3  the guest triple-faulted (registers are printed on stderr)\n"
	    "  4  KVM internal error or failed VM entry (registers printed)\n"
	    "  5  a VM exit hearth does not handle (registers printed)\n"
	    "  6  stopped hard: a second signal or the shutdown timeout\n",
	    CONFIG_DEFAULT_CMDLINE, LAYOUT_MAX_CPUS, CONFIG_DEFAULT_CPUS, CONFIG_ID_MAX,
	    CONSOLE_FILE_MAX_BYTES >> 20, CONFIG_MAX_DISKS, CONFIG_MAX_NICS,
	    CONFIG_DEFAULT_SHUTDOWN_TIMEOUT);
}

int cli_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see '%s --help')\n", prog);
	return VM_EXIT_USAGE;
}

#define usage_error(...) cli_usage_error("hearth run", __VA_ARGS__)

enum {
	OPT_KERNEL = 256,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_CPUS,
	OPT_MEMORY,
	OPT_ID,
	OPT_SERIAL,
	OPT_SHUTDOWN_TIMEOUT,
	OPT_DISK,
	OPT_NET,
	OPT_RNG,
	OPT_CONSOLE,
	OPT_TRANSPORT,
	OPT_DIRTY_LOG,
	OPT_API_SOCK,
	OPT_CONFIG_FILE,
	OPT_SECCOMP,
	OPT_INCOMING,
	OPT_TLS_PSK,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_CA,
};

static const struct option run_options[] = {
    {"kernel", required_argument, NULL, OPT_KERNEL},
    {"initrd", required_argument, NULL, OPT_INITRD},
    {"cmdline", required_argument, NULL, OPT_CMDLINE},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"id", required_argument, NULL, OPT_ID},
    {"serial", required_argument, NULL, OPT_SERIAL},
    {"shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT},
    {"disk", required_argument, NULL, OPT_DISK},
    {"net", required_argument, NULL, OPT_NET},
    {"rng", required_argument, NULL, OPT_RNG},
    {"console", required_argument, NULL, OPT_CONSOLE},
    {"transport", required_argument, NULL, OPT_TRANSPORT},
    {"dirty-log", required_argument, NULL, OPT_DIRTY_LOG},
    {"api-sock", required_argument, NULL, OPT_API_SOCK},
    {"config-file", required_argument, NULL, OPT_CONFIG_FILE},
    {"seccomp", required_argument, NULL, OPT_SECCOMP},
    {"incoming", required_argument, NULL, OPT_INCOMING},
    {"tls-psk", required_argument, NULL, OPT_TLS_PSK},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"tls-ca", required_argument, NULL, OPT_TLS_CA},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Host-side checks that need no KVM: files exist and look like what they claim. */
static int check_files(const struct vm_config *cfg)
{
	uint8_t head[1024];
	struct stat st;
	size_t got;
	FILE *f;

	if (stat(cfg->kernel_path, &st) == 0 && S_ISDIR(st.st_mode)) {
		fprintf(stderr, "hearth: cannot open kernel %s: it is a directory\n",
			cfg->kernel_path);
		return VM_EXIT_HOST_ERROR;
	}
	f = fopen(cfg->kernel_path, "rb");
	if (!f) {
		fprintf(stderr, "hearth: cannot open kernel %s: %s\n", cfg->kernel_path,
			strerror(errno));
		return VM_EXIT_HOST_ERROR;
	}
	got = fread(head, 1, sizeof(head), f);
	fclose(f);
	if (!boot_kernel_kind(head, got)) {
		fprintf(stderr, "hearth: %s is neither a bzImage nor an ELF kernel\n",
			cfg->kernel_path);
		return VM_EXIT_HOST_ERROR;
	}
	if (cfg->initrd_path && access(cfg->initrd_path, R_OK) != 0) {
		fprintf(stderr, "hearth: cannot open initrd %s: %s\n", cfg->initrd_path,
			strerror(errno));
		return VM_EXIT_HOST_ERROR;
	}
	return 0;
}

int cli_run(int argc, char **argv)
{
	static struct vm_config cfg; /* static: what the parsers allocate stays reachable */
	struct run_launch l = {0};
	char err[512] = "";
	uint64_t v;
	int opt;

	config_init_defaults(&cfg);
	optind = 1;
	opterr = 0; /* hearth prints its own one-line messages */
	while ((opt = getopt_long(argc, argv, ":vh", run_options, NULL)) != -1) {
		switch (opt) {
		case OPT_KERNEL:
			cfg.kernel_path = optarg;
			break;
		case OPT_INITRD:
			cfg.initrd_path = optarg;
			break;
		case OPT_CMDLINE:
			cfg.cmdline = optarg;
			break;
		case OPT_CPUS:
			if (parse_uint(optarg, 1, LAYOUT_MAX_CPUS, &v))
				return usage_error(
				    "--cpus must be a number from 1 to 254, not '%s'", optarg);
			cfg.ncpus = (unsigned)v;
			break;
		case OPT_MEMORY:
			if (parse_size(optarg, &v))
				return usage_error(
				    "--memory: '%s' is not a size (e.g. 512, 512M, 2G)", optarg);
			if (v < 8 * MiB)
				return usage_error("--memory %s is too small (minimum 8 MiB)",
						   optarg);
			if (!IS_ALIGNED(v, 4 * KiB))
				return usage_error("--memory %s is not a multiple of 4 KiB",
						   optarg);
			cfg.mem_size = v;
			l.set_memory = true;
			break;
		case OPT_ID:
			if (!config_valid_id(optarg))
				return usage_error(
				    "--id '%s' must be 1-64 characters of A-Z a-z 0-9 "
				    "_ -",
				    optarg);
			snprintf(cfg.id, sizeof(cfg.id), "%s", optarg);
			break;
		case OPT_SERIAL: {
			const char *path = NULL;
			if (console_parse(optarg, &cfg.serial, &path, err, sizeof(err)))
				return usage_error("--serial: %s", err);
			cfg.serial_path = path;
			break;
		}
		case OPT_SHUTDOWN_TIMEOUT:
			if (parse_uint(optarg, 1, 86400, &v))
				return usage_error(
				    "--shutdown-timeout must be 1-86400 seconds, not "
				    "'%s'",
				    optarg);
			cfg.shutdown_timeout_s = (unsigned)v;
			break;
		case OPT_DISK:
			if (cfg.ndisks == CONFIG_MAX_DISKS)
				return usage_error("at most %d --disk options", CONFIG_MAX_DISKS);
			if (config_parse_disk(optarg, &cfg.disks[cfg.ndisks], err, sizeof(err)))
				return usage_error("--disk: %s", err);
			cfg.ndisks++;
			break;
		case OPT_NET:
			if (cfg.nnics == CONFIG_MAX_NICS)
				return usage_error("at most %d --net options", CONFIG_MAX_NICS);
			if (net_config_parse(optarg, &cfg.nics[cfg.nnics], err, sizeof(err)))
				return usage_error("%s", err);
			cfg.nnics++;
			break;
		case OPT_RNG:
			l.set_rng = true;
			if (!strcmp(optarg, "on") || !strcmp(optarg, "off"))
				cfg.rng = !strcmp(optarg, "on");
			else
				return usage_error("--rng takes on or off, not '%s'", optarg);
			break;
		case OPT_CONSOLE:
			if (!strcmp(optarg, "serial") || !strcmp(optarg, "virtio"))
				cfg.virtio_console = !strcmp(optarg, "virtio");
			else
				return usage_error("--console takes serial or virtio, not '%s'",
						   optarg);
			break;
		case OPT_TRANSPORT:
			l.set_transport = true;
			if (!strcmp(optarg, "pci"))
				cfg.transport = TRANSPORT_PCI;
			else if (!strcmp(optarg, "mmio"))
				cfg.transport = TRANSPORT_MMIO;
			else
				return usage_error("--transport takes pci or mmio, not '%s'",
						   optarg);
			break;
		case OPT_DIRTY_LOG:
			if (!strcmp(optarg, "auto"))
				cfg.dirty_log = DIRTY_LOG_AUTO;
			else if (!strcmp(optarg, "ring"))
				cfg.dirty_log = DIRTY_LOG_RING;
			else if (!strcmp(optarg, "bitmap"))
				cfg.dirty_log = DIRTY_LOG_BITMAP;
			else
				return usage_error(
				    "--dirty-log takes auto, ring or bitmap, not '%s'", optarg);
			break;
		case OPT_API_SOCK:
			l.api_sock = optarg;
			break;
		case OPT_CONFIG_FILE:
			l.config_file = optarg;
			break;
		case OPT_SECCOMP:
			if (sandbox_seccomp_parse_mode(optarg, &l.seccomp))
				return usage_error("--seccomp takes on, off or log, not '%s'",
						   optarg);
			break;
		case OPT_INCOMING:
			l.incoming = optarg;
			break;
		case OPT_TLS_PSK:
			l.tls_psk = optarg;
			break;
		case OPT_TLS_CERT:
			l.tls_cert = optarg;
			break;
		case OPT_TLS_KEY:
			l.tls_key = optarg;
			break;
		case OPT_TLS_CA:
			l.tls_ca = optarg;
			break;
		case 'v':
			l.verbose++;
			break;
		case 'h':
			cli_run_usage();
			return 0;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return cli_run_launch(&cfg, &l);
}

/* --incoming: the VM arrives from a migration source (its configuration stays static). */
static struct vm *run_incoming(const struct vm_config *local, const char *spec,
			       const struct mig_tls_creds *tls, int *status)
{
	static struct vm_config cfg;
	struct migration_incoming in = {.local = local, .tls = tls};
	char err[512] = "";
	struct vm *vm;
	int lfd;

	/* A bad override is refused now, before any source connects. */
	if (migration_check_local(local, err, sizeof(err))) {
		fprintf(stderr, "hearth: --incoming: %s\n", err);
		*status = VM_EXIT_USAGE;
		return NULL;
	}
	lfd = migration_listen(spec, err, sizeof(err));
	*status = VM_EXIT_HOST_ERROR;
	if (lfd < 0) {
		fprintf(stderr, "hearth: %s\n", err);
		return NULL;
	}
	vm = migration_receive(&in, lfd, &cfg, err, sizeof(err));
	if (!vm) {
		fprintf(stderr, "hearth: migration failed: %s\n", err);
		config_free(&cfg);
	}
	return vm;
}

int cli_run_launch(struct vm_config *c, const struct run_launch *l)
{
	char err[512] = "";
	struct sysinfo si;
	struct vm *vm;
	struct api *api = NULL;
	static struct mig_tls_creds *tls; /* static: reachable until the VM arrives */
	int status;

	if (l->incoming && (c->kernel_path || l->config_file))
		return usage_error("%s", "--incoming takes no --kernel or --config-file: the VM "
					 "comes from the source");
	if (!l->incoming && (l->tls_psk || l->tls_cert || l->tls_key || l->tls_ca))
		return usage_error("%s", "--tls-psk, --tls-cert, --tls-key and --tls-ca go with "
					 "--incoming (the source takes them with hearth migrate)");
	if (l->incoming) {
		/* The files are read now, before anything listens. */
		static struct mig_tls_opts o;

		snprintf(o.psk_file, sizeof(o.psk_file), "%s", l->tls_psk ? l->tls_psk : "");
		snprintf(o.cert_file, sizeof(o.cert_file), "%s", l->tls_cert ? l->tls_cert : "");
		snprintf(o.key_file, sizeof(o.key_file), "%s", l->tls_key ? l->tls_key : "");
		snprintf(o.ca_file, sizeof(o.ca_file), "%s", l->tls_ca ? l->tls_ca : "");
		if (mig_tls_load(&o, true, &tls, err, sizeof(err))) {
			fprintf(stderr, "hearth: %s\n", err);
			return VM_EXIT_USAGE;
		}
	}
	if (!c->kernel_path && !l->api_sock && !l->config_file && !l->incoming)
		return usage_error("%s", "--kernel PATH is required (or --api-sock PATH, or "
					 "--config-file FILE)");
	if (c->kernel_path && l->config_file)
		return usage_error("%s", "--kernel and --config-file cannot be used together");
	log_set_level(l->verbose >= 2 ? LOG_DEBUG : l->verbose ? LOG_INFO : LOG_WARN);
	if (sandbox_seccomp_init(l->seccomp, err, sizeof(err))) {
		fprintf(stderr, "hearth: %s\n", err);
		return VM_EXIT_HOST_ERROR;
	}
	sandbox_seccomp_set_trap_hook(console_restore_terminal); /* a raw terminal */
	snapshot_init();

	if (c->kernel_path) {
		status = check_files(c);
		if (status)
			return status;
	} else {
		/* Configured through the API: only what it configures, as Firecracker. */
		c->rng = l->set_rng && c->rng;
		if (!l->set_transport)
			c->transport = TRANSPORT_MMIO;
		if (!l->set_memory)
			c->mem_size = 128 * MiB;
	}
	if (sysinfo(&si) == 0 && c->mem_size > (uint64_t)si.totalram * si.mem_unit)
		log_warn("--memory %llu MiB is more than this host's %llu MiB of RAM",
			 (unsigned long long)(c->mem_size / MiB),
			 (unsigned long long)((uint64_t)si.totalram * si.mem_unit / MiB));

	if (l->api_sock || l->config_file || l->logger || l->metrics_path) {
		api = api_start(l->api_sock, c, err, sizeof(err));
		if (!api) {
			fprintf(stderr, "hearth: %s\n", err);
			return VM_EXIT_HOST_ERROR;
		}
	}
	if (l->logger && api_set_logger(api, l->logger, err, sizeof(err))) {
		fprintf(stderr, "hearth: the logger: %s\n", err);
		api_stop(api);
		return VM_EXIT_USAGE;
	}
	if (l->metrics_path && api_set_metrics(api, l->metrics_path, err, sizeof(err))) {
		fprintf(stderr, "hearth: the metrics: %s\n", err);
		api_stop(api);
		return VM_EXIT_USAGE;
	}
	status = VM_EXIT_HOST_ERROR;
	if (l->config_file) {
		if (api_load_config(api, l->config_file, err, sizeof(err))) {
			fprintf(stderr, "hearth: --config-file %s: %s\n", l->config_file, err);
			api_stop(api);
			return VM_EXIT_USAGE;
		}
		vm = api_start_vm(api, err, sizeof(err));
		if (!vm)
			fprintf(stderr, "hearth: %s\n", err);
	} else if (l->incoming) {
		vm = run_incoming(c, l->incoming, tls, &status);
		mig_tls_creds_free(tls);
		tls = NULL;
	} else if (c->kernel_path) {
		vm = vm_create(c, err, sizeof(err));
		if (!vm)
			fprintf(stderr, "hearth: %s\n", err);
	} else {
		vm = api_wait_start(api, &status);
	}
	if (!vm) {
		api_stop(api);
		return status;
	}
	fprintf(stderr, "hearth: VM %s: %u vCPU%s, %llu MiB%s\n", vm->cfg.id, vm->cfg.ncpus,
		vm->cfg.ncpus == 1 ? "" : "s", (unsigned long long)(vm->cfg.mem_size / MiB),
		isatty(STDIN_FILENO) && vm->cfg.serial == CONSOLE_STDIO ? ", Ctrl-A x quits" : "");
	if (api)
		api_attach(api, vm);
	status = vm_run(vm);
	api_detach(api);
	vm_destroy(vm);
	api_stop(api);
	return status;
}
