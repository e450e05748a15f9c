/* SPDX-License-Identifier: MIT */
/*
 * The control API's live-migration endpoints: PUT /migrate, GET /migrate,
 * PUT /migrate/cancel (the source) and PUT /migrate/incoming (a hearth
 * waiting for a VM). Runs on the API thread with api->lock held; the
 * migration itself runs on its own thread (migration/migration.h).
 */
#include "api/api_priv.h"
#include "core/log.h"
#include "core/util.h"
#include "migration/migration.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIG_DEFAULT_DOWNTIME_MS 300
#define MIG_MAX_DOWNTIME_MS	60000

static char *to_string(json_object *o)
{
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return s;
}

static int fault(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fault(char **out, const char *fmt, ...)
{
	json_object *o = json_object_new_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "fault_message", json_object_new_string(msg));
	*out = to_string(o);
	return 400;
}

/* The body as a JSON object whose fields are all in names[]; NULL with *out set otherwise. */
static json_object *parse_object(const char *body, size_t len, const char *const *names, char **out)
{
	enum json_tokener_error e = json_tokener_success;
	json_object *o;

	if (!len || strlen(body) != len) {
		fault(out, "The request needs a JSON body");
		return NULL;
	}
	o = json_tokener_parse_verbose(body, &e);
	if (!o || e != json_tokener_success) {
		json_object_put(o);
		fault(out, "Invalid JSON: %s", json_tokener_error_desc(e));
		return NULL;
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		fault(out, "The request body must be a JSON object");
		return NULL;
	}
	json_object_object_foreach(o, key, val)
	{
		unsigned i;

		(void)val;
		for (i = 0; names[i] && strcmp(names[i], key); i++)
			;
		if (!names[i]) {
			fault(out, "Unknown field '%.64s'", key);
			json_object_put(o);
			return NULL;
		}
	}
	return o;
}

/* An integer field in [min, max], def when absent or null. -1 with *out set when bad. */
static int get_int(json_object *o, const char *name, int64_t min, int64_t max, int64_t def,
		   int64_t *v, char **out)
{
	json_object *f;

	*v = def;
	if (!json_object_object_get_ex(o, name, &f) || json_object_is_type(f, json_type_null))
		return 0;
	if (!json_object_is_type(f, json_type_int))
		return fault(out, "Field '%s' must be an integer", name), -1;
	*v = json_object_get_int64(f);
	if (*v < min || *v > max)
		return fault(out, "Field '%s' must be in %lld..%lld", name, (long long)min,
			     (long long)max),
		       -1;
	return 0;
}

/* The TLS file fields into o (absent: ""). 400 with *out set when one is bad. */
static int get_tls_opts(json_object *req, struct mig_tls_opts *o, char **out)
{
	memset(o, 0, sizeof(*o));
	for (unsigned i = 0; i < MIG_TLS_FILES; i++) {
		json_object *f;

		if (!json_object_object_get_ex(req, mig_tls_fields[i], &f) ||
		    json_object_is_type(f, json_type_null))
			continue;
		if (!json_object_is_type(f, json_type_string) || !json_object_get_string_len(f) ||
		    (size_t)json_object_get_string_len(f) >= MIG_TLS_PATH ||
		    strlen(json_object_get_string(f)) != (size_t)json_object_get_string_len(f))
			return fault(out, "Field '%s' must be a path of 1-%d bytes",
				     mig_tls_fields[i], MIG_TLS_PATH - 1);
		snprintf(mig_tls_opts_path(o, i), MIG_TLS_PATH, "%s", json_object_get_string(f));
	}
	return 0;
}

