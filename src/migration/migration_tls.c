/* SPDX-License-Identifier: MIT */
/*
 * TLS 1.3 (GnuTLS) of the migration stream: credentials are loaded from
 * their files before any thread's filter goes in; the handshake and the
 * records run on non-blocking sockets under the migration filter.
 */
#include "core/util.h"
#include "migration/migration.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define TLS_PRIO_CERT "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#define TLS_PRIO_PSK  "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:+DHE-PSK"
#define TLS_MAX_FILE  (1u << 20)
#define TLS_MAX_ID    128
#define TLS_MIN_KEY   16
#define TLS_MAX_KEY   64

struct mig_tls_creds {
	bool server;
	bool psk;
	char identity[TLS_MAX_ID + 1];
	uint8_t key[TLS_MAX_KEY];
	size_t key_len;
	gnutls_psk_client_credentials_t psk_client;
	gnutls_psk_server_credentials_t psk_server;
	gnutls_certificate_credentials_t x509;
	gnutls_priority_t prio;
};

struct mig_tls {
	gnutls_session_t s;
	const struct mig_tls_creds *c;
	int fd;
	int last; /* the last GnuTLS error */
	char why[160];
};

const char *const mig_tls_fields[MIG_TLS_FILES] = {"tls_psk_file", "tls_cert_file", "tls_key_file",
						   "tls_ca_file"};

char *mig_tls_opts_path(struct mig_tls_opts *o, unsigned i)
{
	char *const paths[MIG_TLS_FILES] = {o->psk_file, o->cert_file, o->key_file, o->ca_file};

	return i < MIG_TLS_FILES ? paths[i] : NULL;
}

bool mig_tls_opts_given(const struct mig_tls_opts *o)
{
	return o && (o->psk_file[0] || o->cert_file[0] || o->key_file[0] || o->ca_file[0]);
}

