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
 * cli_firecracker - parse Firecracker's arguments (--api-sock, --id,
 * --config-file, --no-api, --level, --log-path, --metrics-path,
 * --boot-timer, --help, --version and a few more) and run the VM as
 * `hearth run` would. Options of Firecracker that hearth does not have,
 * and unknown ones, are usage errors (status 2). Returns hearth's exit
 * status.
 */
int cli_firecracker(int argc, char **argv);

#endif
