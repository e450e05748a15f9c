/* SPDX-License-Identifier: MIT */
/*
 * The control API: HTTP/1.1 with JSON bodies on a UNIX socket, speaking the
 * part of Firecracker's API that maps onto hearth (the endpoints, bodies and
 * status codes of its swagger description; errors are
 * {"fault_message": "..."}).
 *
 * Threads: the HTTP server (libmicrohttpd) runs on its own thread, the API
 * thread, which only parses and validates requests. Configuration before
 * the VM starts is kept by the API (under its lock). Everything that acts on
 * the VM (InstanceStart, SendCtrlAltDel, FlushMetrics, PATCH /vm, PATCH
 * /drives) is handed to the VMM thread through an eventfd and a one-entry
 * slot, and the API thread waits for the answer: before the VM exists the
 * VMM thread is the one waiting in api_wait_start(); afterwards it is the
 * VM's event loop (vm_run()), which api_attach() hooks into.
 *
 * Use from `hearth run`:
 *   api = api_start(path, &cfg, ...);
 *   vm = cfg.kernel_path ? vm_create(&cfg, ...) : api_wait_start(api, &status);
 *   api_attach(api, vm); status = vm_run(vm); api_detach(api);
 *   vm_destroy(vm); api_stop(api);
 */
#ifndef HEARTH_API_API_H
#define HEARTH_API_API_H

#include <stdbool.h>
#include <stddef.h>

#include "vmm/config.h"

/* Largest request body accepted; larger ones are refused with 400. */
#define API_MAX_BODY (64 * 1024)
/* vcpu_count limit through the API, as Firecracker has it. */
#define API_MAX_VCPUS 32

struct api;
struct vm;

/*
 * api_start - listen on the UNIX socket path (created with mode 0600; a
 * stale socket left by a dead process is replaced, any other existing file
 * is an error) and start the API thread; with path NULL, neither: the
 * configuration is only kept, for api_load_config() and api_start_vm().
 * cfg is the configuration the command line built: the API's configuration
 * starts as a copy of it (strings are copied). Returns NULL with one line
 * in err on failure.
 */
struct api *api_start(const char *path, const struct vm_config *cfg, char *err, size_t errlen);

/*
 * api_load_config - apply a Firecracker configuration document (the file at
 * path: a JSON object whose "boot-source", "machine-config", "drives",
 * "network-interfaces", "entropy", "logger", "metrics" and "serial" hold
 * the bodies of the matching PUT requests) with the same validation as the
 * API's requests. "boot-source" is required; Firecracker's sections hearth
 * lacks ("balloon", "vsock", "mmds-config", ...) may only be null. Call
 * before the VM starts. Returns 0, or -1 with one line naming the section
 * and the problem in err (unreadable file, invalid JSON, unknown field,
 * wrong type, missing kernel...).
 */
int api_load_config(struct api *api, const char *path, char *err, size_t errlen);

/* Logger settings given on a command line (NULL or false: not given). */
struct api_logger_args {
	const char *log_path, *level, *module;
	bool show_level, show_log_origin;
};

/*
 * api_set_logger, api_set_metrics - configure the logger and the metrics
 * as PUT /logger and PUT /metrics with these fields would. Return 0, or -1
 * with the refusal's message in err.
 */
int api_set_logger(struct api *api, const struct api_logger_args *l, char *err, size_t errlen);
int api_set_metrics(struct api *api, const char *metrics_path, char *err, size_t errlen);

/*
 * api_start_vm - build the VM from the configuration gathered so far, as
 * InstanceStart does, on the calling (VMM) thread. Returns the VM (its
 * configuration's strings belong to api), or NULL with one line in err.
 */
struct vm *api_start_vm(struct api *api, char *err, size_t errlen);

/*
 * api_wait_start - serve requests that need the VMM thread until
 * InstanceStart builds a VM with vm_create() from the configuration
 * accumulated through the API; returns that VM (its configuration's strings
 * belong to api, which must outlive it). A failed vm_create() answers the
 * InstanceStart request with 400 and waiting goes on. SIGTERM, SIGINT or
 * SIGHUP end the wait: returns NULL with *status 0.
 */
struct vm *api_wait_start(struct api *api, int *status);

/*
 * api_attach - vm runs from now on (state "Running"): requests for it are
 * served on vm's event loop. Call before vm_run(). Returns 0 or -errno.
 */
int api_attach(struct api *api, struct vm *vm);

/*
 * api_detach - the VM has stopped (vm_run() returned): a request waiting
 * for it, and every later one that would need it, get 400. Call before
 * vm_destroy().
 */
void api_detach(struct api *api);

/* api_stop - stop the API thread, remove the socket and free api (NULL is fine). */
void api_stop(struct api *api);

#endif
