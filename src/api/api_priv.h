/* SPDX-License-Identifier: MIT */
/* The control API's internals, shared by its server, routes and VMM-side files. */
#ifndef HEARTH_API_API_PRIV_H
#define HEARTH_API_API_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "core/rate_limiter.h"
#include "vmm/config.h"

enum api_state { API_NOT_STARTED, API_RUNNING, API_PAUSED, API_STOPPED };

/* What the API thread hands to the VMM thread. */
enum api_op_kind {
	API_OP_START,
	API_OP_CTRL_ALT_DEL,
	API_OP_FLUSH_METRICS,
	API_OP_PAUSE,
	API_OP_RESUME,
	API_OP_DRIVE_LIMITS,
	API_OP_NIC_LIMITS,
	API_OP_SNAPSHOT_CREATE, /* api_snapshot.c */
	API_OP_SNAPSHOT_LOAD,
	API_OP_MIGRATE_INCOMING, /* api_migrate.c */
};

struct api_op {
	enum api_op_kind kind;
	unsigned disk; /* API_OP_DRIVE_LIMITS: index among the VM's disks */
	struct token_bucket_config ops, bytes;
	bool has_ops, has_bytes; /* API_OP_DRIVE_LIMITS: which buckets change */
	unsigned nic;		 /* API_OP_NIC_LIMITS: index among the VM's cards */
	struct token_bucket_config rx, tx;
	bool has_rx, has_tx;		   /* API_OP_NIC_LIMITS: which buckets change */
	const char *state_path, *mem_path; /* API_OP_SNAPSHOT_*: the two files */
	bool resume;			   /* API_OP_SNAPSHOT_LOAD: resume_vm */
	bool diff;			   /* API_OP_SNAPSHOT_CREATE: snapshot_type Diff */
	bool track_dirty; /* API_OP_SNAPSHOT_LOAD: enable_diff_snapshots or track_dirty_pages */
	bool done;
	int status;    /* HTTP status of the answer */
	char msg[512]; /* fault_message when status >= 400 */
};

#define API_PARTUUID_MAX 64

/* Per-drive settings the VM configuration does not hold. */
struct api_drive_extra {
	bool root;
	char partuuid[API_PARTUUID_MAX + 1];
	bool has_limits; /* rate_limiter given: the buckets are in the disk_config */
};

struct api {
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t done;  /* an op finished */
	enum api_state state;

	/* The configuration so far; its strings point at the copies below. */
	struct vm_config cfg;
	char *kernel, *initrd, *boot_args, *serial_path;
	bool boot_set; /* a kernel is configured */
	bool track_dirty_pages;
	struct api_drive_extra drive[CONFIG_MAX_DISKS];
	char nic_id[CONFIG_MAX_NICS][CONFIG_ID_MAX + 1];
	bool logger_set, log_show_level, log_show_origin;
	char *log_path, *log_module;
	char log_level[16];
	int log_fd;
	bool metrics_set, metrics_emit_id;
	char *metrics_path;
	int metrics_fd;
	void *metrics_props;  /* json_object of strings, or NULL */
	int metrics_timer_fd; /* the periodic write on the VM's event loop, or -1 */

	/* The VM: what it was built from (its strings stay here) and itself. */
	struct vm_config start_cfg;
	char *start_cmdline;
	unsigned start_drive[CONFIG_MAX_DISKS]; /* VM disk i is cfg.disks[start_drive[i]] */
	struct vm *vm;
	uint64_t requests, errors;

	/* Handing ops to the VMM thread. */
	int efd;
	struct api_op *op;

	/* The server. */
	char *path;
	int listen_fd;
	void *mhd;	  /* struct MHD_Daemon */
	pthread_t thread; /* runs the HTTP server (MHD_run) under its seccomp filter */
	bool thread_started;
	int quit_fd; /* eventfd: the server thread ends */

	/* Live migration (api_migrate.c): the source's, and an incoming one's socket. */
	struct migration *mig;
	int incoming_fd;
	/* PUT /migrate/incoming's TLS credentials, read before it listens; NULL: none. */
	struct mig_tls_creds *incoming_tls;
};

/*
 * api_route - answer one request (api->lock held): method and url as
 * received, body[0, len) NUL-terminated. Returns the HTTP status and sets
 * *out to a malloc'd JSON body, or NULL for none (204).
 */
int api_route(struct api *api, const char *method, const char *url, const char *body, size_t len,
	      char **out);

/*
 * api_submit - hand op to the VMM thread and wait for it to finish
 * (api->lock held; it is released while waiting). When the VM is gone,
 * op is answered with 400 at once.
 */
void api_submit(struct api *api, struct api_op *op);

/* api_run_op - carry out op on the VMM thread (api->lock held). */
void api_run_op(struct api *api, struct api_op *op);

/*
 * api_write_metrics - append one JSON line of counters to the metrics
 * file (api->lock held, VMM thread or no VM). Returns 0 or -errno.
 */
int api_write_metrics(struct api *api);

/* How often the metrics are written while a VM runs (HEARTH_METRICS_PERIOD_MS overrides). */
#define API_METRICS_PERIOD_MS 60000

/*
 * api_metrics_timer_start - write the metrics every period (when they are
 * configured) from a timer on vm's event loop; VMM thread. Returns 0 or
 * -errno. api_metrics_timer_stop - remove that timer (vm NULL: only close it).
 */
int api_metrics_timer_start(struct api *api, struct vm *vm);
void api_metrics_timer_stop(struct api *api, struct vm *vm);

/*
 * api_snapshot_create - API_OP_SNAPSHOT_CREATE on the VMM thread: write a
 * full snapshot of the paused VM (400 when it is not paused or the files
 * cannot be written). api_snapshot_load - API_OP_SNAPSHOT_LOAD: build the
 * VM from a snapshot (400 naming the problem when the files are refused),
 * paused or resumed as op->resume asks. Both with api->lock held.
 */
void api_snapshot_create(struct api *api, struct api_op *op);
void api_snapshot_load(struct api *api, struct api_op *op);

/*
 * api_adopt_config - a VM built elsewhere (a snapshot load, an incoming
 * migration) from cfg runs: the API's configuration becomes cfg's, whose
 * strings (disk paths) it owns from now on (api->lock held).
 */
void api_adopt_config(struct api *api, const struct vm_config *cfg);

/*
 * api_migrate_route - answer GET/PUT /migrate, PUT /migrate/cancel and
 * PUT /migrate/incoming (api->lock held), as api_route() does.
 * api_migrate_overrides - take an incoming request's "drives" and
 * "network_interfaces" into the configuration (400 and *out set when bad).
 * api_migrate_incoming_op - API_OP_MIGRATE_INCOMING on the VMM thread:
 * listen (api->incoming_fd). api_migrate_receive - with api->incoming_fd
 * listening, receive the VM (api->lock not held); NULL with *status set
 * when it fails. api_migrate_attach, api_migrate_detach - set up and end
 * outgoing migration for a VM that runs (before vm_run(), after it).
 */
int api_migrate_route(struct api *api, const char *method, const char *url, const char *body,
		      size_t len, char **out);
int api_migrate_overrides(struct api *api, void *request, char **out);
void api_migrate_incoming_op(struct api *api, struct api_op *op);
struct vm *api_migrate_receive(struct api *api, int *status);
void api_migrate_attach(struct api *api, struct vm *vm);
void api_migrate_detach(struct api *api);

/*
 * api_fault - set op's answer to status with a printf-style fault_message.
 */
void api_fault(struct api_op *op, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
