/* SPDX-License-Identifier: MIT */
/* The migration stream: framing records, checking them strictly, and the description codec. */
#include "core/util.h"
#include "migration/migration.h"
#include "snapshot/snapshot_priv.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int mig_fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return r;
}

/* Largest payload of each record type. */
static uint64_t rec_max_len(uint32_t type)
{
	switch ((enum mig_rec_type)type) {
	case MIG_REC_HELLO:
		return sizeof(struct mig_hello);
	case MIG_REC_DESC:
		return sizeof(struct snap_machine) +
		       CPU_MODEL_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2) +
		       CONFIG_MAX_DISKS * sizeof(struct snap_disk) +
		       CONFIG_MAX_NICS * sizeof(struct snap_nic);
	case MIG_REC_ACCEPT:
	case MIG_REC_READY:
		return 0;
	case MIG_REC_REFUSE:
		return MIG_MAX_REASON - 1;
	case MIG_REC_PAGES:
		return sizeof(struct mig_run) + MIG_MAX_RUN * GM_PAGE_SIZE;
	case MIG_REC_ZERO:
		return sizeof(struct mig_run);
	case MIG_REC_PASS:
		return sizeof(struct mig_pass);
	case MIG_REC_STATE:
		return SNAP_MAX_FILE;
	case MIG_REC_COMMIT:
		return sizeof(struct mig_commit);
	case MIG_REC_DONE:
		return sizeof(struct mig_done);
	}
	return UINT64_MAX;
}

int mig_wait_fd(int fd, short events, int cancel_fd, int timeout_ms)
{
	struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = cancel_fd, .events = POLLIN}};

	for (;;) {
		int n = poll(p, cancel_fd >= 0 ? 2 : 1, timeout_ms);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		if (cancel_fd >= 0 && p[1].revents)
			return -ECANCELED;
		return 0;
	}
}