/* Read a whole file (at most TLS_MAX_FILE bytes) into a NUL-terminated buffer. */
static int read_file(const char *what, const char *path, bool secret, gnutls_datum_t *out,
		     char *err, size_t errlen)
{
	struct stat st;
	size_t off = 0;
	uint8_t *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return mig_fail(err, errlen, -errno, "%s %s: %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return mig_fail(err, errlen, -EINVAL, "%s %s: not a regular file", what, path);
	}
	if (secret && (st.st_mode & (S_IRWXO | S_IWGRP))) {
		close(fd);
		return mig_fail(err, errlen, -EPERM,
				"%s %s: others may read or write it (mode %03o): chmod 600 it",
				what, path, (unsigned)(st.st_mode & 0777));
	}
	if (st.st_size <= 0 || (uint64_t)st.st_size > TLS_MAX_FILE) {
		close(fd);
		return mig_fail(err, errlen, -EINVAL, "%s %s: %s", what, path,
				st.st_size <= 0 ? "empty" : "too large");
	}
	buf = calloc(1, (size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return mig_fail(err, errlen, -ENOMEM, "out of memory");
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	out->data = buf;
	out->size = (unsigned)off;
	return 0;
}

static void free_datum(gnutls_datum_t *d, bool secret)
{
	if (d->data && secret)
		gnutls_memset(d->data, 0, d->size);
	free(d->data);
	d->data = NULL;
}

int mig_tls_parse_psk(const char *text, size_t len, char *identity, size_t idlen, uint8_t *key,
		      size_t keymax, size_t *key_len, char *err, size_t errlen)
{
	const char *end = text + len, *colon, *hex;
	size_t il, hl;

	while (end > text && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	if (memchr(text, '\n', (size_t)(end - text)))
		return mig_fail(err, errlen, -EINVAL, "expected one line IDENTITY:HEXKEY");
	colon = memchr(text, ':', (size_t)(end - text));
	if (!colon)
		return mig_fail(err, errlen, -EINVAL, "expected IDENTITY:HEXKEY (no ':')");
	il = (size_t)(colon - text);
	if (!il || il >= idlen)
		return mig_fail(err, errlen, -EINVAL, "the identity must be 1-%zu characters",
				idlen - 1);
	for (size_t i = 0; i < il; i++)
		if ((unsigned char)text[i] <= 0x20 || (unsigned char)text[i] >= 0x7f)
			return mig_fail(err, errlen, -EINVAL,
					"the identity must be printable ASCII without spaces");
	hex = colon + 1;
	hl = (size_t)(end - hex);
	if (hl % 2)
		return mig_fail(err, errlen, -EINVAL,
				"the key must be an even number of hex digits");
	if (hl / 2 < TLS_MIN_KEY)
		return mig_fail(err, errlen, -EINVAL,
				"the key must be at least %d bytes (%d hex digits)", TLS_MIN_KEY,
				2 * TLS_MIN_KEY);
	if (hl / 2 > keymax)
		return mig_fail(err, errlen, -EINVAL, "the key must be at most %zu bytes", keymax);
	for (size_t i = 0; i < hl / 2; i++) {
		int a = hex_digit_value(hex[2 * i]), b = hex_digit_value(hex[2 * i + 1]);

		if (a < 0 || b < 0)
			return mig_fail(err, errlen, -EINVAL, "the key must be hex digits");
		key[i] = (uint8_t)(a << 4 | b);
	}
	memcpy(identity, text, il);
	identity[il] = '\0';
	*key_len = hl / 2;
	return 0;
}

/* The destination's lookup of the source's identity: only ours is known. */
static int psk_server_key(gnutls_session_t s, const char *username, gnutls_datum_t *key)
{
	const struct mig_tls_creds *c = gnutls_session_get_ptr(s);

	if (!c || strcmp(username, c->identity))
		return -1;
	key->data = gnutls_malloc(c->key_len);
	if (!key->data)
		return -1;
	memcpy(key->data, c->key, c->key_len);
	key->size = (unsigned)c->key_len;
	return 0;
}

static int load_psk(struct mig_tls_creds *c, const char *path, char *err, size_t errlen)
{
	gnutls_datum_t f = {0}, k;
	char why[200];
	int r = read_file("--tls-psk", path, true, &f, err, errlen);

	if (r)
		return r;
	r = mig_tls_parse_psk((const char *)f.data, f.size, c->identity, sizeof(c->identity),
			      c->key, sizeof(c->key), &c->key_len, why, sizeof(why));
	free_datum(&f, true);
	if (r)
		return mig_fail(err, errlen, r, "--tls-psk %s: %s", path, why);
	k.data = c->key;
	k.size = (unsigned)c->key_len;
	if (c->server) {
		r = gnutls_psk_allocate_server_credentials(&c->psk_server);
		if (!r)
			gnutls_psk_set_server_credentials_function(c->psk_server, psk_server_key);
	} else {
		r = gnutls_psk_allocate_client_credentials(&c->psk_client);
		r = r
			?: gnutls_psk_set_client_credentials(c->psk_client, c->identity, &k,
							     GNUTLS_PSK_KEY_RAW);
	}
	if (r)
		return mig_fail(err, errlen, -EINVAL, "--tls-psk %s: %s", path, gnutls_strerror(r));
	return 0;
}

static int load_x509(struct mig_tls_creds *c, const struct mig_tls_opts *o, char *err,
		     size_t errlen)
{
	gnutls_datum_t cert = {0}, key = {0}, ca = {0};
	int r;

	if (!o->cert_file[0] || !o->key_file[0] || !o->ca_file[0])
		return mig_fail(
		    err, errlen, -EINVAL,
		    "--tls-cert, --tls-key and --tls-ca go together (all three are needed)");
	r = read_file("--tls-cert", o->cert_file, false, &cert, err, errlen);
	r = r ?: read_file("--tls-key", o->key_file, true, &key, err, errlen);
	r = r ?: read_file("--tls-ca", o->ca_file, false, &ca, err, errlen);
	if (r)
		goto out;
	r = gnutls_certificate_allocate_credentials(&c->x509);
	if (r) {
		r = mig_fail(err, errlen, -ENOMEM, "TLS: %s", gnutls_strerror(r));
		goto out;
	}
	r = gnutls_certificate_set_x509_key_mem2(c->x509, &cert, &key, GNUTLS_X509_FMT_PEM, NULL,
						 0);
	if (r < 0) {
		r = mig_fail(err, errlen, -EINVAL, "--tls-cert %s / --tls-key %s: %s", o->cert_file,
			     o->key_file, gnutls_strerror(r));
		goto out;
	}
	r = gnutls_certificate_set_x509_trust_mem(c->x509, &ca, GNUTLS_X509_FMT_PEM);
	if (r <= 0) {
		r = mig_fail(err, errlen, -EINVAL, "--tls-ca %s: %s", o->ca_file,
			     r ? gnutls_strerror(r) : "no certificate in it");
		goto out;
	}
	r = 0;
out:
	free_datum(&cert, false);
	free_datum(&key, true);
	free_datum(&ca, false);
	return r;
}

int mig_tls_load(const struct mig_tls_opts *o, bool server, struct mig_tls_creds **out, char *err,
		 size_t errlen)
{
	struct mig_tls_creds *c;
	int r;

	*out = NULL;
	if (!mig_tls_opts_given(o))
		return 0;
	if (o->psk_file[0] && (o->cert_file[0] || o->key_file[0] || o->ca_file[0]))
		return mig_fail(err, errlen, -EINVAL,
				"--tls-psk and --tls-cert/--tls-key/--tls-ca exclude each other");
	c = calloc(1, sizeof(*c));
	if (!c)
		return mig_fail(err, errlen, -ENOMEM, "out of memory");
	c->server = server;
	c->psk = o->psk_file[0] != '\0';
	r = c->psk ? load_psk(c, o->psk_file, err, errlen) : load_x509(c, o, err, errlen);
	if (!r) {
		/* Here, not under the filter: it may look at the system's priority file. */
		int e = gnutls_priority_init(&c->prio, c->psk ? TLS_PRIO_PSK : TLS_PRIO_CERT, NULL);

		if (e)
			r = mig_fail(err, errlen, -EINVAL, "TLS: %s", gnutls_strerror(e));
	}
	if (r) {
		mig_tls_creds_free(c);
		return r;
	}
	*out = c;
	return 0;
}

void mig_tls_creds_free(struct mig_tls_creds *c)
{
	if (!c)
		return;
	if (c->psk_client)
		gnutls_psk_free_client_credentials(c->psk_client);
	if (c->psk_server)
		gnutls_psk_free_server_credentials(c->psk_server);
	if (c->x509)
		gnutls_certificate_free_credentials(c->x509);
	if (c->prio)
		gnutls_priority_deinit(c->prio);
	gnutls_memset(c->key, 0, sizeof(c->key));
	free(c);
}

/* ---- the session's transport: send/recv (sendto/recvfrom), no SIGPIPE ---------------- */

static ssize_t tls_push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
	struct mig_tls *t = p;
	ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL);

	if (n < 0)
		gnutls_transport_set_errno(t->s, errno == EWOULDBLOCK ? EAGAIN : errno);
	return n;
}

static ssize_t tls_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct mig_tls *t = p;
	ssize_t n = recv(t->fd, buf, len, 0);

	if (n < 0)
		gnutls_transport_set_errno(t->s, errno == EWOULDBLOCK ? EAGAIN : errno);
	return n;
}