static int put_migrate(struct api *api, const char *body, size_t len, char **out)
{
	static const char *const names[] = {
	    "destination",   "max_downtime_ms", "max_bandwidth_mbps", "tls_psk_file",
	    "tls_cert_file", "tls_key_file",	"tls_ca_file",	      NULL};
	static struct migration_params p; /* 16 KiB of paths; api->lock serializes requests */
	json_object *o, *dst;
	int64_t downtime, bw;
	char err[256];
	int r;

	o = parse_object(body, len, names, out);
	if (!o)
		return 400;
	memset(&p, 0, sizeof(p));
	if (!json_object_object_get_ex(o, "destination", &dst) ||
	    !json_object_is_type(dst, json_type_string)) {
		json_object_put(o);
		return fault(out, "Field 'destination' (a string, tcp:HOST:PORT) is required");
	}
	if ((size_t)json_object_get_string_len(dst) >= sizeof(p.destination)) {
		json_object_put(o);
		return fault(out, "Field 'destination' is too long");
	}
	snprintf(p.destination, sizeof(p.destination), "%s", json_object_get_string(dst));
	if (get_int(o, "max_downtime_ms", 1, MIG_MAX_DOWNTIME_MS, MIG_DEFAULT_DOWNTIME_MS,
		    &downtime, out) ||
	    get_int(o, "max_bandwidth_mbps", 0, 1000000000, 0, &bw, out) ||
	    get_tls_opts(o, &p.tls, out)) {
		json_object_put(o);
		return 400;
	}
	json_object_put(o);
	p.max_downtime_ms = (unsigned)downtime;
	p.max_bandwidth_mbps = (uint64_t)bw;
	if (!api->mig || !api->vm || (api->state != API_RUNNING && api->state != API_PAUSED))
		return fault(out, "The microVM is not running");
	r = migration_start(api->mig, &p, err, sizeof(err));
	if (r)
		return fault(out, "Cannot migrate: %s", err);
	return 204;
}

static int get_migrate(struct api *api, char **out)
{
	struct migration_status st;
	json_object *o = json_object_new_object();

	memset(&st, 0, sizeof(st));
	if (api->mig)
		migration_get_status(api->mig, &st);
	json_object_object_add(o, "state", json_object_new_string(migration_state_name(st.state)));
	json_object_object_add(o, "pass", json_object_new_uint64(st.pass));
	json_object_object_add(o, "total_bytes", json_object_new_uint64(st.total_bytes));
	json_object_object_add(o, "bytes_sent", json_object_new_uint64(st.bytes_sent));
	json_object_object_add(o, "remaining_bytes", json_object_new_uint64(st.remaining_bytes));
	json_object_object_add(o, "dirty_rate_bps", json_object_new_uint64(st.dirty_rate_bps));
	json_object_object_add(o, "bandwidth_bps", json_object_new_uint64(st.bandwidth_bps));
	json_object_object_add(o, "expected_downtime_ms",
			       json_object_new_uint64(st.expected_downtime_ms));
	json_object_object_add(o, "throttle_percent", json_object_new_uint64(st.throttle_percent));
	if (st.state == MIG_STATE_COMPLETED)
		json_object_object_add(o, "downtime_ms", json_object_new_uint64(st.downtime_ms));
	json_object_object_add(o, "total_time_ms", json_object_new_uint64(st.total_time_ms));
	if (st.state == MIG_STATE_FAILED || st.state == MIG_STATE_CANCELLED)
		json_object_object_add(o, "error", json_object_new_string(st.error));
	*out = to_string(o);
	return 200;
}

static int put_incoming(struct api *api, const char *body, size_t len, char **out)
{
	static const char *const names[] = {
	    "listen",	     "drives",	     "network_interfaces", "tls_psk_file",
	    "tls_cert_file", "tls_key_file", "tls_ca_file",	   NULL};
	static struct mig_tls_opts tls_opts; /* 16 KiB of paths; api->lock serializes requests */
	struct api_op op = {.kind = API_OP_MIGRATE_INCOMING};
	struct mig_tls_creds *tls = NULL;
	json_object *o, *f;
	char host[256], port[16], err[512];
	int r;

	o = parse_object(body, len, names, out);
	if (!o)
		return 400;
	if (!json_object_object_get_ex(o, "listen", &f) ||
	    !json_object_is_type(f, json_type_string) ||
	    mig_parse_tcp(json_object_get_string(f), host, sizeof(host), port, sizeof(port))) {
		json_object_put(o);
		return fault(out, "Field 'listen' (a string, tcp:ADDR:PORT) is required");
	}
	r = api_migrate_overrides(api, o, out);
	if (r) {
		json_object_put(o);
		return r;
	}
	if (api->state != API_NOT_STARTED || api->vm || api->boot_set) {
		json_object_put(o);
		return fault(out,
			     "An incoming migration needs a hearth without a VM or boot source");
	}
	/* The files are read here, before anything listens. */
	if (get_tls_opts(o, &tls_opts, out)) {
		json_object_put(o);
		return 400;
	}
	if (mig_tls_load(&tls_opts, true, &tls, err, sizeof(err))) {
		json_object_put(o);
		return fault(out, "Cannot use TLS: %s", err);
	}
	/* In place before the op: the VMM thread accepts as soon as it listens. */
	mig_tls_creds_free(api->incoming_tls);
	api->incoming_tls = tls;
	op.state_path = json_object_get_string(f);
	api_submit(api, &op);
	json_object_put(o);
	if (op.status >= 400) {
		if (api->incoming_tls == tls) {
			mig_tls_creds_free(tls);
			api->incoming_tls = NULL;
		}
		return fault(out, "%s", op.msg);
	}
	return 204;
}

