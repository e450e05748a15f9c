/* SPDX-License-Identifier: MIT */
#include "cli/firecracker.h"
#include "api/api.h"
#include "cli/run.h"
#include "core/log.h"
#include "hearth_version.h"
#include "sandbox/seccomp.h"
#include "vmm/config.h"
#include "vmm/console.h"
#include "vmm/vm.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void fc_usage(void)
{
	printf("Usage: firecracker [options]\n"
	       "\n"
	       "hearth %s, launched under the name 'firecracker': it takes Firecracker's\n"
	       "arguments and serves its control API (see 'hearth run --help').\n"
	       "\n"
	       "Options:\n"
	       "  --api-sock PATH       the API's UNIX socket (default %s)\n"
	       "  --no-api              no API: boot the --config-file document and run it\n"
	       "  --config-file FILE    boot the VM this JSON configuration describes at once\n"
	       "  --id ID               the VM's name (1-%u of A-Z a-z 0-9 _ -)\n"
	       "  --level LEVEL         log level: Error, Warning, Info, Debug, Trace, Off\n"
	       "  --log-path PATH       log to this file or named pipe\n"
	       "  --show-level          (kept; as PUT /logger's show_level)\n"
	       "  --show-log-origin     (kept; as PUT /logger's show_log_origin)\n"
	       "  --module NAME         (kept; as PUT /logger's module)\n"
	       "  --metrics-path PATH   metrics go to this file or named pipe (FlushMetrics)\n"
	       "  --enable-pci          virtio devices on PCI instead of virtio-mmio\n"
	       "  --boot-timer          accepted; hearth has no boot timer device\n"
	       "  --no-seccomp          install no system-call filters (hearth run --seccomp off)\n"
	       "  --start-time-us N, --start-time-cpu-us N, --parent-cpu-time-us N\n"
	       "                        accepted and ignored (the jailer passes them)\n"
	       "  --version             print the version\n"
	       "  -h, --help            this help\n"
	       "\n"
	       "Not supported: --seccomp-filter, --metadata, --mmds-size-limit,\n"
	       "--http-api-max-payload-size, --snapshot-version, --describe-snapshot.\n"
	       "The serial console is this terminal (stdin/stdout). Exit statuses are\n"
	       "Firecracker's: 0 the guest shut down or rebooted, 152 a refused\n"
	       "configuration file, logger or metrics, 153 a bad command line, 148 a\n"
	       "forbidden system call, 149 SIGBUS, 150 SIGSEGV, 151 SIGXFSZ, 154 SIGXCPU,\n"
	       "157 SIGILL, 1 any other failure (the guest's included).\n",
	       HEARTH_VERSION, FIRECRACKER_DEFAULT_SOCK, CONFIG_ID_MAX);
}

/* Fatal signals and the status each ends `firecracker` with, as Firecracker's own. */
static const struct {
	int sig;
	int status;
	const char *line;
} fc_fatal[] = {
    {SIGBUS, FC_EXIT_SIGBUS, "firecracker: shutting down after intercepting SIGBUS\n"},
    {SIGSEGV, FC_EXIT_SIGSEGV, "firecracker: shutting down after intercepting SIGSEGV\n"},
    {SIGXFSZ, FC_EXIT_SIGXFSZ, "firecracker: shutting down after intercepting SIGXFSZ\n"},
    {SIGXCPU, FC_EXIT_SIGXCPU, "firecracker: shutting down after intercepting SIGXCPU\n"},
    {SIGILL, FC_EXIT_SIGILL, "firecracker: shutting down after intercepting SIGILL\n"},
};

/* Async-signal-safe: one line, the terminal back, exit with the signal's status. */
static void fc_fatal_handler(int sig)
{
	for (size_t i = 0; i < sizeof(fc_fatal) / sizeof(fc_fatal[0]); i++) {
		if (fc_fatal[i].sig != sig)
			continue;
		if (write(STDERR_FILENO, fc_fatal[i].line, strlen(fc_fatal[i].line)) < 0) {
			/* nothing more to say */
		}
		console_restore_terminal();
		syscall(SYS_exit_group, fc_fatal[i].status);
	}
	_exit(FC_EXIT_GENERIC_ERROR);
}

/*
 * Firecracker's statuses for fatal signals: 148 for a forbidden system call
 * (the seccomp filter's SIGSYS), 149-151, 154 and 157 for SIGBUS, SIGSEGV,
 * SIGXFSZ, SIGXCPU and SIGILL. The console's own handlers, installed later,
 * restore the terminal and chain to these.
 */
static void fc_install_fatal_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fc_fatal_handler;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fc_fatal) / sizeof(fc_fatal[0]); i++)
		sigaction(fc_fatal[i].sig, &sa, NULL);
	sandbox_seccomp_set_trap_exit(FC_EXIT_BAD_SYSCALL);
}

#define fc_usage_error(...) (cli_usage_error("firecracker", __VA_ARGS__), FC_EXIT_ARG_PARSING)

int fc_exit_status(int status)
{
	switch (status) {
	case VM_EXIT_OK:
		return FC_EXIT_OK;
	case VM_EXIT_USAGE:
		/* With Firecracker's arguments parsed, only a refused document is left. */
		return FC_EXIT_BAD_CONFIGURATION;
	default:
		return FC_EXIT_GENERIC_ERROR;
	}
}