static int tls_pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
	struct mig_tls *t = p;
	struct pollfd pf = {.fd = t->fd, .events = POLLIN};
	int n;

	do
		n = poll(&pf, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
	while (n < 0 && errno == EINTR);
	return n;
}

int mig_tls_handshake(const struct mig_tls_creds *c, int fd, int cancel_fd, int timeout_ms,
		      struct mig_tls **out, char *err, size_t errlen)
{
	const char *peer = c->server ? "source" : "destination";
	struct mig_tls *t = calloc(1, sizeof(*t));
	int r, fl;

	*out = NULL;
	if (!t)
		return mig_fail(err, errlen, -ENOMEM, "out of memory");
	t->c = c;
	t->fd = fd;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		free(t);
		return mig_fail(err, errlen, -errno, "TLS: %s", strerror(errno));
	}
	r = gnutls_init(&t->s, (c->server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK |
				   GNUTLS_NO_SIGNAL);
	if (r) {
		free(t);
		return mig_fail(err, errlen, -ENOMEM, "TLS: %s", gnutls_strerror(r));
	}
	gnutls_session_set_ptr(t->s, (void *)c);
	r = gnutls_priority_set(t->s, c->prio);
	if (!r && c->psk)
		r = gnutls_credentials_set(t->s, GNUTLS_CRD_PSK,
					   c->server ? (void *)c->psk_server
						     : (void *)c->psk_client);
	if (!r && !c->psk) {
		r = gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, c->x509);
		if (c->server)
			gnutls_certificate_server_set_request(t->s, GNUTLS_CERT_REQUIRE);
		/* The peer's chain must lead to our CA; no host name: addresses are numeric. */
		gnutls_session_set_verify_cert(t->s, NULL, 0);
	}
	if (r) {
		mig_tls_close(t);
		return mig_fail(err, errlen, -EINVAL, "TLS: %s", gnutls_strerror(r));
	}
	gnutls_transport_set_ptr(t->s, t);
	gnutls_transport_set_push_function(t->s, tls_push);
	gnutls_transport_set_pull_function(t->s, tls_pull);
	gnutls_transport_set_pull_timeout_function(t->s, tls_pull_timeout);
	gnutls_handshake_set_timeout(t->s, 0);
	for (;;) {
		r = gnutls_handshake(t->s);
		if (r == GNUTLS_E_SUCCESS)
			break;
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			int w =
			    mig_wait_fd(fd, gnutls_record_get_direction(t->s) ? POLLOUT : POLLIN,
					cancel_fd, timeout_ms);

			if (w) {
				mig_tls_close(t);
				if (w == -ECANCELED)
					return mig_fail(err, errlen, w, "cancelled");
				return mig_fail(
				    err, errlen, w, "TLS handshake with the %s: %s", peer,
				    w == -ETIMEDOUT ? "no answer in time" : strerror(-w));
			}
			continue;
		}
		if (!gnutls_error_is_fatal(r))
			continue;
		if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
			gnutls_datum_t why = {0};
			unsigned status = gnutls_session_get_verify_cert_status(t->s);

			gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why,
								     0);
			while (why.data && why.size && why.data[why.size - 1] == ' ')
				why.data[--why.size] = '\0';
			mig_fail(err, errlen, -EACCES,
				 "TLS handshake with the %s failed: its certificate is refused: %s",
				 peer, why.data ? (const char *)why.data : "not trusted");
			gnutls_free(why.data);
		} else if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
			mig_fail(
			    err, errlen, -EACCES,
			    "TLS handshake with the %s failed: it refused us (alert: %s; does it "
			    "use the same TLS key or CA?)",
			    peer, gnutls_alert_get_name(gnutls_alert_get(t->s)));
		} else if ((r == GNUTLS_E_NO_CERTIFICATE_FOUND ||
			    r == GNUTLS_E_CERTIFICATE_REQUIRED) &&
			   c->server) {
			mig_fail(
			    err, errlen, -EACCES,
			    "TLS handshake with the source failed: it presented no certificate "
			    "signed by our CA");
		} else if (r == GNUTLS_E_PREMATURE_TERMINATION) {
			mig_fail(
			    err, errlen, -EACCES,
			    "TLS handshake with the %s failed: it closed the connection (does it "
			    "use TLS, with the same key or CA?)",
			    peer);
		} else {
			mig_fail(err, errlen, -EACCES,
				 "TLS handshake with the %s failed: %s (does it use the same TLS "
				 "key or CA?)",
				 peer, gnutls_strerror(r));
		}
		/* Best effort: tell the peer why, so that it fails with a reason too. */
		if (r != GNUTLS_E_FATAL_ALERT_RECEIVED && r != GNUTLS_E_PREMATURE_TERMINATION)
			gnutls_alert_send_appropriate(t->s, r);
		mig_tls_close(t);
		return -EACCES;
	}
	*out = t;
	return 0;
}