static int read_some(struct mig_reader *r, uint8_t *dst, size_t len, size_t *got)
{
	ssize_t n;
	int w;

	if (r->fd < 0) {
		size_t left = r->len - r->off;

		if (!left)
			return -EPIPE;
		*got = len < left ? len : left;
		memcpy(dst, r->buf + r->off, *got);
		r->off += *got;
		return 0;
	}
	while (r->tls) {
		short events = POLLIN;
		int e = mig_tls_recv(r->tls, dst, len, got, &events);

		if (e != -EAGAIN)
			return e;
		w = mig_wait_fd(r->fd, events, r->cancel_fd, r->timeout_ms);
		if (w)
			return w;
	}
	for (;;) {
		n = read(r->fd, dst, len);
		if (n > 0) {
			*got = (size_t)n;
			return 0;
		}
		if (n == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		w = mig_wait_fd(r->fd, POLLIN, r->cancel_fd, r->timeout_ms);
		if (w)
			return w;
	}
}

int mig_read_exact(struct mig_reader *r, void *dst, size_t len, char *err, size_t errlen)
{
	uint8_t *p = dst;

	while (len) {
		size_t got = 0;
		int e = read_some(r, p, len, &got);

		if (e == -EPIPE)
			return mig_fail(err, errlen, e,
					"the stream ended early (the other side is gone)");
		if (e == -ECANCELED)
			return mig_fail(err, errlen, e, "cancelled");
		if (e == -ETIMEDOUT)
			return mig_fail(err, errlen, e, "the other side did not answer in time");
		if (e == -EPROTO && r->tls)
			return mig_fail(err, errlen, e, "reading the stream: %s",
					mig_tls_error(r->tls));
		if (e)
			return mig_fail(err, errlen, e, "reading the stream: %s", strerror(-e));
		p += got;
		len -= got;
		r->bytes += got;
	}
	return 0;
}

int mig_read_hdr(struct mig_reader *r, struct mig_rec_hdr *h, char *err, size_t errlen)
{
	uint64_t max;
	int e = mig_read_exact(r, h, sizeof(*h), err, errlen);

	if (e)
		return e;
	max = rec_max_len(h->type);
	if (max == UINT64_MAX)
		return mig_fail(err, errlen, -EINVAL, "bad stream: unknown record type %u",
				h->type);
	if (h->reserved)
		return mig_fail(err, errlen, -EINVAL,
				"bad stream: record type %u has reserved bits", h->type);
	if (h->len > max)
		return mig_fail(err, errlen, -EINVAL,
				"bad stream: record type %u is %llu bytes (at most %llu)", h->type,
				(unsigned long long)h->len, (unsigned long long)max);
	return 0;
}

int mig_expect(struct mig_reader *r, uint32_t want, void *buf, size_t max, size_t *len, char *err,
	       size_t errlen)
{
	struct mig_rec_hdr h;
	int e = mig_read_hdr(r, &h, err, errlen);

	if (e)
		return e;
	if (h.type == MIG_REC_REFUSE && want != MIG_REC_REFUSE) {
		char reason[MIG_MAX_REASON];

		e = mig_read_exact(r, reason, h.len, err, errlen);
		if (e)
			return e;
		reason[h.len] = '\0';
		for (size_t i = 0; i < h.len; i++)
			if ((unsigned char)reason[i] < 0x20 || reason[i] == 0x7f)
				reason[i] = '?';
		return mig_fail(err, errlen, -ECONNREFUSED, "the destination refused: %s", reason);
	}
	if (h.type != want)
		return mig_fail(err, errlen, -EINVAL, "bad stream: record type %u where %u belongs",
				h.type, want);
	if (h.len > max || (!len && h.len != max))
		return mig_fail(err, errlen, -EINVAL, "bad stream: record type %u of %llu bytes",
				h.type, (unsigned long long)h.len);
	if (len)
		*len = h.len;
	return mig_read_exact(r, buf, h.len, err, errlen);
}

int mig_check_hello(const struct mig_hello *h, char *err, size_t errlen)
{
	if (memcmp(h->magic, MIG_MAGIC, sizeof(h->magic)))
		return mig_fail(err, errlen, -EPROTO, "not a hearth migration stream");
	if (h->version != MIG_VERSION)
		return mig_fail(
		    err, errlen, -EPROTO,
		    "migration stream version %u is not supported (this build speaks %u)",
		    h->version, MIG_VERSION);
	if (h->reserved)
		return mig_fail(err, errlen, -EPROTO, "bad stream: reserved bits in the greeting");
	return 0;
}

/* ---- the machine description --------------------------------------------------- */

uint8_t *mig_encode_desc(const struct snapshot *s, size_t *len)
{
	const struct snap_machine *m = &s->machine;
	size_t n = sizeof(*m) + m->ncpuid * sizeof(*s->cpuid) + m->ndisks * sizeof(*s->disks) +
		   m->nnics * sizeof(s->nics[0]);
	uint8_t *p = malloc(n), *q = p;

	if (!p)
		return NULL;
	memcpy(q, m, sizeof(*m));
	q += sizeof(*m);
	memcpy(q, s->cpuid, m->ncpuid * sizeof(*s->cpuid));
	q += m->ncpuid * sizeof(*s->cpuid);
	memcpy(q, s->disks, m->ndisks * sizeof(*s->disks));
	q += m->ndisks * sizeof(*s->disks);
	memcpy(q, s->nics, m->nnics * sizeof(s->nics[0]));
	*len = n;
	return p;
}

int mig_parse_desc(const uint8_t *p, size_t len, struct mig_desc *d, char *err, size_t errlen)
{
	const struct snap_machine *m = &d->machine;
	size_t want;
	int r;

	memset(d, 0, sizeof(*d));
	if (len < sizeof(*m))
		return mig_fail(err, errlen, -EINVAL,
				"bad stream: the machine description is short");
	memcpy(&d->machine, p, sizeof(*m));
	if (m->ncpuid > CPU_MODEL_MAX_ENTRIES || m->ndisks > CONFIG_MAX_DISKS ||
	    m->nnics > CONFIG_MAX_NICS)
		return mig_fail(
		    err, errlen, -EINVAL,
		    "bad stream: the machine description has %u CPUID entries, %u disks, "
		    "%u cards",
		    m->ncpuid, m->ndisks, m->nnics);
	want = sizeof(*m) + m->ncpuid * sizeof(*d->cpuid) + m->ndisks * sizeof(*d->disks) +
	       m->nnics * sizeof(d->nics[0]);
	if (len != want)
		return mig_fail(err, errlen, -EINVAL,
				"bad stream: the machine description is %zu bytes (%zu expected)",
				len, want);
	d->cpuid = calloc(m->ncpuid ? m->ncpuid : 1, sizeof(*d->cpuid));
	d->disks = calloc(m->ndisks ? m->ndisks : 1, sizeof(*d->disks));
	if (!d->cpuid || !d->disks) {
		mig_desc_free(d);
		return mig_fail(err, errlen, -ENOMEM, "out of memory");
	}
	p += sizeof(*m);
	memcpy(d->cpuid, p, m->ncpuid * sizeof(*d->cpuid));
	p += m->ncpuid * sizeof(*d->cpuid);
	memcpy(d->disks, p, m->ndisks * sizeof(*d->disks));
	p += m->ndisks * sizeof(*d->disks);
	memcpy(d->nics, p, m->nnics * sizeof(d->nics[0]));
	r = snap_check_description(m, d->disks, d->nics, err, errlen);
	if (r)
		mig_desc_free(d);
	return r;
}

void mig_desc_free(struct mig_desc *d)
{
	free(d->cpuid);
	free(d->disks);
	d->cpuid = NULL;
	d->disks = NULL;
}

/* ---- receiving memory ------------------------------------------------------------ */

/* The host address of a run of pages, or NULL when any of it is outside guest RAM. */
static uint8_t *run_ptr(struct guest_memory *gm, const struct mig_run *run)
{
	if (!run->npages || run->npages > MIG_MAX_RUN || run->gpa % GM_PAGE_SIZE ||
	    run->gpa > UINT64_MAX - run->npages * GM_PAGE_SIZE)
		return NULL;
	return gm_ptr(gm, run->gpa, run->npages * GM_PAGE_SIZE);
}

int mig_receive_memory(struct mig_reader *r, struct guest_memory *gm, uint8_t **state,
		       size_t *state_len, char *err, size_t errlen)
{
	for (;;) {
		struct mig_rec_hdr h;
		struct mig_run run;
		struct mig_pass pass;
		uint8_t *hva;
		int e = mig_read_hdr(r, &h, err, errlen);

		if (e)
			return e;
		switch ((enum mig_rec_type)h.type) {
		case MIG_REC_PAGES:
		case MIG_REC_ZERO:
			if (h.len < sizeof(run))
				return mig_fail(err, errlen, -EINVAL,
						"bad stream: a short page run");
			e = mig_read_exact(r, &run, sizeof(run), err, errlen);
			if (e)
				return e;
			hva = run_ptr(gm, &run);
			if (!hva)
				return mig_fail(err, errlen, -EINVAL,
						"bad stream: pages %#llx+%llu are not guest RAM",
						(unsigned long long)run.gpa,
						(unsigned long long)run.npages);
			if (h.type == MIG_REC_ZERO) {
				if (h.len != sizeof(run))
					return mig_fail(err, errlen, -EINVAL,
							"bad stream: a zero run with data");
				memset(hva, 0, run.npages * GM_PAGE_SIZE);
				break;
			}
			if (h.len != sizeof(run) + run.npages * GM_PAGE_SIZE)
				return mig_fail(err, errlen, -EINVAL,
						"bad stream: a run of %llu pages holds %llu bytes",
						(unsigned long long)run.npages,
						(unsigned long long)(h.len - sizeof(run)));
			e = mig_read_exact(r, hva, run.npages * GM_PAGE_SIZE, err, errlen);
			if (e)
				return e;
			if (r->kill_at_pass == 0)
				raise(SIGKILL);
			break;
		case MIG_REC_PASS:
			if (h.len != sizeof(pass))
				return mig_fail(err, errlen, -EINVAL,
						"bad stream: a bad pass record");
			e = mig_read_exact(r, &pass, sizeof(pass), err, errlen);
			if (e)
				return e;
			if (r->kill_at_pass > 0 && pass.pass >= (uint32_t)r->kill_at_pass)
				raise(SIGKILL);
			break;
		case MIG_REC_STATE:
			*state = malloc(h.len ? h.len : 1);
			if (!*state)
				return mig_fail(err, errlen, -ENOMEM, "out of memory");
			e = mig_read_exact(r, *state, h.len, err, errlen);
			if (e) {
				free(*state);
				*state = NULL;
				return e;
			}
			*state_len = h.len;
			return 0;
		case MIG_REC_HELLO:
		case MIG_REC_DESC:
		case MIG_REC_ACCEPT:
		case MIG_REC_REFUSE:
		case MIG_REC_READY:
		case MIG_REC_COMMIT:
		case MIG_REC_DONE:
		default:
			return mig_fail(err, errlen, -EINVAL,
					"bad stream: record type %u during the memory copy",
					h.type);
		}
	}
}

/* ---- writing ------------------------------------------------------------------------ */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Hold back until the bytes written fit the bandwidth limit. */
static int limit_bandwidth(struct mig_writer *w, size_t len)
{
	uint64_t due, now;

	if (!w->max_bps)
		return 0;
	if (!w->start_ns)
		w->start_ns = mono_ns();
	w->limit_bytes += len;
	due = w->start_ns + (uint64_t)((double)w->limit_bytes * 1e9 / (double)w->max_bps);
	now = mono_ns();
	if (due > now) {
		int ms = (int)((due - now + 999999) / 1000000);
		struct pollfd p = {.fd = w->cancel_fd, .events = POLLIN};

		if (poll(&p, w->cancel_fd >= 0 ? 1 : 0, ms) > 0)
			return -ECANCELED;
	}
	return 0;
}

/* Write buf[0, len) as TLS records. */
static int tls_write_all(struct mig_writer *w, const uint8_t *buf, size_t len)
{
	while (len) {
		short events = POLLOUT;
		size_t sent = 0;
		int r = mig_tls_send(w->tls, buf, len, &sent, &events);

		if (r == -EAGAIN) {
			r = mig_wait_fd(w->fd, events, w->cancel_fd, 30000);
			if (r)
				return r;
			continue;
		}
		if (r)
			return r;
		buf += sent;
		len -= sent;
		w->bytes += sent;
	}
	return 0;
}

/* One record over TLS: the header and a short first part go in one TLS record. */
static int tls_write_rec(struct mig_writer *w, const struct mig_rec_hdr *h, const void *a,
			 size_t alen, const void *b, size_t blen)
{
	uint8_t small[sizeof(*h) + 256];
	int r;

	if (alen <= sizeof(small) - sizeof(*h)) {
		memcpy(small, h, sizeof(*h));
		if (alen)
			memcpy(small + sizeof(*h), a, alen);
		r = tls_write_all(w, small, sizeof(*h) + alen);
	} else {
		r = tls_write_all(w, (const uint8_t *)h, sizeof(*h));
		r = r ?: tls_write_all(w, a, alen);
	}
	return r ?: blen ? tls_write_all(w, b, blen) : 0;
}

int mig_write_rec(struct mig_writer *w, uint32_t type, const void *a, size_t alen, const void *b,
		  size_t blen)
{
	struct mig_rec_hdr h = {.type = type, .len = alen + blen};
	struct iovec iov[3] = {{&h, sizeof(h)}, {(void *)a, alen}, {(void *)b, blen}};
	struct iovec *v = iov;
	int cnt = b ? 3 : 2, r;

	r = limit_bandwidth(w, sizeof(h) + alen + blen);
	if (r)
		return r;
	if (w->tls)
		return tls_write_rec(w, &h, a, alen, b, blen);
	while (cnt) {
		ssize_t n = writev(w->fd, v, cnt);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			r = mig_wait_fd(w->fd, POLLOUT, w->cancel_fd, 30000);
			if (r)
				return r;
			continue;
		}
		if (n < 0)
			return -errno;
		w->bytes += (uint64_t)n;
		while (cnt && (size_t)n >= v->iov_len) {
			n -= (ssize_t)v->iov_len;
			v++;
			cnt--;
		}
		if (cnt) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= (size_t)n;
		}
	}
	return 0;
}

