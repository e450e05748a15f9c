/* SPDX-License-Identifier: MIT */
#include "vmm/config.h"
#include "core/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void config_init_defaults(struct vm_config *c)
{
	uint8_t rnd[4] = {0};

	memset(c, 0, sizeof(*c));
	c->ncpus = CONFIG_DEFAULT_CPUS;
	c->mem_size = CONFIG_DEFAULT_MEMORY;
	c->cmdline = CONFIG_DEFAULT_CMDLINE;
	c->serial = CONSOLE_STDIO;
	c->shutdown_timeout_s = CONFIG_DEFAULT_SHUTDOWN_TIMEOUT;
	c->rng = true;
	c->transport = TRANSPORT_PCI;
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
		uint32_t v = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
		memcpy(rnd, &v, sizeof(rnd));
	}
	snprintf(c->id, sizeof(c->id), "vm-%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
}

int config_valid_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > CONFIG_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '-' && id[i] != '_')
			return 0;
	return 1;
}

/*
 * Split "key=value,key=value" in place. Calls fn for each pair; a value may
 * not contain ',' (file names with commas are not supported; documented).
 */
typedef int (*kv_fn)(void *ctx, const char *key, const char *value, char *err, size_t errlen);

static int parse_kv(const char *spec, kv_fn fn, void *ctx, char *err, size_t errlen)
{
	char *copy = strdup(spec), *save = NULL, *tok;
	int r = 0;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok && !r; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq || eq == tok) {
			snprintf(err, errlen, "'%s' is not key=value", tok);
			r = -1;
			break;
		}
		*eq = '\0';
		r = fn(ctx, tok, eq + 1, err, errlen);
	}
	free(copy);
	return r;
}

static int parse_onoff(const char *key, const char *v, bool *out, char *err, size_t errlen)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0")) {
		*out = false;
		return 0;
	}
	snprintf(err, errlen, "%s=%s: expected on or off", key, v);
	return -1;
}

static int parse_rate(const char *key, const char *v, uint64_t *out, char *err, size_t errlen)
{
	if (parse_uint(v, 0, UINT64_MAX / 2, out)) {
		snprintf(err, errlen, "%s=%s: expected a number (0 = unlimited)", key, v);
		return -1;
	}
	return 0;
}

static int disk_kv(void *ctx, const char *key, const char *v, char *err, size_t errlen)
{
	struct disk_config *d = ctx;

	if (!strcmp(key, "path")) {
		if (!*v) {
			snprintf(err, errlen, "path= is empty");
			return -1;
		}
		free(d->path);
		d->path = strdup(v);
		return d->path ? 0 : -1;
	}
	if (!strcmp(key, "readonly") || !strcmp(key, "ro"))
		return parse_onoff(key, v, &d->readonly, err, errlen);
	if (!strcmp(key, "cache")) {
		if (!strcmp(v, "writeback"))
			d->cache = DISK_CACHE_WRITEBACK;
		else if (!strcmp(v, "none"))
			d->cache = DISK_CACHE_NONE;
		else if (!strcmp(v, "unsafe"))
			d->cache = DISK_CACHE_UNSAFE;
		else {
			snprintf(err, errlen, "cache=%s: expected writeback, none or unsafe", v);
			return -1;
		}
		return 0;
	}
	if (!strcmp(key, "serial")) {
		if (strlen(v) > CONFIG_SERIAL_MAX) {
			snprintf(err, errlen, "serial=%s: at most %d characters", v,
				 CONFIG_SERIAL_MAX);
			return -1;
		}
		snprintf(d->serial, sizeof(d->serial), "%s", v);
		return 0;
	}
	if (!strcmp(key, "id")) {
		if (!config_valid_id(v)) {
			snprintf(err, errlen, "id=%s: 1-64 characters of A-Z a-z 0-9 _ -", v);
			return -1;
		}
		snprintf(d->id, sizeof(d->id), "%s", v);
		return 0;
	}
	if (!strcmp(key, "iops"))
		return parse_rate(key, v, &d->iops, err, errlen);
	if (!strcmp(key, "bps"))
		return parse_rate(key, v, &d->bps, err, errlen);
	snprintf(err, errlen, "unknown disk option '%s'", key);
	return -1;
}

int config_parse_disk(const char *spec, struct disk_config *d, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	d->cache = DISK_CACHE_WRITEBACK;
	if (parse_kv(spec, disk_kv, d, err, errlen))
		goto fail;
	if (!d->path) {
		snprintf(err, errlen, "path=FILE is required");
		goto fail;
	}
	return 0;
fail:
	free(d->path);
	d->path = NULL;
	return -1;
}

void config_free(struct vm_config *c)
{
	for (unsigned i = 0; i < c->ndisks; i++) {
		free(c->disks[i].path);
		c->disks[i].path = NULL;
	}
	c->ndisks = c->nnics = 0;
}