int api_migrate_route(struct api *api, const char *method, const char *url, const char *body,
		      size_t len, char **out)
{
	*out = NULL;
	if (!strcmp(url, "/migrate") && !strcmp(method, "GET"))
		return get_migrate(api, out);
	if (!strcmp(url, "/migrate") && !strcmp(method, "PUT"))
		return put_migrate(api, body, len, out);
	if (!strcmp(url, "/migrate/cancel") && !strcmp(method, "PUT")) {
		if (!api->mig || migration_cancel(api->mig))
			return fault(out, "no migration in progress");
		return 204;
	}
	if (!strcmp(url, "/migrate/incoming") && !strcmp(method, "PUT"))
		return put_incoming(api, body, len, out);
	return fault(out, "Invalid request method and/or path: %.16s %.128s", method, url);
}

/* A string field of at most max bytes; NULL with *out set when absent or bad. */
static const char *get_str(json_object *o, const char *name, size_t max, char **out)
{
	json_object *f;

	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, name, &f) ||
	    !json_object_is_type(f, json_type_string) || !json_object_get_string_len(f) ||
	    (size_t)json_object_get_string_len(f) > max ||
	    strlen(json_object_get_string(f)) != (size_t)json_object_get_string_len(f)) {
		fault(out, "Field '%s' must be a string of 1-%zu bytes", name, max);
		return NULL;
	}
	return json_object_get_string(f);
}

int api_migrate_overrides(struct api *api, void *request, char **out)
{
	json_object *o = request, *drives = NULL, *nics = NULL;
	size_t nd = 0, nn = 0;

	if (json_object_object_get_ex(o, "drives", &drives) &&
	    !json_object_is_type(drives, json_type_null)) {
		if (!json_object_is_type(drives, json_type_array) ||
		    json_object_array_length(drives) > CONFIG_MAX_DISKS)
			return fault(out, "Field 'drives' must be an array of at most %d drives",
				     CONFIG_MAX_DISKS);
		nd = json_object_array_length(drives);
	}
	if (json_object_object_get_ex(o, "network_interfaces", &nics) &&
	    !json_object_is_type(nics, json_type_null)) {
		if (!json_object_is_type(nics, json_type_array) ||
		    json_object_array_length(nics) > CONFIG_MAX_NICS)
			return fault(out,
				     "Field 'network_interfaces' must be an array of at most %d",
				     CONFIG_MAX_NICS);
		nn = json_object_array_length(nics);
	}
	/* Check everything first: a refused request changes nothing. */
	for (size_t i = 0; i < nd; i++) {
		json_object *d = json_object_array_get_idx(drives, i);
		const char *id = get_str(d, "drive_id", CONFIG_ID_MAX, out);

		if (!id || !get_str(d, "path_on_host", 4096, out))
			return 400;
		if (!config_valid_id(id))
			return fault(out,
				     "Field 'drive_id' must be 1-%d characters of A-Z a-z 0-9 _ -",
				     CONFIG_ID_MAX);
	}
	for (size_t i = 0; i < nn; i++) {
		json_object *n = json_object_array_get_idx(nics, i);

		if (!get_str(n, "iface_id", CONFIG_ID_MAX, out) ||
		    !get_str(n, "host_dev_name", IFNAMSIZ - 1, out))
			return 400;
	}
	for (size_t i = 0; i < nd; i++) {
		json_object *d = json_object_array_get_idx(drives, i);
		struct disk_config *dc = &api->cfg.disks[i];
		char *path = strdup(get_str(d, "path_on_host", 4096, out));

		if (!path)
			return fault(out, "out of memory");
		free(dc->path);
		memset(dc, 0, sizeof(*dc));
		dc->path = path;
		snprintf(dc->id, sizeof(dc->id), "%s", get_str(d, "drive_id", CONFIG_ID_MAX, out));
	}
	api->cfg.ndisks = (unsigned)nd;
	for (size_t i = 0; i < nn; i++) {
		json_object *n = json_object_array_get_idx(nics, i);

		memset(&api->cfg.nics[i], 0, sizeof(api->cfg.nics[i]));
		snprintf(api->cfg.nics[i].ifname, sizeof(api->cfg.nics[i].ifname), "%s",
			 get_str(n, "host_dev_name", IFNAMSIZ - 1, out));
		snprintf(api->nic_id[i], sizeof(api->nic_id[i]), "%s",
			 get_str(n, "iface_id", CONFIG_ID_MAX, out));
	}
	api->cfg.nnics = (unsigned)nn;
	return 0;
}

