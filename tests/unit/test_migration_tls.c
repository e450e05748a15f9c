// SPDX-License-Identifier: MIT
/*
 * Tests for the migration stream's TLS (migration/migration_tls.c): key
 * files, and records through a TLS session over a socket pair, with the
 * same key, another key, and a plain peer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migration/migration.h"

#define KEY_A "hearth:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
#define KEY_B "hearth:ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n"

static int parse(const char *text, size_t *key_len, char *err, size_t errlen)
{
	char id[129];
	uint8_t key[64];

	return mig_tls_parse_psk(text, strlen(text), id, sizeof(id), key, sizeof(key), key_len, err,
				 errlen);
}

static void test_parse_psk(void **state)
{
	char err[200];
	size_t n = 0;

	(void)state;
	assert_int_equal(parse(KEY_A, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 32);
	assert_int_equal(parse("id:00112233445566778899aabbccddeeff", &n, err, sizeof(err)), 0);
	assert_int_equal(n, 16);
	assert_int_equal(parse("id:00112233445566778899aabbccddee", &n, err, sizeof(err)),
			 -EINVAL); /* 15 bytes */
	assert_non_null(strstr(err, "at least 16 bytes"));
	assert_int_equal(parse("00112233445566778899aabbccddeeff", &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "IDENTITY:HEXKEY"));
	assert_int_equal(parse(":00112233445566778899aabbccddeeff", &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(parse("id:0g112233445566778899aabbccddeeff", &n, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(parse("id:00112233445566778899aabbccddeeff0", &n, err, sizeof(err)),
			 -EINVAL); /* odd */
	assert_int_equal(parse("a b:00112233445566778899aabbccddeeff", &n, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(parse(KEY_A KEY_B, &n, err, sizeof(err)), -EINVAL); /* two lines */
}

static char dir[64];

static const char *write_file(const char *name, const char *text, mode_t mode)
{
	static char path[8][128];
	static unsigned next;
	char *p = path[next++ % 8];
	int fd;

	snprintf(p, 128, "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	fchmod(fd, mode);
	close(fd);
	return p;
}

static struct mig_tls_creds *load_psk(const char *path, bool server)
{
	struct mig_tls_opts *o = calloc(1, sizeof(*o));
	struct mig_tls_creds *c = NULL;
	char err[256];

	assert_non_null(o);
	snprintf(o->psk_file, sizeof(o->psk_file), "%s", path);
	assert_int_equal(mig_tls_load(o, server, &c, err, sizeof(err)), 0);
	free(o);
	return c;
}

static void test_load_refusals(void **state)
{
	struct mig_tls_opts *o = calloc(1, sizeof(*o));
	struct mig_tls_creds *c = (void *)1;
	char err[256];

	(void)state;
	assert_non_null(o);
	assert_int_equal(mig_tls_load(o, true, &c, err, sizeof(err)), 0);
	assert_null(c); /* no options: plain TCP */
	snprintf(o->psk_file, sizeof(o->psk_file), "%s", write_file("world", KEY_A, 0644));
	assert_int_not_equal(mig_tls_load(o, true, &c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "others may read"));
	snprintf(o->psk_file, sizeof(o->psk_file), "%s/missing", dir);
	assert_int_equal(mig_tls_load(o, false, &c, err, sizeof(err)), -ENOENT);
	snprintf(o->psk_file, sizeof(o->psk_file), "%s", write_file("short", "a:0011\n", 0600));
	assert_int_equal(mig_tls_load(o, false, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--tls-psk"));
	memset(o, 0, sizeof(*o));
	snprintf(o->cert_file, sizeof(o->cert_file), "%s", write_file("c", "x", 0600));
	assert_int_equal(mig_tls_load(o, false, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "go together"));
	free(o);
}

struct side {
	struct mig_tls_creds *creds; /* NULL: plain */
	int fd;
	int result;
	char err[256];
	uint8_t got[3000];
};

/* The destination: handshake, then one record in, one record out. */
static void *server(void *arg)
{
	struct side *s = arg;
	struct mig_tls *t = NULL;
	struct mig_reader r = {.fd = s->fd, .cancel_fd = -1, .timeout_ms = 5000};
	struct mig_writer w = {.fd = s->fd, .cancel_fd = -1};
	struct mig_rec_hdr h;

	s->result = mig_tls_handshake(s->creds, s->fd, -1, 5000, &t, s->err, sizeof(s->err));
	if (s->result) {
		close(s->fd);
		return NULL;
	}
	r.tls = w.tls = t;
	s->result = mig_read_hdr(&r, &h, s->err, sizeof(s->err));
	if (!s->result && (h.type != MIG_REC_PAGES || h.len > sizeof(s->got)))
		s->result = -EINVAL;
	s->result = s->result ?: mig_read_exact(&r, s->got, h.len, s->err, sizeof(s->err));
	s->result = s->result ?: mig_write_rec(&w, MIG_REC_READY, NULL, 0, NULL, 0);
	mig_tls_close(t);
	close(s->fd);
	return NULL;
}

/* The source: handshake, a record of a header part and 2900 data bytes, then READY back. */
static int client(struct side *s)
{
	struct mig_tls *t = NULL;
	struct mig_reader r = {.fd = s->fd, .cancel_fd = -1, .timeout_ms = 5000};
	struct mig_writer w = {.fd = s->fd, .cancel_fd = -1};
	struct mig_run run = {.gpa = 0x1000, .npages = 1};
	uint8_t data[2900];
	int e;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	if (s->creds) {
		e = mig_tls_handshake(s->creds, s->fd, -1, 5000, &t, s->err, sizeof(s->err));
		if (e)
			return e;
	}
	r.tls = w.tls = t;
	e = mig_write_rec(&w, MIG_REC_PAGES, &run, sizeof(run), data, sizeof(data));
	e = e ?: mig_expect(&r, MIG_REC_READY, NULL, 0, NULL, s->err, sizeof(s->err));
	mig_tls_close(t);
	return e;
}

/* Run a source with creds c against a destination with creds d; both results. */
static void exchange(struct mig_tls_creds *c, struct mig_tls_creds *d, int *cr, struct side *srv)
{
	struct side cli = {.creds = c};
	int sv[2];
	pthread_t th;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(srv, 0, sizeof(*srv));
	srv->creds = d;
	srv->fd = sv[1];
	cli.fd = sv[0];
	assert_int_equal(pthread_create(&th, NULL, server, srv), 0);
	*cr = client(&cli);
	close(sv[0]);
	pthread_join(th, NULL);
}

static void test_records_over_tls(void **state)
{
	struct mig_tls_creds *ca = load_psk(write_file("a-cli", KEY_A, 0600), false);
	struct mig_tls_creds *sa = load_psk(write_file("a-srv", KEY_A, 0600), true);
	struct mig_tls_creds *sb = load_psk(write_file("b-srv", KEY_B, 0400), true);
	struct side srv;
	int cr;

	(void)state;
	exchange(ca, sa, &cr, &srv);
	assert_int_equal(cr, 0);
	assert_int_equal(srv.result, 0);
	for (size_t i = 0; i < 2900; i++)
		assert_int_equal(srv.got[sizeof(struct mig_run) + i], (uint8_t)(i * 7));

	/* Another key: the handshake fails on the destination, the source hears of it. */
	exchange(ca, sb, &cr, &srv);
	assert_int_not_equal(srv.result, 0);
	assert_non_null(strstr(srv.err, "TLS handshake with the source failed"));
	assert_int_not_equal(cr, 0);

	/* A plain source: the TLS destination's handshake fails, nothing is read as records. */
	exchange(NULL, sa, &cr, &srv);
	assert_int_not_equal(srv.result, 0);
	assert_int_not_equal(cr, 0);
	mig_tls_creds_free(ca);
	mig_tls_creds_free(sa);
	mig_tls_creds_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_psk),
	    cmocka_unit_test(test_load_refusals),
	    cmocka_unit_test(test_records_over_tls),
	};
	int r;

	snprintf(dir, sizeof(dir), "/tmp/hearth-tls-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	for (const char *n = "world\0short\0c\0a-cli\0a-srv\0b-srv\0"; *n; n += strlen(n) + 1) {
		char p[128];

		snprintf(p, sizeof(p), "%s/%s", dir, n);
		unlink(p);
	}
	rmdir(dir);
	return r;
}
