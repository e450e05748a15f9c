/* SPDX-License-Identifier: MIT */
/* The receiving side of a live migration: `hearth run --incoming tcp:ADDR:PORT`. */
#include "backends/block.h"
#include "core/log.h"
#include "core/util.h"
#include "migration/migration.h"
#include "sandbox/seccomp.h"
#include "snapshot/snapshot_priv.h"
#include "vmm/vm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MIG_DEST_TIMEOUT_MS 60000 /* the source's longest silence */

int migration_check_local(const struct vm_config *local, char *err, size_t errlen)
{
	if (!local)
		return 0;
	for (unsigned i = 0; i < local->ndisks; i++) {
		const struct disk_config *d = &local->disks[i];

		if (d->path && access(d->path, d->readonly ? R_OK : R_OK | W_OK) < 0) {
			int e = errno;

			snprintf(err, errlen, "disk %s: %s", d->path, strerror(e));
			return -e;
		}
	}
	return 0;
}

int migration_listen(const char *spec, char *err, size_t errlen)
{
	char host[256], port[16], shown[INET6_ADDRSTRLEN];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *res;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, one = 1, r;

	if (mig_parse_tcp(spec, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen, "--incoming %s: expected tcp:ADDR:PORT", spec);
		return -EINVAL;
	}
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
	r = getaddrinfo(host, port, &hints, &res);
	if (r) {
		snprintf(err, errlen, "--incoming %s: %s (a numeric address is needed)", spec,
			 gai_strerror(r));
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		r = -errno;
		snprintf(err, errlen, "--incoming %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return r;
	}
	freeaddrinfo(res);
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, shown, sizeof(shown));
		fprintf(stderr, "hearth: migration: listening on [%s]:%u\n", shown,
			ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, shown, sizeof(shown));
		fprintf(stderr, "hearth: migration: listening on %s:%u\n", shown,
			ntohs(a->sin_port));
	}
	return fd;
}

/*
 * Send a REFUSE record with the reason (best effort), over TLS when tls is
 * set, then end our side and read what the source still sends until it
 * hangs up (at most a second): a socket closed with unread bytes resets
 * the connection, and the reset can reach the source before the reason.
 */
static void refuse(int fd, struct mig_tls *tls, const char *why)
{
	struct mig_writer w = {.fd = fd, .tls = tls, .cancel_fd = -1};
	uint64_t until = now_ns() + 1000000000ull;
	size_t n = strlen(why);
	char sink[4096];

	if (n > MIG_MAX_REASON - 1)
		n = MIG_MAX_REASON - 1;
	mig_write_rec(&w, MIG_REC_REFUSE, why, n, NULL, 0);
	if (shutdown(fd, SHUT_WR))
		return;
	for (;;) {
		uint64_t now = now_ns();
		ssize_t got;

		if (now >= until || mig_wait_fd(fd, POLLIN, -1, (int)((until - now) / 1000000) + 1))
			return;
		got = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
			return;
	}
}

/*
 * The destination's overrides: a --disk given here replaces the source's
 * disk with the same id=, or else the one at the same position; a --net
 * replaces the card at its position. Omitted ones keep the source's.
 */