void api_migrate_incoming_op(struct api *api, struct api_op *op)
{
	char err[512] = "";
	int fd;

	if (api->state != API_NOT_STARTED || api->vm || api->incoming_fd >= 0) {
		api_fault(op, 400, "An incoming migration needs a hearth without a VM");
		return;
	}
	if (migration_check_local(&api->cfg, err, sizeof(err))) {
		api_fault(op, 400, "Cannot take the incoming VM's drives: %s", err);
		return;
	}
	fd = migration_listen(op->state_path, err, sizeof(err));
	if (fd < 0) {
		api_fault(op, 400, "Cannot listen: %s", err);
		return;
	}
	api->incoming_fd = fd;
	op->status = 204;
}

struct vm *api_migrate_receive(struct api *api, int *status)
{
	struct migration_incoming in = {.local = &api->cfg};
	struct mig_tls_creds *tls;
	struct vm_config cfg;
	char err[512] = "";
	struct vm *vm;
	int lfd;

	pthread_mutex_lock(&api->lock);
	lfd = api->incoming_fd;
	api->incoming_fd = -1;
	tls = api->incoming_tls;
	api->incoming_tls = NULL;
	pthread_mutex_unlock(&api->lock);
	in.tls = tls;
	vm = migration_receive(&in, lfd, &cfg, err, sizeof(err));
	mig_tls_creds_free(tls);
	if (!vm) {
		fprintf(stderr, "hearth: migration failed: %s\n", err);
		config_free(&cfg);
		*status = 1;
		return NULL;
	}
	/* The API owns the arrived configuration's strings from now on. */
	pthread_mutex_lock(&api->lock);
	for (unsigned i = 0; i < api->cfg.ndisks; i++) {
		free(api->cfg.disks[i].path);
		api->cfg.disks[i].path = NULL;
	}
	api_adopt_config(api, &cfg);
	api->vm = vm;
	api->state = vm_is_paused(vm) ? API_PAUSED : API_RUNNING; /* paused on the source */
	pthread_mutex_unlock(&api->lock);
	return vm;
}

void api_migrate_attach(struct api *api, struct vm *vm)
{
	char err[256];
	struct migration *m = migration_create(vm, err, sizeof(err));

	if (!m)
		log_warn("api: live migration is not available: %s", err);
	pthread_mutex_lock(&api->lock);
	api->mig = m;
	pthread_mutex_unlock(&api->lock);
}

void api_migrate_detach(struct api *api)
{
	struct migration *m;

	pthread_mutex_lock(&api->lock);
	m = api->mig;
	api->mig = NULL;
	pthread_mutex_unlock(&api->lock);
	migration_destroy(m);
}
