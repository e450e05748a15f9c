/* SPDX-License-Identifier: MIT */
/* The configuration of one VM, as the CLI (and later the API) fills it. */
#ifndef HEARTH_VMM_CONFIG_H
#define HEARTH_VMM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/tap.h"
#include "vmm/console.h"

#define CONFIG_DEFAULT_CPUS		1
#define CONFIG_DEFAULT_MEMORY		(512ULL << 20)
#define CONFIG_DEFAULT_CMDLINE		"console=ttyS0"
#define CONFIG_DEFAULT_SHUTDOWN_TIMEOUT 30 /* seconds after SIGTERM before a hard stop */
#define CONFIG_ID_MAX			64
#define CONFIG_MAX_DISKS		16
#define CONFIG_MAX_NICS			8
#define CONFIG_SERIAL_MAX		20 /* virtio-blk GET_ID returns 20 bytes */

enum disk_cache {
	DISK_CACHE_WRITEBACK, /* default: flush = fdatasync */
	DISK_CACHE_NONE,      /* O_DIRECT, flush = fdatasync */
	DISK_CACHE_UNSAFE,    /* flush acknowledged without syncing */
};

enum disk_engine {
	DISK_ENGINE_AUTO,     /* io_uring when it works, else the thread pool */
	DISK_ENGINE_IO_URING, /* io_uring or fail */
	DISK_ENGINE_THREADS,  /* the thread pool */
};

struct disk_config {
	char *path;
	bool readonly;
	enum disk_cache cache;
	char serial[CONFIG_SERIAL_MAX + 1];
	char id[CONFIG_ID_MAX + 1];
	uint64_t iops; /* operations per second, 0: unlimited */
	uint64_t bps;  /* bytes per second, 0: unlimited */
	enum disk_engine engine;
	/* Finer limits than iops/bps (refill time, one-time burst); used when size != 0. */
	struct token_bucket_config ops_bucket;
	struct token_bucket_config bytes_bucket;
};

enum virtio_transport_kind { TRANSPORT_PCI, TRANSPORT_MMIO };

/* How KVM reports the pages vCPUs write (--dirty-log). */
enum dirty_log_kind {
	DIRTY_LOG_AUTO,	  /* the dirty ring where the host has it, else the bitmap */
	DIRTY_LOG_RING,	  /* the dirty ring, or hearth refuses to start */
	DIRTY_LOG_BITMAP, /* KVM_GET_DIRTY_LOG's bitmap */
};

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
	unsigned ndisks;
	struct disk_config disks[CONFIG_MAX_DISKS];
	unsigned nnics;
	struct net_config nics[CONFIG_MAX_NICS]; /* backends/tap.h parses them */
	bool rng;				 /* virtio-rng (default on from the command line) */
	bool virtio_console;			 /* virtio-console on hvc0 */
	enum virtio_transport_kind transport;
	/*
	 * Restoring a snapshot (snapshot/snapshot.h): guest memory is this
	 * file mapped privately, and vm_create() loads no kernel and writes
	 * no firmware tables. NULL: a normal boot.
	 */
	const char *restore_mem_path;
	/* KVM dirty logging on guest memory, for diff snapshots (track_dirty_pages). */
	bool track_dirty_pages;
	/* How KVM reports dirty pages (--dirty-log; vmm/dirty_ring.h). */
	enum dirty_log_kind dirty_log;
	/*
	 * Built to receive a migrating VM (migration/migration.h): anonymous
	 * memory, no kernel loaded, no firmware tables written, disk images
	 * opened without their locks (taken at the migration's commit).
	 */
	bool incoming;
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

/*
 * config_parse_disk - parse a --disk value
 * "path=FILE[,readonly=on|off][,cache=writeback|none|unsafe][,serial=STR]
 * [,id=NAME][,iops=N][,bps=N]" into d (strings are copied). Returns 0, or
 * -1 with a one-line message in err.
 */
int config_parse_disk(const char *spec, struct disk_config *d, char *err, size_t errlen);

/* config_free - free what the parsers allocated in c. */
void config_free(struct vm_config *c);

#endif