void mig_tls_close(struct mig_tls *t)
{
	if (!t)
		return;
	gnutls_deinit(t->s);
	free(t);
}

const char *mig_tls_error(struct mig_tls *t)
{
	if (!t || !t->last)
		return "TLS error";
	if (t->last == GNUTLS_E_FATAL_ALERT_RECEIVED)
		/* In TLS 1.3 the server checks a client's certificate after the handshake. */
		snprintf(t->why, sizeof(t->why), "TLS: the other side refused us (alert: %s)",
			 gnutls_alert_get_name(gnutls_alert_get(t->s)));
	else
		snprintf(t->why, sizeof(t->why), "TLS: %s", gnutls_strerror(t->last));
	return t->why;
}

int mig_tls_recv(struct mig_tls *t, void *buf, size_t len, size_t *got, short *events)
{
	ssize_t n = gnutls_record_recv(t->s, buf, len);

	if (n > 0) {
		*got = (size_t)n;
		return 0;
	}
	if (n == 0)
		return -EPIPE;
	if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
		*events = gnutls_record_get_direction(t->s) ? POLLOUT : POLLIN;
		return -EAGAIN;
	}
	if (n == GNUTLS_E_PREMATURE_TERMINATION)
		return -EPIPE;
	t->last = (int)n;
	return -EPROTO;
}

int mig_tls_send(struct mig_tls *t, const void *buf, size_t len, size_t *sent, short *events)
{
	ssize_t n = gnutls_record_send(t->s, buf, len);

	if (n >= 0) {
		*sent = (size_t)n;
		return 0;
	}
	if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
		*events = gnutls_record_get_direction(t->s) ? POLLOUT : POLLIN;
		return -EAGAIN;
	}
	t->last = (int)n;
	/* The peer may have said why it closed: its alert waits to be read. */
	if (n == GNUTLS_E_PUSH_ERROR) {
		uint8_t b[256];

		if (gnutls_record_recv(t->s, b, sizeof(b)) == GNUTLS_E_FATAL_ALERT_RECEIVED)
			t->last = GNUTLS_E_FATAL_ALERT_RECEIVED;
	}
	return -EPROTO;
}