enum {
	FC_API_SOCK = 256,
	FC_ID,
	FC_CONFIG_FILE,
	FC_NO_API,
	FC_LEVEL,
	FC_LOG_PATH,
	FC_SHOW_LEVEL,
	FC_SHOW_LOG_ORIGIN,
	FC_MODULE,
	FC_METRICS_PATH,
	FC_BOOT_TIMER,
	FC_ENABLE_PCI,
	FC_NO_SECCOMP,
	FC_IGNORED,
	FC_VERSION,
	FC_UNSUPPORTED,
};

static const struct option fc_options[] = {
    {"api-sock", required_argument, NULL, FC_API_SOCK},
    {"id", required_argument, NULL, FC_ID},
    {"config-file", required_argument, NULL, FC_CONFIG_FILE},
    {"no-api", no_argument, NULL, FC_NO_API},
    {"level", required_argument, NULL, FC_LEVEL},
    {"log-path", required_argument, NULL, FC_LOG_PATH},
    {"show-level", no_argument, NULL, FC_SHOW_LEVEL},
    {"show-log-origin", no_argument, NULL, FC_SHOW_LOG_ORIGIN},
    {"module", required_argument, NULL, FC_MODULE},
    {"metrics-path", required_argument, NULL, FC_METRICS_PATH},
    {"boot-timer", no_argument, NULL, FC_BOOT_TIMER},
    {"enable-pci", no_argument, NULL, FC_ENABLE_PCI},
    {"no-seccomp", no_argument, NULL, FC_NO_SECCOMP},
    {"start-time-us", required_argument, NULL, FC_IGNORED},
    {"start-time-cpu-us", required_argument, NULL, FC_IGNORED},
    {"parent-cpu-time-us", required_argument, NULL, FC_IGNORED},
    {"version", no_argument, NULL, FC_VERSION},
    {"help", no_argument, NULL, 'h'},
    /* Firecracker's, not hearth's: named in the error. */
    {"seccomp-filter", optional_argument, NULL, FC_UNSUPPORTED},
    {"metadata", optional_argument, NULL, FC_UNSUPPORTED},
    {"mmds-size-limit", optional_argument, NULL, FC_UNSUPPORTED},
    {"http-api-max-payload-size", optional_argument, NULL, FC_UNSUPPORTED},
    {"snapshot-version", optional_argument, NULL, FC_UNSUPPORTED},
    {"describe-snapshot", optional_argument, NULL, FC_UNSUPPORTED},
    {NULL, 0, NULL, 0},
};

int cli_firecracker(int argc, char **argv)
{
	static struct vm_config cfg;
	struct api_logger_args logger = {0};
	struct run_launch l = {0};
	const char *api_sock = FIRECRACKER_DEFAULT_SOCK;
	bool no_api = false, want_logger = false;
	int opt, idx;

	config_init_defaults(&cfg);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", fc_options, &idx)) != -1) {
		switch (opt) {
		case FC_API_SOCK:
			api_sock = optarg;
			break;
		case FC_ID:
			if (!config_valid_id(optarg))
				return fc_usage_error(
				    "--id '%s' must be 1-%d characters of A-Z a-z "
				    "0-9 _ -",
				    optarg, CONFIG_ID_MAX);
			snprintf(cfg.id, sizeof(cfg.id), "%s", optarg);
			break;
		case FC_CONFIG_FILE:
			l.config_file = optarg;
			break;
		case FC_NO_API:
			no_api = true;
			break;
		case FC_LEVEL:
			logger.level = optarg;
			want_logger = true;
			break;
		case FC_LOG_PATH:
			logger.log_path = optarg;
			want_logger = true;
			break;
		case FC_SHOW_LEVEL:
			logger.show_level = want_logger = true;
			break;
		case FC_SHOW_LOG_ORIGIN:
			logger.show_log_origin = want_logger = true;
			break;
		case FC_MODULE:
			logger.module = optarg;
			want_logger = true;
			break;
		case FC_METRICS_PATH:
			l.metrics_path = optarg;
			break;
		case FC_BOOT_TIMER:
			log_warn("--boot-timer: hearth has no boot timer device (ignored)");
			break;
		case FC_ENABLE_PCI:
			cfg.transport = TRANSPORT_PCI;
			l.set_transport = true;
			break;
		case FC_NO_SECCOMP:
			l.seccomp = SANDBOX_SECCOMP_OFF;
			break;
		case FC_IGNORED:
			break;
		case FC_VERSION:
			printf("Firecracker v%s (hearth %s)\n", HEARTH_VERSION, HEARTH_VERSION);
			return 0;
		case 'h':
			fc_usage();
			return 0;
		case FC_UNSUPPORTED:
			return fc_usage_error("option '--%s' of Firecracker is not supported by "
					      "hearth",
					      fc_options[idx].name);
		case ':':
			return fc_usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return fc_usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fc_usage_error("unexpected argument '%s'", argv[optind]);
	if (no_api && !l.config_file)
		return fc_usage_error("--no-api needs --config-file");
	l.api_sock = no_api ? NULL : api_sock;
	l.logger = want_logger ? &logger : NULL;
	fc_install_fatal_handlers();
	return fc_exit_status(cli_run_launch(&cfg, &l));
}
