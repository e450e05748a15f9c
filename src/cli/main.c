/* SPDX-License-Identifier: MIT */
/* hearth: the command-line front end. */
#include "cli/check.h"
#include "cli/firecracker.h"
#include "cli/migrate.h"
#include "cli/run.h"
#include "cli/snapshot.h"
#include "hearth_version.h"
#include "jail/jail.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out, "Usage: hearth COMMAND [options]\n"
		     "\n"
		     "hearth runs virtual machines on Linux KVM.\n"
		     "\n"
		     "Commands:\n"
		     "  run      boot a guest in the foreground ('hearth run --help')\n"
		     "  check    can this host run VMs, and how well? ('hearth check --help')\n"
		     "  snapshot verify a snapshot's files ('hearth snapshot --help')\n"
		     "  migrate  move a running VM to another host ('hearth migrate --help')\n"
		     "  jail     run a VM as an unprivileged user in a chroot, namespaces and a\n"
		     "           cgroup (as root; 'hearth jail --help')\n"
		     "  help     this text\n"
		     "  version  print the version (also --version)\n");
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	const char *name = argc > 0 ? strrchr(argv[0], '/') : NULL;

	/* Past RLIMIT_FSIZE, writes fail with EFBIG (handled) instead of killing hearth. */
	signal(SIGXFSZ, SIG_IGN);
	/* Under the name `firecracker` (a symlink), take Firecracker's arguments. */
	name = name ? name + 1 : argc > 0 ? argv[0] : "";
	if (!strcmp(name, "firecracker"))
		return cli_firecracker(argc, argv);
	if (!cmd) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "run"))
		return cli_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return cli_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "jail"))
		return jail_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "snapshot"))
		return cli_snapshot(argc - 1, argv + 1);
	if (!strcmp(cmd, "migrate"))
		return cli_migrate(argc - 1, argv + 1);
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("hearth %s\n", HEARTH_VERSION);
		return 0;
	}
	fprintf(stderr, "hearth: unknown command '%s' (see 'hearth help')\n", cmd);
	return 2;
}
