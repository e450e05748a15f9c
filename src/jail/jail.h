/* SPDX-License-Identifier: MIT */
/*
 * hearth jail: start `hearth run` as an unprivileged user inside a per-VM
 * root directory, in its own mount, PID, IPC, UTS and cgroup namespaces, in a
 * cgroup named after the VM's id, with resource limits, no inherited file
 * descriptors, an empty environment and no way to regain privileges.
 */
#ifndef HEARTH_JAIL_JAIL_H
#define HEARTH_JAIL_JAIL_H

#include <stdbool.h>

/*
 * jail_main - the `hearth jail` command. argv[0] is "jail"; the options come
 * next, then "--" and the command run inside the jail ("run" and its
 * options). Must be started as root. Returns the process exit status: 2 for
 * bad arguments or files, 1 for host-side failures, else (without
 * --daemonize) the jailed hearth's own exit status; 0 once a daemonized
 * jail has started.
 */
int jail_main(int argc, char **argv);

/* jail_valid_id - whether id is a usable jail id: 1-64 of A-Z a-z 0-9 and '-'. */
bool jail_valid_id(const char *id);

#endif