static int apply_overrides(struct vm_config *c, const struct vm_config *local, char *err,
			   size_t errlen)
{
	if (!local)
		return 0;
	for (unsigned i = 0; i < local->ndisks; i++) {
		const struct disk_config *ld = &local->disks[i];
		unsigned k = i;

		if (ld->id[0]) {
			for (k = 0; k < c->ndisks && strcmp(c->disks[k].id, ld->id); k++)
				;
		}
		if (k >= c->ndisks) {
			snprintf(err, errlen, "--disk %s: the incoming VM has no such disk",
				 ld->path);
			return -EINVAL;
		}
		free(c->disks[k].path);
		c->disks[k].path = strdup(ld->path);
		if (!c->disks[k].path) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	for (unsigned i = 0; i < local->nnics; i++) {
		if (i >= c->nnics) {
			snprintf(err, errlen, "--net %s: the incoming VM has %u network cards",
				 local->nics[i].ifname, c->nnics);
			return -EINVAL;
		}
		snprintf(c->nics[i].ifname, sizeof(c->nics[i].ifname), "%s", local->nics[i].ifname);
	}
	return 0;
}

/* Tell switches where the guest's MACs are now: one RARP per card, and the guest's own announce. */
static void announce(struct vm *vm)
{
	for (unsigned i = 0; i < vm->virtio.nr_net; i++) {
		struct virtio_net *net = vm->virtio.net[i];
		struct tap *t = &vm->virtio.taps[i];
		uint8_t frame[64] = {0};
		uint8_t *e;
		size_t hl = t->vnet_hdr_len;

		if (!net || t->fd < 0 || hl > 16)
			continue;
		e = frame + hl; /* a zeroed virtio-net header first, when the tap has one */
		memset(e, 0xff, 6);
		memcpy(e + 6, net->mac, 6);
		e[12] = 0x80; /* ETH_P_RARP */
		e[13] = 0x35;
		e[14] = 0;
		e[15] = 1; /* Ethernet */
		e[16] = 0x08;
		e[17] = 0x00; /* IPv4 */
		e[18] = 6;
		e[19] = 4;
		e[20] = 0;
		e[21] = 3; /* reverse request */
		memcpy(e + 22, net->mac, 6);
		memcpy(e + 32, net->mac, 6);
		if (write(t->fd, frame, hl + 60 - 18) < 0)
			log_warn("migration: RARP on %s: %s", t->name, strerror(errno));
		virtio_net_announce(net);
	}
}

/*
 * What the destination reads from the (untrusted) stream, each part on a
 * short-lived thread under the migration thread's seccomp filter, so that
 * a bug in the stream's reader or parsers is contained; the VM is built
 * and its state applied on the calling thread in between.
 */
enum recv_step_kind {
	RECV_DESC,   /* HELLO and DESC, decoded into d */
	RECV_MEMORY, /* pages into vm->mem, then STATE parsed into s */
	RECV_COMMIT, /* the COMMIT record */
};

struct recv_step {
	enum recv_step_kind kind;
	struct mig_reader *r;
	const struct mig_tls_creds *tls; /* RECV_DESC: the handshake comes first */
	bool answered;	   /* RECV_DESC: the source needs no REFUSE (or cannot read one) */
	const char *reply; /* RECV_DESC: the REFUSE reason when it is not err */
	struct mig_desc *d;
	struct vm *vm;
	struct snapshot *s;
	struct mig_commit *commit;
	char *err;
	size_t errlen;
	int result;
};

/*
 * Before the first record: whether the source speaks TLS (a TLS record
 * starts with 0x16, a handshake) as this destination expects, then the
 * handshake when it does.
 */
static int recv_tls(struct recv_step *st)
{
	uint8_t first = 0;
	ssize_t n;
	int e = mig_wait_fd(st->r->fd, POLLIN, -1, st->r->timeout_ms);

	if (e) {
		snprintf(st->err, st->errlen, "the source said nothing in time");
		return e;
	}
	do
		n = recv(st->r->fd, &first, 1, MSG_PEEK);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		snprintf(st->err, st->errlen, "the stream ended early (the other side is gone)");
		return -EPIPE;
	}
	if (!st->tls && first == 0x16) {
		st->answered = true;
		snprintf(st->err, st->errlen,
			 "the source uses TLS: start the destination with the same --tls-psk or "
			 "--tls-cert/--tls-key/--tls-ca");
		return -EPROTO;
	}
	if (st->tls && first != 0x16) {
		/* Refused in the clear by the caller, which may end the connection. */
		st->reply = "the destination requires TLS: migrate with the same --tls-psk or "
			    "--tls-cert/--tls-key/--tls-ca";
		snprintf(st->err, st->errlen,
			 "the source does not use TLS (this destination requires it)");
		return -EPROTO;
	}
	if (!st->tls)
		return 0;
	e = mig_tls_handshake(st->tls, st->r->fd, -1, st->r->timeout_ms, &st->r->tls, st->err,
			      st->errlen);
	if (e)
		st->answered = true;
	return e;
}

static int recv_desc(struct recv_step *st)
{
	struct mig_hello hello;
	struct mig_rec_hdr h;
	uint8_t *buf;
	int e;

	if (st->r->fd >= 0) {
		e = recv_tls(st);
		if (e)
			return e;
	}
	e = mig_expect(st->r, MIG_REC_HELLO, &hello, sizeof(hello), NULL, st->err, st->errlen);
	e = e ?: mig_check_hello(&hello, st->err, st->errlen);
	e = e ?: mig_read_hdr(st->r, &h, st->err, st->errlen);
	if (e)
		return e;
	if (h.type != MIG_REC_DESC) {
		snprintf(st->err, st->errlen,
			 "bad stream: record type %u where the description belongs", h.type);
		return -EINVAL;
	}
	buf = malloc(h.len ? h.len : 1);
	if (!buf) {
		snprintf(st->err, st->errlen, "out of memory");
		return -ENOMEM;
	}
	e = mig_read_exact(st->r, buf, h.len, st->err, st->errlen);
	e = e ?: mig_parse_desc(buf, h.len, st->d, st->err, st->errlen);
	free(buf);
	return e;
}

