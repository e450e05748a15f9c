/* SPDX-License-Identifier: MIT */
/*
 * Live migration: pre-copy of a running VM to another hearth process over
 * TCP, with a ready/commit hand-over.
 *
 * The stream (both directions) is a sequence of records, each a struct
 * mig_rec_hdr (type, length) and that many payload bytes:
 *   source -> destination  HELLO (magic, version), DESC (the machine
 *                          description: struct snap_machine, its CPUID,
 *                          disks and network cards),
 *   destination -> source  ACCEPT, or REFUSE with one line saying why,
 *   source -> destination  PAGES (a run of pages: guest-physical address,
 *                          count, the data), ZERO (a run of pages that are
 *                          zero now), PASS (a pass ended), any number of
 *                          them, then STATE (the vCPU and device state,
 *                          as a snapshot state file: versioned and
 *                          checksummed),
 *   destination -> source  READY (it holds the whole VM),
 *   source -> destination  COMMIT (the source released its disks and will
 *                          never run the guest again),
 *   destination -> source  DONE (the guest runs there; its downtime).
 * Every record is checked (type, length for its type, page ranges inside
 * guest RAM, order) before its payload is used: the stream is untrusted.
 *
 * Failure semantics: anything going wrong before COMMIT leaves the source
 * running its guest (resumed if it had been paused) and the destination
 * discards what it received and exits non-zero.
 */
#ifndef HEARTH_MIGRATION_MIGRATION_H
#define HEARTH_MIGRATION_MIGRATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/guest_memory.h"
#include "snapshot/snapshot.h"
#include "vmm/config.h"

#define MIG_MAGIC   "HRTHMIG1"
#define MIG_VERSION 3 /* 2: COMMIT carries flags; 3: DONE carries its own delay */
/* Pages in one PAGES record at most (1 MiB). */
#define MIG_MAX_RUN 256
/* Largest REFUSE reason. */
#define MIG_MAX_REASON 512

enum mig_rec_type {
	MIG_REC_HELLO = 1,
	MIG_REC_DESC = 2,
	MIG_REC_ACCEPT = 3,
	MIG_REC_REFUSE = 4,
	MIG_REC_PAGES = 5,
	MIG_REC_ZERO = 6,
	MIG_REC_PASS = 7,
	MIG_REC_STATE = 8,
	MIG_REC_READY = 9,
	MIG_REC_COMMIT = 10,
	MIG_REC_DONE = 11,
};

struct mig_rec_hdr {
	uint32_t type; /* enum mig_rec_type */
	uint32_t reserved;
	uint64_t len; /* payload bytes */
};

struct mig_hello {
	char magic[8]; /* MIG_MAGIC */
	uint32_t version;
	uint32_t reserved;
};

/* PAGES (followed by npages * 4 KiB of data) and ZERO. */
struct mig_run {
	uint64_t gpa;
	uint64_t npages;
};

struct mig_pass {
	uint32_t pass;
	uint32_t reserved;
	uint64_t pages;
};

/* mig_commit.flags */
#define MIG_COMMIT_PAUSED 1u /* the user had paused the VM: it stays paused on arrival */

struct mig_commit {
	uint64_t paused_ns; /* the source's vCPUs have been stopped this long */
	uint32_t flags;	    /* MIG_COMMIT_* */
	uint32_t reserved;
};

struct mig_done {
	uint64_t downtime_ns; /* COMMIT's paused_ns + the destination's commit-to-resume time */
	uint64_t resume_ns;   /* of that: commit received to vCPUs resumed, on the destination */
	uint64_t held_ns;     /* commit received to DONE sent (so the source can tell the link's) */
};

/* A decoded DESC record. */
struct mig_desc {
	struct snap_machine machine;
	struct kvm_cpuid_entry2 *cpuid; /* machine.ncpuid */
	struct snap_disk *disks;	/* machine.ndisks */
	struct snap_nic nics[CONFIG_MAX_NICS];
};

/*
 * mig_fail - format one line into err (errlen bytes) and return r: the
 * error reporting of the stream's functions.
 */