const char *mig_write_error(struct mig_writer *w, int r)
{
	if (r == -EPROTO && w->tls)
		return mig_tls_error(w->tls);
	return strerror(-r);
}

int mig_parse_tcp(const char *spec, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *h, *colon, *end;
	size_t hl;

	if (strncmp(spec, "tcp:", 4))
		return -EINVAL;
	h = spec + 4;
	if (*h == '[') {
		end = strchr(h, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		h++;
		hl = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(h, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - h);
	}
	if (!hl || hl >= hostlen || !colon[1] || strlen(colon + 1) >= portlen ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) || atoi(colon + 1) < 0 ||
	    atoi(colon + 1) > 65535)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, portlen, "%s", colon + 1);
	return 0;
}

void mig_log_ram_hash(const struct guest_memory *gm, const char *what)
{
	uint8_t sum[SNAP_HASH_BYTES];
	char hex[2 * SNAP_HASH_BYTES + 1];
	uint64_t total = gm_total_size(gm), off = 0;
	uint8_t *all;
	const char *on = getenv("HEARTH_TEST_MIGRATION_HASH");

	if (!on || !*on)
		return;
	all = malloc(total);
	if (!all)
		return;
	for (unsigned i = 0; i < gm->nr; i++) {
		memcpy(all + off, gm->regions[i].hva, gm->regions[i].size);
		off += gm->regions[i].size;
	}
	if (!snap_sha256(all, total, sum)) {
		for (unsigned i = 0; i < SNAP_HASH_BYTES; i++)
			snprintf(hex + 2 * i, 3, "%02x", sum[i]);
		fprintf(stderr, "hearth: migration: %s RAM sha256 %s\n", what, hex);
	}
	free(all);
}
