/* SPDX-License-Identifier: MIT */
/* The configuration of one VM, as the CLI (and later the API) fills it. */
#ifndef HEARTH_VMM_CONFIG_H
#define HEARTH_VMM_CONFIG_H

#include <stdint.h>

#include "vmm/console.h"

#define CONFIG_DEFAULT_CPUS		1
#define CONFIG_DEFAULT_MEMORY		(512ULL << 20)
#define CONFIG_DEFAULT_CMDLINE		"console=ttyS0"
#define CONFIG_DEFAULT_SHUTDOWN_TIMEOUT 30 /* seconds after SIGTERM before a hard stop */
#define CONFIG_ID_MAX			64

struct vm_config {
	char id[CONFIG_ID_MAX + 1];
	const char *kernel_path;
	const char *initrd_path; /* NULL: none */
	const char *cmdline;
	unsigned ncpus;
	uint64_t mem_size;
	enum console_kind serial;
	const char *serial_path;
	unsigned shutdown_timeout_s;
};

/*
 * config_init_defaults - fill c with hearth's defaults (1 vCPU, 512 MiB,
 * "console=ttyS0", serial on stdio) and a generated id.
 */
void config_init_defaults(struct vm_config *c);

/*
 * config_valid_id - whether id is usable as a VM name: 1-64 characters of
 * [A-Za-z0-9_-] (it ends up in file names and MAC addresses later).
 */
int config_valid_id(const char *id);

#endif
