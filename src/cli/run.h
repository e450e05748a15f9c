/* SPDX-License-Identifier: MIT */
/* `hearth run`: boot a guest in the foreground. */
#ifndef HEARTH_CLI_RUN_H
#define HEARTH_CLI_RUN_H

/*
 * cli_run - parse `hearth run` options, build the VM and run it until it
 * stops. Returns hearth's exit status (see `hearth run --help`).
 */
int cli_run(int argc, char **argv);

/* cli_run_usage - print `hearth run --help` to stdout. */
void cli_run_usage(void);

#endif
