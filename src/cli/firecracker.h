/* SPDX-License-Identifier: MIT */
/*
 * The `firecracker` front end: hearth invoked under the name `firecracker`
 * (a symlink) takes Firecracker's top-level arguments, so that tools that
 * launch Firecracker can launch hearth.
 */
#ifndef HEARTH_CLI_FIRECRACKER_H
#define HEARTH_CLI_FIRECRACKER_H

/* Default API socket when neither --api-sock nor --no-api is given. */
#define FIRECRACKER_DEFAULT_SOCK "/run/firecracker.socket"

/*
 * Exit statuses under the name `firecracker`: the values of Firecracker's
 * own exit codes for the cases it defines that hearth has.
 */
enum fc_exit_status {
	FC_EXIT_OK = 0,		   /* the guest shut down or rebooted */
	FC_EXIT_GENERIC_ERROR = 1, /* any other failure, the guest's included */
	FC_EXIT_BAD_SYSCALL = 148, /* a system call the seccomp filter forbids */
	FC_EXIT_SIGBUS = 149,	   /* fatal signals, each its own status */
	FC_EXIT_SIGSEGV = 150,
	FC_EXIT_SIGXFSZ = 151,
	FC_EXIT_BAD_CONFIGURATION = 152, /* the configuration document, logger or metrics refused */
	FC_EXIT_ARG_PARSING = 153,	 /* a bad command line */
	FC_EXIT_SIGXCPU = 154,
	FC_EXIT_SIGILL = 157,
};

/*
 * fc_exit_status - the status `firecracker` exits with when `hearth run`
 * would exit with status (an enum vm_exit_status value).
 */
int fc_exit_status(int status);

/*
 * cli_firecracker - parse Firecracker's arguments (--api-sock, --id,
 * --config-file, --no-api, --level, --log-path, --metrics-path,
 * --boot-timer, --help, --version and a few more) and run the VM as
 * `hearth run` would. Options of Firecracker that hearth does not have,
 * and unknown ones, are argument errors. Returns an enum fc_exit_status
 * value.
 */
int cli_firecracker(int argc, char **argv);

#endif
