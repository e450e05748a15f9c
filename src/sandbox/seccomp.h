/* SPDX-License-Identifier: MIT */
/*
 * Per-thread seccomp-BPF filters (libseccomp). Each kind of thread (vCPU,
 * the VMM's event loop, the API server, block I/O workers) installs its own
 * allow-list before it touches anything the guest or a client controls. A
 * call outside the list is trapped: a SIGSYS handler writes one line naming
 * the thread and the call, and hearth dies by SIGSYS. The lists live in
 * seccomp.c (one table) and, readable, in src/sandbox/allowlist.txt; a unit
 * test keeps the two equal.
 */
#ifndef HEARTH_SANDBOX_SECCOMP_H
#define HEARTH_SANDBOX_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>

/* What a filter does with a call outside its list. */
enum sandbox_seccomp_mode {
	SANDBOX_SECCOMP_ON = 0,	 /* trap: log one line and die by SIGSYS (the default) */
	SANDBOX_SECCOMP_OFF = 1, /* install nothing */
	SANDBOX_SECCOMP_LOG = 2, /* allow it, the kernel logs it (audit): for debugging */
};

/* The kinds of thread, each with its own allow-list. */
enum sandbox_thread {
	SANDBOX_THREAD_VCPU,	  /* a vCPU's KVM_RUN loop */
	SANDBOX_THREAD_VMM,	  /* the event loop (the main thread once the VM runs) */
	SANDBOX_THREAD_API,	  /* the control API's HTTP server */
	SANDBOX_THREAD_BLOCK_IO,  /* a disk's I/O worker (thread-pool engine) */
	SANDBOX_THREAD_MIGRATION, /* live migration: its TCP socket, the dirty log */
	SANDBOX_THREAD_KINDS,
};

/*
 * sandbox_seccomp_parse_mode - parse "on", "off" or "log" into *mode. Returns 0, or
 * -EINVAL for anything else.
 */
int sandbox_seccomp_parse_mode(const char *s, enum sandbox_seccomp_mode *mode);

/*
 * sandbox_seccomp_init - choose the mode for this process, once, on the main thread
 * before any filtered thread starts. With SANDBOX_SECCOMP_ON or SANDBOX_SECCOMP_LOG it
 * compiles every kind's filter, resolves system call names for the SIGSYS
 * handler and installs it. Without a call (unit tests, fuzzers, library
 * users), sandbox_seccomp_apply() installs nothing. Returns 0, or a negative errno
 * with one line in err.
 */
int sandbox_seccomp_init(enum sandbox_seccomp_mode mode, char *err, size_t errlen);

/* sandbox_seccomp_enabled - whether sandbox_seccomp_init() chose SANDBOX_SECCOMP_ON or
 * SANDBOX_SECCOMP_LOG. */
bool sandbox_seccomp_enabled(void);

/*
 * sandbox_seccomp_apply - install kind's filter on the calling thread; name (at
 * most 15 characters, e.g. "vcpu0") is what the SIGSYS line calls it. A
 * no-op returning 0 when sandbox_seccomp_init() was not called or chose
 * SANDBOX_SECCOMP_OFF. Returns 0, or a negative errno (the filter is not
 * installed; the caller must not go on to run guest or client input).
 */
int sandbox_seccomp_apply(enum sandbox_thread kind, const char *name);

/*
 * sandbox_seccomp_set_api_socket - the API thread's accept4() is allowed on fd
 * only (its listening socket): call it before the API thread applies its
 * filter. Rebuilds that filter when sandbox_seccomp_init() built them
 * already. Returns 0, or a negative errno (the filter is unchanged).
 */
int sandbox_seccomp_set_api_socket(int fd);

/*
 * sandbox_seccomp_set_trap_hook - fn (async-signal-safe, e.g. restoring the
 * terminal) runs in the SIGSYS handler after its line, before hearth dies.
 * Only system calls every list allows may be made there (a terminal's
 * TCGETS/TCSETS ioctls, write).
 */
void sandbox_seccomp_set_trap_hook(void (*fn)(void));

/*
 * sandbox_seccomp_set_trap_exit - a forbidden system call ends hearth with
 * exit status status (after the handler's line and hook) instead of dying
 * by SIGSYS; 0 restores dying by the signal. For Firecracker's statuses.
 */
void sandbox_seccomp_set_trap_exit(int status);

/* sandbox_seccomp_thread_name - the allow-list file's name of kind ("vcpu", "vmm"...). */
const char *sandbox_seccomp_thread_name(enum sandbox_thread kind);

/*
 * sandbox_seccomp_export_pfc - write kind's filter (as sandbox_seccomp_apply() would install
 * it with mode) to fd in libseccomp's readable PFC form. For tests. Returns
 * 0 or a negative errno.
 */
int sandbox_seccomp_export_pfc(enum sandbox_thread kind, enum sandbox_seccomp_mode mode, int fd);

/*
 * sandbox_seccomp_allowed_names - the system calls kind's table allows (names,
 * sorted, without duplicates; in sanitizer builds with the sanitizer
 * runtime's extra calls) into names[0..max), returning how many there are,
 * or -E2BIG when max is too small. For tests and the allow-list file.
 */
int sandbox_seccomp_allowed_names(enum sandbox_thread kind, const char **names, size_t max);

#endif