int mig_fail(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * mig_wait_fd - wait until fd is ready for events (POLLIN, POLLOUT), or
 * cancel_fd (when >= 0) readable, or timeout_ms (-1: none). Returns 0,
 * -ECANCELED, -ETIMEDOUT or -errno.
 */
int mig_wait_fd(int fd, short events, int cancel_fd, int timeout_ms);

/* ---- TLS of the stream (migration_tls.c) ----------------------------------------------- */

#define MIG_TLS_PATH 4096

/* The user's TLS options: a pre-shared key, or certificate, key and CA ("": not given). */
struct mig_tls_opts {
	char psk_file[MIG_TLS_PATH]; /* IDENTITY:HEXKEY, as GnuTLS's psktool writes */
	char cert_file[MIG_TLS_PATH], key_file[MIG_TLS_PATH], ca_file[MIG_TLS_PATH]; /* PEM */
};

struct mig_tls_creds;
struct mig_tls;

/* mig_tls_opts_given - whether o (may be NULL) asks for TLS at all. */
bool mig_tls_opts_given(const struct mig_tls_opts *o);

/* The API's fields naming the files of struct mig_tls_opts, in the order of mig_tls_opts_path(). */
#define MIG_TLS_FILES 4
extern const char *const mig_tls_fields[MIG_TLS_FILES];

/* mig_tls_opts_path - o's path buffer (MIG_TLS_PATH bytes) for mig_tls_fields[i]. */
char *mig_tls_opts_path(struct mig_tls_opts *o, unsigned i);

/*
 * mig_tls_parse_psk - parse a key file's text[0, len): one line
 * IDENTITY:HEXKEY (identity printable, key 16 to keymax bytes). Returns 0,
 * or -EINVAL with one line in err.
 */
int mig_tls_parse_psk(const char *text, size_t len, char *identity, size_t idlen, uint8_t *key,
		      size_t keymax, size_t *key_len, char *err, size_t errlen);

/*
 * mig_tls_load - read the files o names and build the credentials for
 * the destination (server) or the source into *out (NULL when o asks for
 * no TLS). Secret files (the PSK, the private key) must not be readable
 * by others. Opens files: call it before any seccomp filter applies to
 * the thread. Returns 0, or -errno with one line in err naming the option
 * and the file.
 */
int mig_tls_load(const struct mig_tls_opts *o, bool server, struct mig_tls_creds **out, char *err,
		 size_t errlen);

/* mig_tls_creds_free - free what mig_tls_load() built (NULL is fine). */
void mig_tls_creds_free(struct mig_tls_creds *c);

/*
 * mig_tls_handshake - make fd non-blocking and run the TLS 1.3 handshake
 * over it with credentials c (both sides authenticate: the same PSK, or
 * certificates signed by the CA). Waits on cancel_fd (readable: give up)
 * and for at most timeout_ms at a time. Returns 0 with the session in
 * *out, or -ECANCELED, -ETIMEDOUT, -EACCES (the handshake failed) with one
 * line in err.
 */
int mig_tls_handshake(const struct mig_tls_creds *c, int fd, int cancel_fd, int timeout_ms,
		      struct mig_tls **out, char *err, size_t errlen);

/* mig_tls_close - end a session (NULL is fine); the socket stays open. */
void mig_tls_close(struct mig_tls *t);

/*
 * mig_tls_recv, mig_tls_send - one record's worth of I/O: 0 with *got
 * (*sent) bytes; -EAGAIN with the events to wait for in *events (then call
 * again with the same arguments); -EPIPE at the end of the stream; -EPROTO
 * on a TLS error (mig_tls_error() says which).
 */
int mig_tls_recv(struct mig_tls *t, void *buf, size_t len, size_t *got, short *events);
int mig_tls_send(struct mig_tls *t, const void *buf, size_t len, size_t *sent, short *events);

/* mig_tls_error - the last TLS error of t, as text ("TLS: ..."). */
const char *mig_tls_error(struct mig_tls *t);

/* Reading records from a socket, or (fuzzing, tests) from a buffer. */
struct mig_reader {
	int fd;		     /* -1: read from buf */
	struct mig_tls *tls; /* when set, fd carries TLS records */
	int cancel_fd;	     /* also polled when >= 0: readable means give up */
	int timeout_ms;	     /* per read; -1: none */
	const uint8_t *buf;
	size_t len, off;
	uint64_t bytes;	  /* read so far */
	int kill_at_pass; /* test hook: SIGKILL itself at this PASS record (0: the first run); -1 */
};

/*
 * mig_read_hdr - read the next record header into h and check its type
 * and its length for that type. Returns 0, -EPIPE at the end of the
 * stream, -ECANCELED, -ETIMEDOUT, or -EINVAL, each with one line in err.
 */
int mig_read_hdr(struct mig_reader *r, struct mig_rec_hdr *h, char *err, size_t errlen);

/*
 * mig_read_exact - read len bytes of payload into dst. Returns 0 or
 * -errno (-EPIPE: the stream ended) with one line in err.
 */
int mig_read_exact(struct mig_reader *r, void *dst, size_t len, char *err, size_t errlen);

/*
 * mig_expect - read the next record, which must be of type want with a
 * payload of at most max bytes, into buf; *len gets the payload's length
 * (may be NULL when the length is fixed: then it must be max exactly).
 * A REFUSE record instead returns -ECONNREFUSED with its reason in err.
 */
int mig_expect(struct mig_reader *r, uint32_t want, void *buf, size_t max, size_t *len, char *err,
	       size_t errlen);

/* mig_check_hello - check a HELLO payload: magic and version. -EPROTO with one line. */
int mig_check_hello(const struct mig_hello *h, char *err, size_t errlen);

/*
 * mig_parse_desc - decode and check a DESC payload p[0, len) into d
 * (mig_desc_free() it). Returns 0, or -EINVAL/-ENOMEM with one line.
 */
int mig_parse_desc(const uint8_t *p, size_t len, struct mig_desc *d, char *err, size_t errlen);

/* mig_desc_free - free what mig_parse_desc() allocated. */
void mig_desc_free(struct mig_desc *d);

/*
 * mig_encode_desc - the DESC payload for the machine part of s (machine,
 * CPUID, disks, cards) in a malloc'd buffer. Returns NULL when out of memory.
 */
uint8_t *mig_encode_desc(const struct snapshot *s, size_t *len);

/*
 * mig_receive_memory - read PAGES, ZERO and PASS records into gm until
 * the STATE record, whose payload (a snapshot state file, not yet
 * checked) is returned malloc'd in *state, *state_len. Returns 0 or
 * -errno with one line in err.
 */
int mig_receive_memory(struct mig_reader *r, struct guest_memory *gm, uint8_t **state,
		       size_t *state_len, char *err, size_t errlen);

/* Writing records to a socket, with an optional bandwidth limit. */
struct mig_writer {
	int fd;
	struct mig_tls *tls; /* when set, fd carries TLS records (the reader's session) */
	int cancel_fd;	     /* polled while waiting to write: readable means give up */
	uint64_t max_bps;    /* bytes per second, 0: unlimited */
	uint64_t bytes;	     /* written so far */
	uint64_t start_ns;   /* of the bandwidth limit's accounting */
	uint64_t limit_bytes;
};

/*
 * mig_write_rec - write one record: type, and the payload gathered from
 * up to two buffers (b may be NULL). Returns 0 or -errno (-ECANCELED).
 */
int mig_write_rec(struct mig_writer *w, uint32_t type, const void *a, size_t alen, const void *b,
		  size_t blen);

/* mig_write_error - what mig_write_rec()'s error r on w means, as text (TLS errors named). */
const char *mig_write_error(struct mig_writer *w, int r);

/*
 * mig_parse_tcp - parse "tcp:HOST:PORT" (HOST a name or an address;
 * "[v6]" works too) into host and port. Returns 0 or -EINVAL.
 */
int mig_parse_tcp(const char *spec, char *host, size_t hostlen, char *port, size_t portlen);

/*
 * mig_log_ram_hash - a test hook: with HEARTH_TEST_MIGRATION_HASH in the
 * environment, print "hearth: migration: WHAT RAM sha256 HEX", the SHA-256
 * of all of gm's regions in order. Nothing otherwise.
 */
void mig_log_ram_hash(const struct guest_memory *gm, const char *what);

/* ---- the source ------------------------------------------------------------ */

struct vm;
struct migration;

enum migration_state {
	MIG_STATE_NONE,
	MIG_STATE_SETUP,
	MIG_STATE_PRECOPY,
	MIG_STATE_STOP_COPY,
	MIG_STATE_READY,
	MIG_STATE_COMPLETED,
	MIG_STATE_FAILED,
	MIG_STATE_CANCELLED,
};

struct migration_params {
	char destination[300]; /* "tcp:HOST:PORT" */
	unsigned max_downtime_ms;
	uint64_t max_bandwidth_mbps; /* 0: unlimited */
	struct mig_tls_opts tls;     /* all "": plain TCP */
};

/* What GET /migrate reports. */
struct migration_status {
	enum migration_state state;
	unsigned pass;
	uint64_t total_bytes, bytes_sent, remaining_bytes;
	uint64_t dirty_rate_bps, bandwidth_bps, expected_downtime_ms;
	unsigned throttle_percent;
	uint64_t downtime_ms, total_time_ms;
	char error[MIG_MAX_REASON];
};

/* migration_state_name - "none", "setup", "precopy", ... */
const char *migration_state_name(enum migration_state s);

/*
 * migration_create - set up outgoing migration for vm: a migration thread
 * (started now, under its own seccomp filter, idle until
 * migration_start()) and a way for it to run steps on vm's event loop.
 * Call on the VM's event-loop thread before vm_run() (before that thread's
 * own filter goes in). Returns NULL with one line in err.
 */
struct migration *migration_create(struct vm *vm, char *err, size_t errlen);

/*
 * migration_start - begin migrating to p->destination on the migration
 * thread, over TLS when p->tls names credentials (their files are read
 * here, on the calling thread). Returns 0, or -EBUSY (one in progress or
 * completed), -EINVAL (bad parameters, a bad TLS file) with one line in err.
 */
int migration_start(struct migration *m, const struct migration_params *p, char *err,
		    size_t errlen);

/*
 * migration_cancel - give up the migration in progress: before COMMIT the
 * guest resumes (state "cancelled"). Returns 0, or -ENOENT when none is in
 * progress (or it is past COMMIT).
 */
int migration_cancel(struct migration *m);

/*
 * migration_get_status - the current status into st. Once "completed" has
 * been read this way the source stops lingering (it exits 0).
 */
void migration_get_status(struct migration *m, struct migration_status *st);

/*
 * migration_holds_vm - whether m is in its last phase (the VM stopped for
 * the last pages, its devices held, until the commit or the resume after
 * a failure): the VM must then be neither resumed nor paused by anyone
 * else. Call it on the VM's event-loop thread. False for NULL.
 */
bool migration_holds_vm(struct migration *m);

/* migration_destroy - stop the migration thread and free m (NULL is fine). */
void migration_destroy(struct migration *m);

/* ---- the destination ------------------------------------------------------------ */

/* Per-host overrides of the incoming VM's configuration. */
struct migration_incoming {
	const struct vm_config *local;	 /* console, disks and cards given here (may be NULL) */
	const struct mig_tls_creds *tls; /* mig_tls_load()'s, server side; NULL: plain TCP */
};

/*
 * migration_check_local - check the destination's overrides before it
 * listens: each disk image given must exist and open for reading (and
 * writing unless read-only). Returns 0, or -errno with one line in err
 * naming the image.
 */
int migration_check_local(const struct vm_config *local, char *err, size_t errlen);

/*
 * migration_listen - listen on spec ("tcp:ADDR:PORT", a numeric address;
 * port 0 picks one) and print "hearth: migration: listening on ADDR:PORT".
 * Returns the listening socket, or -errno with one line in err.
 */
int migration_listen(const char *spec, char *err, size_t errlen);

/*
 * migration_receive - accept one source on the listening socket lfd
 * (closed here), check its stream version and machine description
 * (refusing, with the reason sent back, what this host cannot run), build
 * the VM (its configuration into *cfg: config_free() it after
 * vm_destroy(), also when NULL is returned; in->local's disks replace the
 * source's with the same id or position, its cards by position), receive
 * its memory and state, answer READY and wait for COMMIT, then lock its
 * disks, announce its network cards (RARP, and the guest's own announce
 * where it negotiated it) and report the downtime to the source. The VM
 * is returned ready to run (not paused: vm_run() runs it), or paused
 * (vm_is_paused()) when the user had paused it on the source. Returns NULL
 * with one line in err when anything fails (the partial VM is gone then).
 * Test hook: HEARTH_TEST_MIGRATION_KILL_AT_PASS=N kills the process by
 * SIGKILL when pass N ends (0: at the first run of pages).
 */
struct vm *migration_receive(const struct migration_incoming *in, int lfd, struct vm_config *cfg,
			     char *err, size_t errlen);

#endif
