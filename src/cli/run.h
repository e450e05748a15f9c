/* SPDX-License-Identifier: MIT */
/* `hearth run`: boot a guest in the foreground. */
#ifndef HEARTH_CLI_RUN_H
#define HEARTH_CLI_RUN_H

#include <stdbool.h>

#include "sandbox/seccomp.h"

/*
 * cli_run - parse `hearth run` options, build the VM and run it until it
 * stops. Returns hearth's exit status (see `hearth run --help`).
 */
int cli_run(int argc, char **argv);

struct api_logger_args;
struct vm_config;

/* How `hearth run` (or the `firecracker` front end) launches the VM. */
struct run_launch {
	const char *api_sock;		      /* serve the control API on this socket; NULL: none */
	const char *config_file;	      /* boot this Firecracker configuration document */
	const struct api_logger_args *logger; /* as PUT /logger before anything else */
	const char *metrics_path;	      /* as PUT /metrics */
	const char *incoming;		      /* --incoming tcp:ADDR:PORT; NULL: none */
	const char *tls_psk, *tls_cert, *tls_key, *tls_ca; /* --incoming over TLS; NULL: none */
	int verbose;					   /* -v count */
	bool set_memory, set_rng, set_transport;	   /* given on the command line */
	enum sandbox_seccomp_mode seccomp; /* system-call filters: on (0) unless asked */
};

/*
 * cli_run_launch - run the VM c (the command line's configuration) as l
 * says: boot c->kernel_path at once, or the document l->config_file, or
 * wait for the API's InstanceStart. Returns hearth's exit status; a
 * refused configuration document (or logger, metrics) is a usage error (2).
 */
int cli_run_launch(struct vm_config *c, const struct run_launch *l);

/*
 * cli_usage_error - print "PROG: MESSAGE (see 'PROG --help')" on stderr,
 * MESSAGE from the printf-style fmt. Returns the usage error status (2).
 */
int cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cli_run_usage - print `hearth run --help` to stdout. */
void cli_run_usage(void);

#endif