static int recv_memory(struct recv_step *st)
{
	uint8_t *state = NULL;
	size_t state_len = 0;
	int e;

	e = mig_receive_memory(st->r, &st->vm->mem, &state, &state_len, st->err, st->errlen);
	e = e ?: snapshot_parse(state, state_len, st->s, st->err, st->errlen);
	free(state);
	return e;
}

static void *recv_thread(void *arg)
{
	struct recv_step *st = arg;
	int e = sandbox_seccomp_apply(SANDBOX_THREAD_MIGRATION, "migration-in");

	if (e) {
		snprintf(st->err, st->errlen, "cannot install the migration filter: %s",
			 strerror(-e));
		st->result = e;
		return NULL;
	}
	switch (st->kind) {
	case RECV_DESC:
		st->result = recv_desc(st);
		break;
	case RECV_MEMORY:
		st->result = recv_memory(st);
		break;
	case RECV_COMMIT:
		st->result = mig_expect(st->r, MIG_REC_COMMIT, st->commit, sizeof(*st->commit),
					NULL, st->err, st->errlen);
		break;
	default:
		st->result = -EINVAL;
		break;
	}
	return NULL;
}

/* Run step st on a filtered thread and wait for it. Returns its result. */
static int run_step(struct recv_step *st)
{
	sigset_t all, old;
	pthread_t t;
	int e;

	st->result = -EIO;
	/* Signals stay with the calling thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e = pthread_create(&t, NULL, recv_thread, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		snprintf(st->err, st->errlen, "migration: cannot start the receiving thread: %s",
			 strerror(e));
		return -e;
	}
	pthread_setname_np(t, "migration-in");
	pthread_join(t, NULL);
	return st->result;
}

/* Check the source and build its VM; refuses (with the reason sent) what cannot run here. */
static struct vm *accept_vm(struct mig_reader *r, int fd, const struct migration_incoming *in,
			    struct vm_config *cfg, struct mig_desc *d, char *err, size_t errlen)
{
	struct recv_step st = {
	    .kind = RECV_DESC, .r = r, .tls = in->tls, .d = d, .err = err, .errlen = errlen};
	struct snapshot tmp;
	struct vm *vm;

	if (run_step(&st)) {
		if (!st.answered)
			refuse(fd, st.reply ? NULL : r->tls, st.reply ? st.reply : err);
		return NULL;
	}
	memset(&tmp, 0, sizeof(tmp));
	tmp.machine = d->machine;
	tmp.cpuid = d->cpuid;
	tmp.disks = d->disks;
	memcpy(tmp.nics, d->nics, sizeof(tmp.nics));
	if (snap_build_config(&tmp, in->local, NULL, cfg, err, errlen) ||
	    apply_overrides(cfg, in->local, err, errlen)) {
		refuse(fd, r->tls, err);
		return NULL;
	}
	cfg->incoming = true;
	vm = vm_create(cfg, err, errlen);
	if (vm && snap_check_cpu(vm, &tmp, err, errlen)) {
		vm_destroy(vm);
		vm = NULL;
	}
	if (!vm) {
		refuse(fd, r->tls, err);
		return NULL;
	}
	return vm;
}

struct vm *migration_receive(const struct migration_incoming *in, int lfd, struct vm_config *cfg,
			     char *err, size_t errlen)
{
	struct mig_reader r = {
	    .cancel_fd = -1, .timeout_ms = MIG_DEST_TIMEOUT_MS, .kill_at_pass = -1};
	struct mig_writer w = {.cancel_fd = -1};
	struct mig_desc d;
	struct snapshot s;
	struct mig_commit commit;
	struct mig_done done;
	struct vm *vm = NULL;
	struct recv_step st = {
	    .r = &r, .d = &d, .s = &s, .commit = &commit, .err = err, .errlen = errlen};
	const char *fault = getenv("HEARTH_TEST_MIGRATION_KILL_AT_PASS");
	uint64_t t0, t_commit, t_resumed;
	int fd, e;

	memset(cfg, 0, sizeof(*cfg));
	memset(&d, 0, sizeof(d));
	memset(&s, 0, sizeof(s));
	do
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	close(lfd);
	if (fd < 0) {
		snprintf(err, errlen, "migration: accept: %s", strerror(errno));
		return NULL;
	}
	t0 = now_ns();
	/* Done at start already; in any case before the filtered threads use the digest. */
	snapshot_init();
	r.fd = w.fd = fd;
	if (fault)
		r.kill_at_pass = atoi(fault);
	vm = accept_vm(&r, fd, in, cfg, &d, err, errlen);
	w.tls = r.tls; /* the session of the handshake, when there was one */
	if (!vm)
		goto fail;
	e = mig_write_rec(&w, MIG_REC_ACCEPT, NULL, 0, NULL, 0);
	if (e) {
		snprintf(err, errlen, "migration: the source is gone: %s", strerror(-e));
		goto fail;
	}
	/*
	 * The vCPU threads start parked while the memory arrives (their
	 * filters go in meanwhile): at the commit, resuming them is all that
	 * is left between the hand-over and guest code.
	 */
	e = vm_pause(vm);
	e = e ?: vm_start_vcpus(vm, true);
	if (e) {
		snprintf(err, errlen, "migration: cannot start the vCPU threads: %s", strerror(-e));
		goto fail;
	}
	st.kind = RECV_MEMORY;
	st.vm = vm;
	if (run_step(&st))
		goto fail;
	if (memcmp(&s.machine, &d.machine, sizeof(s.machine))) {
		snprintf(err, errlen,
			 "bad stream: the state's machine differs from its description");
		goto fail;
	}
	if (snap_restore_state(vm, &s, err, errlen))
		goto fail;
	if (atomic_load(&vm->stopping)) {
		snprintf(err, errlen, "migration: the VM stopped: %s", vm->stop_reason);
		goto fail;
	}
	mig_log_ram_hash(&vm->mem, "received");
	e = mig_write_rec(&w, MIG_REC_READY, NULL, 0, NULL, 0);
	if (e) {
		snprintf(err, errlen, "migration: the source is gone: %s", strerror(-e));
		goto fail;
	}
	fprintf(stderr, "hearth: migration: ready, waiting for the commit\n");
	r.timeout_ms = -1;
	st.kind = RECV_COMMIT;
	if (run_step(&st)) {
		snprintf(err + strlen(err), errlen - strlen(err),
			 " (no commit: the source keeps the VM)");
		goto fail;
	}
	/* Committed: the guest is ours now, its disks released by the source. */
	t_commit = now_ns();
	for (unsigned i = 0; i < vm->virtio.nr_blk; i++)
		if (vm->virtio.blk[i] && block_lock(vm->virtio.blk[i]->bdev, err, errlen))
			goto fail;
	/*
	 * Only now do the devices start: before the commit the disks were the
	 * source's (a request the guest queued during the final stop must not
	 * be written here too, the source serves it after a failure).
	 */
	if (snap_start_devices(vm, &s, err, errlen))
		goto fail;
	if (commit.flags & MIG_COMMIT_PAUSED)
		fprintf(stderr, "hearth: migration: the VM was paused on the source: it stays "
				"paused here\n");
	else {
		atomic_store(&vm->trace_console, log_level_enabled(LOG_INFO));
		vm_resume(vm);
	}
	t_resumed = now_ns();
	/* With -v: when, on this host's CLOCK_MONOTONIC (to line up with other clocks' records). */
	log_info("migration: vCPUs resumed at %llu us", (unsigned long long)(t_resumed / 1000));
	done.resume_ns = t_resumed - t_commit;
	done.downtime_ns = commit.paused_ns + done.resume_ns;
	announce(vm);
	done.held_ns = now_ns() - t_commit;
	if (mig_write_rec(&w, MIG_REC_DONE, &done, sizeof(done), NULL, 0))
		log_warn("migration: cannot report the downtime to the source");
	mig_tls_close(r.tls);
	close(fd);
	fprintf(
	    stderr, "hearth: migration: received VM %s (%llu bytes in %llu ms, downtime %llu ms)\n",
	    cfg->id, (unsigned long long)r.bytes, (unsigned long long)((now_ns() - t0) / 1000000),
	    (unsigned long long)((done.downtime_ns + 999999) / 1000000));
	snapshot_free(&s);
	mig_desc_free(&d);
	return vm;

fail:
	mig_tls_close(r.tls);
	close(fd);
	snapshot_free(&s);
	mig_desc_free(&d);
	vm_destroy(vm);
	return NULL;
}
