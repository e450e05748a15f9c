/* SPDX-License-Identifier: MIT */
/*
 * The control API's endpoints: routing, body validation (unknown fields,
 * wrong types, ranges) and the configuration they build. Runs on the API
 * thread with api->lock held; ops that act on the VM go through
 * api_submit(). A request is validated completely before anything changes,
 * so a refused request leaves the configuration as it was.
 */
#include "api/api_priv.h"
#include "arch/x86/boot.h"
#include "backends/tap.h"
#include "core/log.h"
#include "core/util.h"
#include "hearth_version.h"
#include "vmm/vm.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define API_PATH_MAX	  4096 /* host paths */
#define API_BOOT_ARGS_MAX 4096
#define API_MAX_MEM_MIB	  (4ULL << 20) /* 4 TiB */
#define API_MIN_MEM_MIB	  8
#define API_JSON_DEPTH	  16

#define ERR_AFTER_START "The requested operation is not supported after starting the microVM"

/* An answer being built: status and fault message, or a JSON body. */
struct answer {
	int status;
	char msg[512];
	json_object *body;
};

static int fail(struct answer *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct answer *a, const char *fmt, ...)
{
	va_list ap;

	a->status = 400;
	va_start(ap, fmt);
	vsnprintf(a->msg, sizeof(a->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- JSON validation -------------------------------------------------------- */

enum jtype { J_STR, J_BOOL, J_INT, J_OBJ };

struct jfield {
	const char *name;
	enum jtype type;
	bool required;
};

static const char *const jtype_names[] = {"a string", "a boolean", "an integer", "an object"};

static bool jtype_is(json_object *v, enum jtype t)
{
	switch (t) {
	case J_STR:
		return json_object_is_type(v, json_type_string) &&
		       strlen(json_object_get_string(v)) == (size_t)json_object_get_string_len(v);
	case J_BOOL:
		return json_object_is_type(v, json_type_boolean);
	case J_INT:
		return json_object_is_type(v, json_type_int);
	case J_OBJ:
		return json_object_is_type(v, json_type_object);
	}
	return false;
}

/*
 * Check o against fields: an object, no unknown field, every field of the
 * right type (null counts as absent), the required ones present. what
 * names o in messages ("" for the body itself).
 */
static int jcheck(struct answer *a, json_object *o, const char *what, const struct jfield *f,
		  size_t n)
{
	if (!json_object_is_type(o, json_type_object))
		return fail(a, "%s must be a JSON object", *what ? what : "The request body");
	json_object_object_foreach(o, key, val)
	{
		size_t i;

		for (i = 0; i < n && strcmp(f[i].name, key); i++)
			;
		if (i == n)
			return fail(a, "Unknown field '%.64s'%s%s", key, *what ? " in " : "", what);
		if (json_object_is_type(val, json_type_null)) {
			if (f[i].required)
				return fail(a, "Field '%s' must not be null", key);
			continue;
		}
		if (!jtype_is(val, f[i].type))
			return fail(a, "Field '%s' must be %s", key, jtype_names[f[i].type]);
	}
	for (size_t i = 0; i < n; i++) {
		json_object *v;

		if (f[i].required && !json_object_object_get_ex(o, f[i].name, &v))
			return fail(a, "Missing field '%s'%s%s", f[i].name, *what ? " in " : "",
				    what);
	}
	return 0;
}

/* The field's value, NULL when absent or null (after jcheck()). */
static json_object *jget(json_object *o, const char *name)
{
	json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

static const char *jstr(json_object *o, const char *name)
{
	json_object *v = jget(o, name);

	return v ? json_object_get_string(v) : NULL;
}

/* An integer field in [min, max] (after jcheck()). */
static int jint(struct answer *a, json_object *v, const char *name, int64_t min, int64_t max,
		int64_t *out)
{
	int64_t x = json_object_get_int64(v);

	if ((x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX) || x < min ||
	    x > max)
		return fail(a, "Field '%s' must be from %lld to %lld", name, (long long)min,
			    (long long)max);
	*out = x;
	return 0;
}

/* A string field that must be one of the choices; returns its index or -1. */
static int jenum(struct answer *a, const char *v, const char *name, const char *const *choices,
		 bool nocase)
{
	char list[256] = "";

	for (int i = 0; choices[i]; i++) {
		if (nocase ? !strcasecmp(v, choices[i]) : !strcmp(v, choices[i]))
			return i;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
			 choices[i]);
	}
	fail(a, "Field '%s': '%.64s' is not one of %s", name, v, list);
	return -1;
}

static int jpath(struct answer *a, const char *v, const char *name)
{
	if (!*v || strlen(v) > API_PATH_MAX)
		return fail(a, "Field '%s' must be a path of 1-%d bytes", name, API_PATH_MAX);
	return 0;
}

static const struct jfield bucket_fields[] = {
    {"size", J_INT, true},
    {"refill_time", J_INT, true},
    {"one_time_burst", J_INT, false},
};

static int parse_bucket(struct answer *a, json_object *o, const char *what,
			struct token_bucket_config *b)
{
	int64_t v;

	memset(b, 0, sizeof(*b));
	if (jcheck(a, o, what, bucket_fields, ARRAY_SIZE(bucket_fields)))
		return -1;
	if (jint(a, jget(o, "size"), "size", 0, INT64_MAX, &v))
		return -1;
	b->size = (uint64_t)v;
	if (jint(a, jget(o, "refill_time"), "refill_time", 0, INT64_MAX, &v))
		return -1;
	b->refill_time_ms = (uint64_t)v;
	if (jget(o, "one_time_burst")) {
		if (jint(a, jget(o, "one_time_burst"), "one_time_burst", 0, INT64_MAX, &v))
			return -1;
		b->one_time_burst = (uint64_t)v;
	}
	return 0;
}

static const struct jfield limiter_fields[] = {
    {"bandwidth", J_OBJ, false},
    {"ops", J_OBJ, false},
};

/* A RateLimiter: which buckets it has, and them. */
struct limiter {
	bool has_bw, has_ops;
	struct token_bucket_config bw, ops;
};

static int parse_limiter(struct answer *a, json_object *o, const char *what, struct limiter *l)
{
	memset(l, 0, sizeof(*l));
	if (!o)
		return 0;
	if (jcheck(a, o, what, limiter_fields, ARRAY_SIZE(limiter_fields)))
		return -1;
	if (jget(o, "bandwidth")) {
		l->has_bw = true;
		if (parse_bucket(a, jget(o, "bandwidth"), "bandwidth", &l->bw))
			return -1;
	}
	if (jget(o, "ops")) {
		l->has_ops = true;
		if (parse_bucket(a, jget(o, "ops"), "ops", &l->ops))
			return -1;
	}
	return 0;
}

/* ---- output helpers ----------------------------------------------------------- */

static void jadd_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void jadd_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static void jadd_bool(json_object *o, const char *k, bool v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

static json_object *bucket_json(const struct token_bucket_config *b)
{
	json_object *o = json_object_new_object();

	jadd_u64(o, "size", b->size);
	jadd_u64(o, "one_time_burst", b->one_time_burst);
	jadd_u64(o, "refill_time", b->refill_time_ms);
	return o;
}

/* A RateLimiter object, or NULL when neither bucket limits. */
static json_object *limiter_json(const struct token_bucket_config *bw,
				 const struct token_bucket_config *ops)
{
	json_object *o;

	if (!(bw && bw->size) && !(ops && ops->size))
		return NULL;
	o = json_object_new_object();
	if (bw && bw->size)
		json_object_object_add(o, "bandwidth", bucket_json(bw));
	if (ops && ops->size)
		json_object_object_add(o, "ops", bucket_json(ops));
	return o;
}

/* ---- GET -------------------------------------------------------------------- */

static const char *const state_names[] = {"Not started", "Running", "Paused", "Not started"};

static int get_instance(struct api *api, const char *id, json_object *body, struct answer *a)
{
	(void)id;
	(void)body;
	a->body = json_object_new_object();
	jadd_str(a->body, "id", api->cfg.id);
	jadd_str(a->body, "state",
		 api->state == API_STOPPED ? "Not started" : state_names[api->state]);
	jadd_str(a->body, "vmm_version", HEARTH_VERSION);
	jadd_str(a->body, "app_name", "hearth");
	return 0;
}

static int get_version(struct api *api, const char *id, json_object *body, struct answer *a)
{
	(void)api;
	(void)id;
	(void)body;
	a->body = json_object_new_object();
	jadd_str(a->body, "firecracker_version", HEARTH_VERSION);
	return 0;
}

static json_object *machine_json(struct api *api)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "vcpu_count", json_object_new_int((int)api->cfg.ncpus));
	jadd_u64(o, "mem_size_mib", api->cfg.mem_size / MiB);
	jadd_bool(o, "smt", false);
	jadd_bool(o, "track_dirty_pages", api->track_dirty_pages);
	jadd_str(o, "huge_pages", "None");
	return o;
}

static int get_machine(struct api *api, const char *id, json_object *body, struct answer *a)
{
	(void)id;
	(void)body;
	a->body = machine_json(api);
	return 0;
}

/* A drive's id: its own, or "driveN" for a --disk given without id=. */
static void drive_name(const struct api *api, unsigned i, char name[CONFIG_ID_MAX + 16])
{
	if (api->cfg.disks[i].id[0])
		snprintf(name, CONFIG_ID_MAX + 16, "%s", api->cfg.disks[i].id);
	else
		snprintf(name, CONFIG_ID_MAX + 16, "drive%u", i);
}

static json_object *drive_json(struct api *api, unsigned i)
{
	const struct disk_config *d = &api->cfg.disks[i];
	json_object *o = json_object_new_object(), *rl;
	char id[CONFIG_ID_MAX + 16];
	struct token_bucket_config ops = {d->iops, 0, d->iops ? 1000 : 0};
	struct token_bucket_config bw = {d->bps, 0, d->bps ? 1000 : 0};

	drive_name(api, i, id);
	jadd_str(o, "drive_id", id);
	if (api->drive[i].partuuid[0])
		jadd_str(o, "partuuid", api->drive[i].partuuid);
	jadd_bool(o, "is_root_device", api->drive[i].root);
	jadd_str(o, "cache_type", d->cache == DISK_CACHE_UNSAFE ? "Unsafe" : "Writeback");
	jadd_bool(o, "is_read_only", d->readonly);
	jadd_str(o, "path_on_host", d->path);
	if (d->ops_bucket.size)
		ops = d->ops_bucket;
	if (d->bytes_bucket.size)
		bw = d->bytes_bucket;
	rl = limiter_json(&bw, &ops);
	if (rl)
		json_object_object_add(o, "rate_limiter", rl);
	/* The command line's default picks io_uring where it works. */
	jadd_str(o, "io_engine", d->engine == DISK_ENGINE_THREADS ? "Sync" : "Async");
	return o;
}

static json_object *nic_json(struct api *api, unsigned i)
{
	const struct net_config *n = &api->cfg.nics[i];
	json_object *o = json_object_new_object(), *rl;
	char mac[MAC_ADDR_STR_LEN];

	jadd_str(o, "iface_id", api->nic_id[i]);
	jadd_str(o, "host_dev_name", n->ifname);
	if (n->has_mac) {
		mac_addr_format(n->mac, mac);
		jadd_str(o, "guest_mac", mac);
	}
	rl = limiter_json(&n->rx, NULL);
	if (rl)
		json_object_object_add(o, "rx_rate_limiter", rl);
	rl = limiter_json(&n->tx, NULL);
	if (rl)
		json_object_object_add(o, "tx_rate_limiter", rl);
	return o;
}

static int get_vm_config(struct api *api, const char *id, json_object *body, struct answer *a)
{
	json_object *o = json_object_new_object(), *arr;

	(void)id;
	(void)body;
	if (api->boot_set) {
		json_object *b = json_object_new_object();

		jadd_str(b, "kernel_image_path", api->cfg.kernel_path);
		if (api->cfg.initrd_path)
			jadd_str(b, "initrd_path", api->cfg.initrd_path);
		if (api->cfg.cmdline)
			jadd_str(b, "boot_args", api->cfg.cmdline);
		json_object_object_add(o, "boot-source", b);
	}
	arr = json_object_new_array();
	for (unsigned i = 0; i < api->cfg.ndisks; i++)
		json_object_array_add(arr, drive_json(api, i));
	json_object_object_add(o, "drives", arr);
	json_object_object_add(o, "machine-config", machine_json(api));
	arr = json_object_new_array();
	for (unsigned i = 0; i < api->cfg.nnics; i++)
		json_object_array_add(arr, nic_json(api, i));
	json_object_object_add(o, "network-interfaces", arr);
	if (api->cfg.rng)
		json_object_object_add(o, "entropy", json_object_new_object());
	if (api->logger_set) {
		json_object *l = json_object_new_object();

		if (api->log_path)
			jadd_str(l, "log_path", api->log_path);
		jadd_str(l, "level", api->log_level);
		jadd_bool(l, "show_level", api->log_show_level);
		jadd_bool(l, "show_log_origin", api->log_show_origin);
		if (api->log_module)
			jadd_str(l, "module", api->log_module);
		json_object_object_add(o, "logger", l);
	}
	if (api->metrics_set) {
		json_object *m = json_object_new_object();

		jadd_str(m, "metrics_path", api->metrics_path);
		jadd_bool(m, "emit_id", api->metrics_emit_id);
		if (api->metrics_props)
			json_object_object_add(m, "properties",
					       json_object_get(api->metrics_props));
		json_object_object_add(o, "metrics", m);
	}
	a->body = o;
	return 0;
}

/* ---- machine configuration ---------------------------------------------------- */

static const struct jfield machine_fields[] = {
    {"vcpu_count", J_INT, true},    {"mem_size_mib", J_INT, true},
    {"smt", J_BOOL, false},	    {"track_dirty_pages", J_BOOL, false},
    {"cpu_template", J_STR, false}, {"huge_pages", J_STR, false},
};

static const char *const cpu_templates[] = {"None", "C3", "T2", "T2S", "T2CL", "T2A", "V1N1", NULL};
static const char *const huge_pages_kinds[] = {"None", "Transparent", "2M", NULL};

static int put_machine_common(struct api *api, json_object *body, struct answer *a, bool patch)
{
	struct jfield f[ARRAY_SIZE(machine_fields)];
	unsigned ncpus = api->cfg.ncpus;
	uint64_t mem = api->cfg.mem_size;
	bool dirty = patch ? api->track_dirty_pages : false;
	json_object *v;
	int64_t x;

	if (api->state != API_NOT_STARTED)
		return fail(a, ERR_AFTER_START);
	memcpy(f, machine_fields, sizeof(f));
	for (size_t i = 0; patch && i < ARRAY_SIZE(f); i++)
		f[i].required = false;
	if (jcheck(a, body, "", f, ARRAY_SIZE(f)))
		return -1;
	if ((v = jget(body, "vcpu_count"))) {
		if (jint(a, v, "vcpu_count", 1, API_MAX_VCPUS, &x))
			return -1;
		ncpus = (unsigned)x;
	}
	if ((v = jget(body, "mem_size_mib"))) {
		if (jint(a, v, "mem_size_mib", API_MIN_MEM_MIB, (int64_t)API_MAX_MEM_MIB, &x))
			return -1;
		mem = (uint64_t)x * MiB;
	}
	if ((v = jget(body, "smt")) && json_object_get_boolean(v))
		return fail(a, "Field 'smt': hearth does not support simultaneous multithreading "
			       "(only false)");
	if ((v = jget(body, "track_dirty_pages")))
		dirty = json_object_get_boolean(v);
	if (jstr(body, "cpu_template")) {
		int k = jenum(a, jstr(body, "cpu_template"), "cpu_template", cpu_templates, false);
		if (k < 0)
			return -1;
		if (k > 0)
			return fail(a, "Field 'cpu_template': CPU templates are not supported "
				       "(only None)");
	}
	if (jstr(body, "huge_pages")) {
		int k = jenum(a, jstr(body, "huge_pages"), "huge_pages", huge_pages_kinds, false);
		if (k < 0)
			return -1;
		if (k > 0)
			return fail(a,
				    "Field 'huge_pages': huge pages are not supported (only None)");
	}
	api->cfg.ncpus = ncpus;
	api->cfg.mem_size = mem;
	api->track_dirty_pages = dirty;
	api->cfg.track_dirty_pages = dirty;
	return 0;
}

static int put_machine(struct api *api, const char *id, json_object *body, struct answer *a)
{
	(void)id;
	return put_machine_common(api, body, a, false);
}

static int patch_machine(struct api *api, const char *id, json_object *body, struct answer *a)
{
	(void)id;
	return put_machine_common(api, body, a, true);
}

/* ---- boot source -------------------------------------------------------------- */

static const struct jfield boot_fields[] = {
    {"kernel_image_path", J_STR, true},
    {"initrd_path", J_STR, false},
    {"boot_args", J_STR, false},
};

/* A host file hearth will read: exists, regular, readable. */
static int check_host_file(struct answer *a, const char *name, const char *path)
{
	struct stat st;

	if (jpath(a, path, name))
		return -1;
	if (stat(path, &st) < 0)
		return fail(a, "%s %.256s: %s", name, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(a, "%s %.256s: not a regular file", name, path);
	if (access(path, R_OK) < 0)
		return fail(a, "%s %.256s: %s", name, path, strerror(errno));
	return 0;
}

static int put_boot(struct api *api, const char *id, json_object *body, struct answer *a)
{
	const char *kernel, *initrd, *args;
	char *k = NULL, *i = NULL, *b = NULL;
	uint8_t head[1024];
	ssize_t got;
	int fd;

	(void)id;
	if (api->state != API_NOT_STARTED)
		return fail(a, ERR_AFTER_START);
	if (jcheck(a, body, "", boot_fields, ARRAY_SIZE(boot_fields)))
		return -1;
	kernel = jstr(body, "kernel_image_path");
	initrd = jstr(body, "initrd_path");
	args = jstr(body, "boot_args");
	if (check_host_file(a, "kernel_image_path", kernel))
		return -1;
	fd = open(kernel, O_RDONLY | O_CLOEXEC);
	got = fd >= 0 ? read(fd, head, sizeof(head)) : -1;
	if (fd >= 0)
		close(fd);
	if (got < 0 || !boot_kernel_kind(head, (size_t)got))
		return fail(a, "kernel_image_path %.256s: neither a bzImage nor an ELF kernel",
			    kernel);
	if (initrd && check_host_file(a, "initrd_path", initrd))
		return -1;
	if (args && strlen(args) > API_BOOT_ARGS_MAX)
		return fail(a, "Field 'boot_args' is longer than %d bytes", API_BOOT_ARGS_MAX);
	k = strdup(kernel);
	i = initrd ? strdup(initrd) : NULL;
	b = strdup(args ? args : CONFIG_DEFAULT_CMDLINE);
	if (!k || (initrd && !i) || !b) {
		free(k);
		free(i);
		free(b);
		a->status = 500;
		snprintf(a->msg, sizeof(a->msg), "out of memory");
		return -1;
	}
	free(api->kernel);
	free(api->initrd);
	free(api->boot_args);
	api->cfg.kernel_path = api->kernel = k;
	api->cfg.initrd_path = api->initrd = i;
	api->cfg.cmdline = api->boot_args = b;
	api->boot_set = true;
	return 0;
}

/* Hand op to the VMM thread; its failure becomes the answer. */
static int run_op(struct api *api, struct api_op *op, struct answer *a)
{
	api_submit(api, op);
	if (op->status >= 400) {
		a->status = op->status;
		snprintf(a->msg, sizeof(a->msg), "%s", op->msg);
		return -1;
	}
	return 0;
}

/* ---- drives ------------------------------------------------------------------ */

static const struct jfield drive_fields[] = {
    {"drive_id", J_STR, true},	    {"is_root_device", J_BOOL, true},
    {"path_on_host", J_STR, false}, {"is_read_only", J_BOOL, false},
    {"cache_type", J_STR, false},   {"io_engine", J_STR, false},
    {"rate_limiter", J_OBJ, false}, {"partuuid", J_STR, false},
    {"socket", J_STR, false},
};

static const struct jfield partial_drive_fields[] = {
    {"drive_id", J_STR, true},
    {"path_on_host", J_STR, false},
    {"rate_limiter", J_OBJ, false},
};

static const char *const cache_types[] = {"Unsafe", "Writeback", NULL};
static const char *const io_engines[] = {"Sync", "Async", NULL};

static int find_drive(struct api *api, const char *id)
{
	char name[CONFIG_ID_MAX + 16];

	for (unsigned i = 0; i < api->cfg.ndisks; i++) {
		drive_name(api, i, name);
		if (!strcmp(name, id))
			return (int)i;
	}
	return -1;
}

static int check_body_id(struct answer *a, json_object *body, const char *field, const char *id)
{
	const char *bid = jstr(body, field);

	if (strcmp(bid, id))
		return fail(a, "The id from the path (%.64s) does not match %s '%.64s' in the body",
			    id, field, bid);
	return 0;
}

static int put_drive(struct api *api, const char *id, json_object *body, struct answer *a)
{
	struct disk_config d;
	struct limiter rl;
	const char *path, *partuuid;
	bool ro = false, root;
	int idx, k;

	if (api->state != API_NOT_STARTED)
		return fail(a, ERR_AFTER_START);
	if (jcheck(a, body, "", drive_fields, ARRAY_SIZE(drive_fields)) ||
	    check_body_id(a, body, "drive_id", id))
		return -1;
	if (jget(body, "socket"))
		return fail(a, "Field 'socket': vhost-user drives are not supported");
	path = jstr(body, "path_on_host");
	if (!path)
		return fail(a, "Missing field 'path_on_host'");
	memset(&d, 0, sizeof(d));
	if (jget(body, "is_read_only"))
		ro = json_object_get_boolean(jget(body, "is_read_only"));
	root = json_object_get_boolean(jget(body, "is_root_device"));
	if (jpath(a, path, "path_on_host"))
		return -1;
	{
		struct stat st;

		if (stat(path, &st) < 0)
			return fail(a, "path_on_host %.256s: %s", path, strerror(errno));
		if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
			return fail(a, "path_on_host %.256s: not a regular file or block device",
				    path);
		if (access(path, ro ? R_OK : R_OK | W_OK) < 0)
			return fail(a, "path_on_host %.256s: %s", path, strerror(errno));
	}
	d.readonly = ro;
	d.cache = DISK_CACHE_UNSAFE;
	d.engine = DISK_ENGINE_THREADS;
	if (jstr(body, "cache_type")) {
		k = jenum(a, jstr(body, "cache_type"), "cache_type", cache_types, false);
		if (k < 0)
			return -1;
		d.cache = k == 0 ? DISK_CACHE_UNSAFE : DISK_CACHE_WRITEBACK;
	}
	if (jstr(body, "io_engine")) {
		k = jenum(a, jstr(body, "io_engine"), "io_engine", io_engines, false);
		if (k < 0)
			return -1;
		d.engine = k == 0 ? DISK_ENGINE_THREADS : DISK_ENGINE_IO_URING;
	}
	if (parse_limiter(a, jget(body, "rate_limiter"), "rate_limiter", &rl))
		return -1;
	d.ops_bucket = rl.ops;
	d.bytes_bucket = rl.bw;
	partuuid = jstr(body, "partuuid");
	if (partuuid) {
		size_t n = strlen(partuuid);

		if (n == 0 || n > API_PARTUUID_MAX)
			return fail(a, "Field 'partuuid' must be 1-%d characters",
				    API_PARTUUID_MAX);
		for (size_t i = 0; i < n; i++)
			if (!isxdigit((unsigned char)partuuid[i]) && partuuid[i] != '-')
				return fail(a, "Field 'partuuid' may hold only hex digits and '-'");
	}
	idx = find_drive(api, id);
	for (unsigned i = 0; root && i < api->cfg.ndisks; i++)
		if (api->drive[i].root && (int)i != idx)
			return fail(a, "A root block device already exists");
	if (idx < 0 && api->cfg.ndisks == CONFIG_MAX_DISKS)
		return fail(a, "At most %d drives", CONFIG_MAX_DISKS);
	snprintf(d.id, sizeof(d.id), "%s", id);
	snprintf(d.serial, sizeof(d.serial), "%.*s", CONFIG_SERIAL_MAX, id);
	d.path = strdup(path);
	if (!d.path) {
		a->status = 500;
		snprintf(a->msg, sizeof(a->msg), "out of memory");
		return -1;
	}
	if (idx < 0)
		idx = (int)api->cfg.ndisks++;
	free(api->cfg.disks[idx].path);
	api->cfg.disks[idx] = d;
	api->drive[idx].root = root;
	api->drive[idx].has_limits = rl.has_bw || rl.has_ops;
	snprintf(api->drive[idx].partuuid, sizeof(api->drive[idx].partuuid), "%s",
		 partuuid ? partuuid : "");
	return 0;
}

static int patch_drive(struct api *api, const char *id, json_object *body, struct answer *a)
{
	struct api_op op = {.kind = API_OP_DRIVE_LIMITS};
	struct limiter rl;
	const char *path;
	int idx;

	if (jcheck(a, body, "", partial_drive_fields, ARRAY_SIZE(partial_drive_fields)) ||
	    check_body_id(a, body, "drive_id", id))
		return -1;
	if (parse_limiter(a, jget(body, "rate_limiter"), "rate_limiter", &rl))
		return -1;
	path = jstr(body, "path_on_host");
	if (path && jpath(a, path, "path_on_host"))
		return -1;
	if (api->state == API_NOT_STARTED)
		return fail(a, "The requested operation is not supported before starting the "
			       "microVM");
	if (api->state == API_STOPPED)
		return fail(a, "The microVM has stopped");
	idx = find_drive(api, id);
	if (idx < 0)
		return fail(a, "No drive with id '%.64s'", id);
	if (path && strcmp(path, api->cfg.disks[idx].path))
		return fail(a, "Field 'path_on_host': changing the image of a running drive is not "
			       "supported yet");
	if (!rl.has_bw && !rl.has_ops)
		return 0;
	for (unsigned i = 0; i < api->start_cfg.ndisks; i++)
		if (api->start_drive[i] == (unsigned)idx)
			op.disk = i;
	op.has_ops = rl.has_ops;
	op.ops = rl.ops;
	op.has_bytes = rl.has_bw;
	op.bytes = rl.bw;
	if (run_op(api, &op, a))
		return -1;
	if (rl.has_ops)
		api->cfg.disks[idx].ops_bucket = rl.ops;
	if (rl.has_bw)
		api->cfg.disks[idx].bytes_bucket = rl.bw;
	if (rl.has_ops)
		api->cfg.disks[idx].iops = 0;
	if (rl.has_bw)
		api->cfg.disks[idx].bps = 0;
	return 0;
}

/* ---- network interfaces --------------------------------------------------------- */

static const struct jfield nic_fields[] = {
    {"iface_id", J_STR, true}, {"host_dev_name", J_STR, true},	  {"guest_mac", J_STR, false},
    {"mtu", J_INT, false},     {"rx_rate_limiter", J_OBJ, false}, {"tx_rate_limiter", J_OBJ, false},
};

static int put_nic(struct api *api, const char *id, json_object *body, struct answer *a)
{
	struct net_config n;
	struct limiter rx, tx;
	const char *dev, *mac;
	int idx = -1;

	if (api->state != API_NOT_STARTED)
		return fail(a, ERR_AFTER_START);
	if (jcheck(a, body, "", nic_fields, ARRAY_SIZE(nic_fields)) ||
	    check_body_id(a, body, "iface_id", id))
		return -1;
	if (jget(body, "mtu"))
		return fail(a, "Field 'mtu' is not supported");
	memset(&n, 0, sizeof(n));
	dev = jstr(body, "host_dev_name");
	if (!*dev || strlen(dev) >= IFNAMSIZ || strchr(dev, '/') || strchr(dev, ' '))
		return fail(a, "Field 'host_dev_name' must be an interface name of 1-%d characters",
			    IFNAMSIZ - 1);
	snprintf(n.ifname, sizeof(n.ifname), "%s", dev);
	mac = jstr(body, "guest_mac");
	if (mac) {
		int r = mac_addr_parse(mac, n.mac);
		if (r == -2)
			return fail(a, "Field 'guest_mac': %.32s is a multicast or zero address",
				    mac);
		if (r)
			return fail(a,
				    "Field 'guest_mac': '%.32s' is not a MAC address "
				    "(xx:xx:xx:xx:xx:xx)",
				    mac);
		n.has_mac = true;
	}
	if (parse_limiter(a, jget(body, "rx_rate_limiter"), "rx_rate_limiter", &rx) ||
	    parse_limiter(a, jget(body, "tx_rate_limiter"), "tx_rate_limiter", &tx))
		return -1;
	if (rx.has_ops || tx.has_ops)
		return fail(a, "Operation rate limits on network interfaces are not supported "
			       "(bandwidth only)");
	n.rx = rx.bw;
	n.tx = tx.bw;
	for (unsigned i = 0; i < api->cfg.nnics; i++) {
		if (!strcmp(api->nic_id[i], id)) {
			idx = (int)i;
			continue;
		}
		if (!strcmp(api->cfg.nics[i].ifname, n.ifname))
			return fail(a, "The host device %s is already used by interface %s",
				    n.ifname, api->nic_id[i]);
		if (n.has_mac && api->cfg.nics[i].has_mac &&
		    !memcmp(api->cfg.nics[i].mac, n.mac, MAC_ADDR_LEN))
			return fail(a, "The guest MAC address is already used by interface %s",
				    api->nic_id[i]);
	}
	if (idx < 0 && api->cfg.nnics == CONFIG_MAX_NICS)
		return fail(a, "At most %d network interfaces", CONFIG_MAX_NICS);
	if (idx < 0)
		idx = (int)api->cfg.nnics++;
	api->cfg.nics[idx] = n;
	snprintf(api->nic_id[idx], sizeof(api->nic_id[idx]), "%s", id);
	return 0;
}

static const struct jfield partial_nic_fields[] = {
    {"iface_id", J_STR, true},
    {"rx_rate_limiter", J_OBJ, false},
    {"tx_rate_limiter", J_OBJ, false},
};

static int patch_nic(struct api *api, const char *id, json_object *body, struct answer *a)
{
	struct api_op op = {.kind = API_OP_NIC_LIMITS};
	struct limiter rx, tx;
	int idx = -1;

	if (jcheck(a, body, "", partial_nic_fields, ARRAY_SIZE(partial_nic_fields)) ||
	    check_body_id(a, body, "iface_id", id) ||
	    parse_limiter(a, jget(body, "rx_rate_limiter"), "rx_rate_limiter", &rx) ||
	    parse_limiter(a, jget(body, "tx_rate_limiter"), "tx_rate_limiter", &tx))
		return -1;
	if (rx.has_ops || tx.has_ops)
		return fail(a, "Operation rate limits on network interfaces are not supported "
			       "(bandwidth only)");
	if (api->state == API_NOT_STARTED)
		return fail(a, "The requested operation is not supported before starting the "
			       "microVM");
	if (api->state == API_STOPPED)
		return fail(a, "The microVM has stopped");
	for (unsigned i = 0; i < api->cfg.nnics; i++)
		if (!strcmp(api->nic_id[i], id))
			idx = (int)i;
	if (idx < 0)
		return fail(a, "No network interface with id '%.64s'", id);
	if (!rx.has_bw && !tx.has_bw)
		return 0;
	op.nic = (unsigned)idx;
	op.has_rx = rx.has_bw;
	op.rx = rx.bw;
	op.has_tx = tx.has_bw;
	op.tx = tx.bw;
	if (run_op(api, &op, a))
		return -1;
	if (rx.has_bw)
		api->cfg.nics[idx].rx = rx.bw;
	if (tx.has_bw)
		api->cfg.nics[idx].tx = tx.bw;
	return 0;
}

/* ---- entropy, serial, logger, metrics ------------------------------------------ */

static const struct jfield entropy_fields[] = {{"rate_limiter", J_OBJ, false}};

static int put_entropy(struct api *api, const char *id, json_object *body, struct answer *a)
{
	struct limiter rl;

	(void)id;
	if (api->state != API_NOT_STARTED)
		return fail(a, ERR_AFTER_START);
	if (jcheck(a, body, "", entropy_fields, ARRAY_SIZE(entropy_fields)) ||
	    parse_limiter(a, jget(body, "rate_limiter"), "rate_limiter", &rl))
		return -1;
	if (rl.has_bw || rl.has_ops)
		return fail(a,
			    "Field 'rate_limiter': the entropy device has a fixed limit (1 MiB/s) "
			    "and takes no rate limiter");
	api->cfg.rng = true;
	return 0;
}

static const struct jfield serial_fields[] = {
    {"serial_out_path", J_STR, false},
    {"rate_limiter", J_OBJ, false},
};

static int put_serial(struct api *api, const char *id, json_object *body, struct answer *a)
{
	const char *path;
	char *copy;
	int fd;

	(void)id;
	if (api->state != API_NOT_STARTED)
		return fail(a, ERR_AFTER_START);
	if (jcheck(a, body, "", serial_fields, ARRAY_SIZE(serial_fields)))
		return -1;
	if (jget(body, "rate_limiter"))
		return fail(a, "Field 'rate_limiter': serial output rate limits are not supported");
	path = jstr(body, "serial_out_path");
	if (!path)
		return 0;
	if (jpath(a, path, "serial_out_path"))
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
	if (fd < 0)
		return fail(a, "serial_out_path %.256s: %s", path, strerror(errno));
	close(fd);
	copy = strdup(path);
	if (!copy)
		return fail(a, "out of memory");
	free(api->serial_path);
	api->cfg.serial_path = api->serial_path = copy;
	api->cfg.serial = CONSOLE_FILE;
	return 0;
}

static const struct jfield logger_fields[] = {
    {"log_path", J_STR, false},		{"level", J_STR, false},  {"show_level", J_BOOL, false},
    {"show_log_origin", J_BOOL, false}, {"module", J_STR, false},
};

static const char *const log_levels[] = {"Error", "Warning", "Info", "Debug", "Trace", "Off", NULL};

static int open_output(struct answer *a, const char *name, const char *path)
{
	int fd;

	if (jpath(a, path, name))
		return -1;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
	if (fd < 0 && errno == ENXIO) /* a named pipe nobody reads yet: hold it open */
		fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		fail(a, "%s %.256s: %s", name, path, strerror(errno));
	return fd;
}

static int put_logger(struct api *api, const char *id, json_object *body, struct answer *a)
{
	static const enum log_level levels[] = {LOG_ERROR, LOG_WARN,  LOG_INFO,
						LOG_DEBUG, LOG_DEBUG, LOG_ERROR};
	const char *path, *module;
	char *path_copy = NULL, *module_copy = NULL;
	int k = 2, fd = -1; /* Info, the default */

	(void)id;
	if (api->state != API_NOT_STARTED)
		return fail(a, ERR_AFTER_START);
	if (jcheck(a, body, "", logger_fields, ARRAY_SIZE(logger_fields)))
		return -1;
	if (jstr(body, "level")) {
		k = jenum(a, jstr(body, "level"), "level", log_levels, true);
		if (k < 0)
			return -1;
	}
	module = jstr(body, "module");
	if (module && strlen(module) > 256)
		return fail(a, "Field 'module' is longer than 256 bytes");
	path = jstr(body, "log_path");
	if (path) {
		fd = open_output(a, "log_path", path);
		if (fd < 0)
			return -1;
		path_copy = strdup(path);
	}
	module_copy = module ? strdup(module) : NULL;
	if ((path && !path_copy) || (module && !module_copy)) {
		free(path_copy);
		free(module_copy);
		if (fd >= 0)
			close(fd);
		return fail(a, "out of memory");
	}
	if (fd >= 0) {
		log_set_output(fd);
		if (api->log_fd >= 0)
			close(api->log_fd);
		api->log_fd = fd;
		free(api->log_path);
		api->log_path = path_copy;
	}
	free(api->log_module);
	api->log_module = module_copy;
	log_set_level(levels[k]);
	snprintf(api->log_level, sizeof(api->log_level), "%s", log_levels[k]);
	if (jget(body, "show_level"))
		api->log_show_level = json_object_get_boolean(jget(body, "show_level"));
	if (jget(body, "show_log_origin"))
		api->log_show_origin = json_object_get_boolean(jget(body, "show_log_origin"));
	api->logger_set = true;
	return 0;
}

static const struct jfield metrics_fields[] = {
    {"metrics_path", J_STR, true},
    {"emit_id", J_BOOL, false},
    {"properties", J_OBJ, false},
};

static int put_metrics(struct api *api, const char *id, json_object *body, struct answer *a)
{
	json_object *props;
	const char *path;
	char *copy;
	int fd;

	(void)id;
	if (api->state != API_NOT_STARTED)
		return fail(a, ERR_AFTER_START);
	if (jcheck(a, body, "", metrics_fields, ARRAY_SIZE(metrics_fields)))
		return -1;
	if (api->metrics_set)
		return fail(a, "Reinitialization of metrics is not allowed");
	props = jget(body, "properties");
	if (props) {
		unsigned n = 0;

		json_object_object_foreach(props, key, val)
		{
			if (!jtype_is(val, J_STR))
				return fail(a,
					    "Field 'properties': the value of '%.64s' must be a "
					    "string",
					    key);
			if (++n > 64 || strlen(key) > 256 ||
			    strlen(json_object_get_string(val)) > 256)
				return fail(a, "Field 'properties': at most 64 entries of 256 "
					       "bytes");
		}
	}
	path = jstr(body, "metrics_path");
	fd = open_output(a, "metrics_path", path);
	if (fd < 0)
		return -1;
	copy = strdup(path);
	if (!copy) {
		close(fd);
		return fail(a, "out of memory");
	}
	api->metrics_fd = fd;
	api->metrics_path = copy;
	api->metrics_emit_id =
	    jget(body, "emit_id") && json_object_get_boolean(jget(body, "emit_id"));
	api->metrics_props = props ? json_object_get(props) : NULL;
	api->metrics_set = true;
	return 0;
}

/* ---- actions and the VM's state ---------------------------------------------------- */

static const struct jfield action_fields[] = {{"action_type", J_STR, true}};
static const char *const actions[] = {"FlushMetrics", "InstanceStart", "SendCtrlAltDel", NULL};

static int put_actions(struct api *api, const char *id, json_object *body, struct answer *a)
{
	struct api_op op = {.kind = API_OP_FLUSH_METRICS};
	int k;

	(void)id;
	if (jcheck(a, body, "", action_fields, ARRAY_SIZE(action_fields)))
		return -1;
	k = jenum(a, jstr(body, "action_type"), "action_type", actions, false);
	if (k < 0)
		return -1;
	if (k == 0) {
		int r;

		if (!api->metrics_set)
			return fail(a, "Metrics are not configured (PUT /metrics first)");
		if (api->vm)
			return run_op(api, &op, a);
		r = api_write_metrics(api);
		if (r)
			return fail(a, "Cannot write the metrics: %s", strerror(-r));
		return 0;
	}
	if (k == 1) {
		if (api->state != API_NOT_STARTED)
			return fail(a, "The microVM is already running");
		if (!api->boot_set)
			return fail(a, "Cannot start the microVM without a boot source (PUT "
				       "/boot-source first)");
		op.kind = API_OP_START;
		return run_op(api, &op, a);
	}
	if (api->state == API_NOT_STARTED || api->state == API_STOPPED)
		return fail(a, "The microVM is not running");
	op.kind = API_OP_CTRL_ALT_DEL;
	return run_op(api, &op, a);
}

static const struct jfield vm_fields[] = {{"state", J_STR, true}};
static const char *const vm_states[] = {"Paused", "Resumed", NULL};

static int patch_vm(struct api *api, const char *id, json_object *body, struct answer *a)
{
	struct api_op op;
	int k;

	(void)id;
	if (jcheck(a, body, "", vm_fields, ARRAY_SIZE(vm_fields)))
		return -1;
	k = jenum(a, jstr(body, "state"), "state", vm_states, false);
	if (k < 0)
		return -1;
	if (api->state == API_NOT_STARTED || api->state == API_STOPPED)
		return fail(a, "The microVM is not running");
	memset(&op, 0, sizeof(op));
	op.kind = k == 0 ? API_OP_PAUSE : API_OP_RESUME;
	return run_op(api, &op, a);
}

/* ---- snapshots ------------------------------------------------------------------ */

static const struct jfield snap_create_fields[] = {
    {"snapshot_path", J_STR, true},
    {"mem_file_path", J_STR, true},
    {"snapshot_type", J_STR, false},
};
static const char *const snap_types[] = {"Full", "Diff", NULL};

static int put_snapshot_create(struct api *api, const char *id, json_object *body, struct answer *a)
{
	struct api_op op = {.kind = API_OP_SNAPSHOT_CREATE};
	const char *type;
	int k;

	(void)id;
	if (jcheck(a, body, "", snap_create_fields, ARRAY_SIZE(snap_create_fields)))
		return -1;
	op.state_path = jstr(body, "snapshot_path");
	op.mem_path = jstr(body, "mem_file_path");
	type = jstr(body, "snapshot_type");
	if (jpath(a, op.state_path, "snapshot_path") || jpath(a, op.mem_path, "mem_file_path"))
		return -1;
	k = type ? jenum(a, type, "snapshot_type", snap_types, false) : 0;
	if (k < 0)
		return -1;
	op.diff = k == 1;
	if (!strcmp(op.state_path, op.mem_path))
		return fail(a, "snapshot_path and mem_file_path must be different files");
	if (api->state == API_NOT_STARTED || api->state == API_STOPPED)
		return fail(a, "The microVM is not running");
	if (api->state != API_PAUSED)
		return fail(a, "The microVM must be paused to create a snapshot (PATCH /vm "
			       "Paused first)");
	return run_op(api, &op, a);
}

static const struct jfield snap_load_fields[] = {
    {"snapshot_path", J_STR, true},
    {"mem_file_path", J_STR, false},
    {"mem_backend", J_OBJ, false},
    {"resume_vm", J_BOOL, false},
    {"enable_diff_snapshots", J_BOOL, false},
    {"track_dirty_pages", J_BOOL, false},
    {"clock_realtime", J_BOOL, false},
};
static const struct jfield mem_backend_fields[] = {
    {"backend_type", J_STR, true},
    {"backend_path", J_STR, true},
};
static const char *const backend_types[] = {"File", "Uffd", NULL};

static bool jtrue(json_object *o, const char *name)
{
	json_object *v = jget(o, name);

	return v && json_object_get_boolean(v);
}

static int put_snapshot_load(struct api *api, const char *id, json_object *body, struct answer *a)
{
	struct api_op op = {.kind = API_OP_SNAPSHOT_LOAD};
	json_object *mb;

	(void)id;
	if (json_object_is_type(body, json_type_object) && jget(body, "network_overrides"))
		return fail(a, "Field 'network_overrides' is not supported");
	if (jcheck(a, body, "", snap_load_fields, ARRAY_SIZE(snap_load_fields)))
		return -1;
	/* Either name asks for dirty page tracking in the loaded VM (Diff snapshots of it). */
	op.track_dirty = jtrue(body, "enable_diff_snapshots") || jtrue(body, "track_dirty_pages");
	if (jtrue(body, "clock_realtime"))
		return fail(a, "Field 'clock_realtime': only false is supported");
	mb = jget(body, "mem_backend");
	op.mem_path = jstr(body, "mem_file_path");
	if (!mb == !op.mem_path)
		return fail(a, "Exactly one of 'mem_backend' and 'mem_file_path' must be given");
	if (mb) {
		int k;

		if (jcheck(a, mb, "mem_backend", mem_backend_fields,
			   ARRAY_SIZE(mem_backend_fields)))
			return -1;
		k = jenum(a, jstr(mb, "backend_type"), "backend_type", backend_types, false);
		if (k < 0)
			return -1;
		if (k != 0)
			return fail(a, "Field 'backend_type': only File is supported");
		op.mem_path = jstr(mb, "backend_path");
	}
	op.state_path = jstr(body, "snapshot_path");
	if (jpath(a, op.state_path, "snapshot_path") ||
	    jpath(a, op.mem_path, mb ? "backend_path" : "mem_file_path"))
		return -1;
	op.resume = jtrue(body, "resume_vm");
	if (api->state != API_NOT_STARTED)
		return fail(a, "Loading a snapshot is only allowed before the microVM starts");
	if (api->boot_set || api->cfg.ndisks || api->cfg.nnics)
		return fail(a, "Loading a snapshot is only allowed before the microVM is "
			       "configured (no boot source, drives or network interfaces)");
	return run_op(api, &op, a);
}

/* ---- routing ------------------------------------------------------------------ */

typedef int (*route_fn)(struct api *api, const char *id, json_object *body, struct answer *a);

struct route {
	const char *method;
	const char *path; /* ending in '/' for ".../{id}" */
	route_fn fn;
	bool body;
};

static const struct route routes[] = {
    {"GET", "/", get_instance, false},
    {"GET", "/version", get_version, false},
    {"GET", "/machine-config", get_machine, false},
    {"PUT", "/machine-config", put_machine, true},
    {"PATCH", "/machine-config", patch_machine, true},
    {"GET", "/vm/config", get_vm_config, false},
    {"PUT", "/boot-source", put_boot, true},
    {"PUT", "/drives/", put_drive, true},
    {"PATCH", "/drives/", patch_drive, true},
    {"PUT", "/network-interfaces/", put_nic, true},
    {"PATCH", "/network-interfaces/", patch_nic, true},
    {"PUT", "/entropy", put_entropy, true},
    {"PUT", "/serial", put_serial, true},
    {"PUT", "/logger", put_logger, true},
    {"PUT", "/metrics", put_metrics, true},
    {"PUT", "/actions", put_actions, true},
    {"PATCH", "/vm", patch_vm, true},
    {"PUT", "/snapshot/create", put_snapshot_create, true},
    {"PUT", "/snapshot/load", put_snapshot_load, true},
};

/* Firecracker endpoints hearth does not have yet. */
static const char *const unsupported[] = {"/snapshot",	 "/mmds",    "/balloon", "/vsock",
					  "/cpu-config", "/hotplug", "/pmem",	 NULL};

/* Whether url matches path: exactly, or path ending in '/' plus one id segment. */
static bool route_match(const char *path, const char *url, const char **id)
{
	size_t n = strlen(path);

	*id = NULL;
	if (n > 1 && path[n - 1] == '/') {
		if (strncmp(url, path, n) || !url[n] || strchr(url + n, '/'))
			return false;
		*id = url + n;
		return true;
	}
	return !strcmp(url, path);
}

static json_object *parse_body(struct answer *a, const char *body, size_t len)
{
	struct json_tokener *tok;
	enum json_tokener_error e;
	json_object *o;
	size_t end;

	if (len == 0) {
		fail(a, "The request needs a JSON body");
		return NULL;
	}
	if (strlen(body) != len) {
		fail(a, "Invalid JSON: the body holds a NUL byte");
		return NULL;
	}
	tok = json_tokener_new_ex(API_JSON_DEPTH);
	if (!tok) {
		fail(a, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, body, (int)len);
	e = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o || e != json_tokener_success) {
		json_object_put(o);
		fail(a, "Invalid JSON: %s",
		     e == json_tokener_continue ? "the body ends early"
						: json_tokener_error_desc(e));
		return NULL;
	}
	while (end < len && isspace((unsigned char)body[end]))
		end++;
	if (end != len) {
		json_object_put(o);
		fail(a, "Invalid JSON: text after the value");
		return NULL;
	}
	return o;
}

static char *fault_body(const char *msg)
{
	json_object *o = json_object_new_object();
	char *s;

	jadd_str(o, "fault_message", msg);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

/*
 * The route for method and url, with the id its path holds (NULL for none);
 * NULL with a's answer set when there is none or the id is not valid.
 */
static const struct route *find_route(const char *method, const char *url, const char **id,
				      struct answer *a)
{
	bool path_known = false;

	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		if (!route_match(routes[i].path, url, id))
			continue;
		path_known = true;
		if (strcmp(routes[i].method, method))
			continue;
		if (*id && !config_valid_id(*id)) {
			fail(a, "The id in the path must be 1-%d characters of A-Z a-z 0-9 _ -",
			     CONFIG_ID_MAX);
			return NULL;
		}
		return &routes[i];
	}
	for (int i = 0; unsupported[i]; i++) {
		size_t n = strlen(unsupported[i]);

		if (!strncmp(url, unsupported[i], n) && (url[n] == '\0' || url[n] == '/')) {
			fail(a, "%s is not supported by hearth", unsupported[i]);
			return NULL;
		}
	}
	fail(a, "Invalid request method and/or path: %.16s %.128s%s", method, url,
	     path_known ? " (method not allowed)" : "");
	return NULL;
}

int api_route(struct api *api, const char *method, const char *url, const char *body, size_t len,
	      char **out)
{
	struct answer a = {.status = 204};
	const struct route *r;
	const char *id = NULL;
	json_object *jb = NULL;

	*out = NULL;
	if (!strncmp(url, "/migrate", 8) && (!url[8] || url[8] == '/'))
		return api_migrate_route(api, method, url, body, len, out);
	r = find_route(method, url, &id, &a);
	if (!r)
		goto reply;
	if (r->body) {
		jb = parse_body(&a, body, len);
		if (!jb)
			goto reply;
	}
	if (r->fn(api, id, jb, &a) == 0 && a.body)
		a.status = 200;
reply:
	json_object_put(jb);
	if (a.status >= 400) {
		json_object_put(a.body);
		*out = fault_body(a.msg);
		return a.status;
	}
	if (a.body) {
		*out = strdup(json_object_to_json_string_ext(
		    a.body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(a.body);
	}
	return a.status;
}

/* ---- the configuration document (--config-file) ----------------------------------- */

/* Largest configuration document read. */
#define API_MAX_CONFIG (1024 * 1024)

/*
 * The document's sections, applied in this order, each as the PUT request
 * its url names; with id_field, the section is an array of such bodies and
 * each one's id_field completes the url.
 */
struct config_section {
	const char *key;
	const char *url;
	const char *id_field;
	bool required;
};

static const struct config_section config_sections[] = {
    {"logger", "/logger", NULL, false},
    {"metrics", "/metrics", NULL, false},
    {"machine-config", "/machine-config", NULL, false},
    {"boot-source", "/boot-source", NULL, true},
    {"drives", "/drives/", "drive_id", false},
    {"network-interfaces", "/network-interfaces/", "iface_id", false},
    {"entropy", "/entropy", NULL, false},
    {"serial", "/serial", NULL, false},
};

/* Sections of Firecracker's document hearth does not have (null is accepted). */
static const char *const config_unsupported[] = {
    "balloon", "vsock", "mmds-config", "cpu-config", "pmem", "memory-hotplug", NULL,
};

/* One PUT of the document: body o to url, as the API would take it. */
static int config_put(struct api *api, const char *url, json_object *o, struct answer *a)
{
	const struct route *r;
	const char *id = NULL;

	r = find_route("PUT", url, &id, a);
	if (!r)
		return -1;
	json_object_put(a->body);
	a->body = NULL;
	return r->fn(api, id, o, a);
}

static int config_item(struct api *api, const struct config_section *s, json_object *o,
		       struct answer *a)
{
	char url[128];
	json_object *v;

	if (!json_object_is_type(o, json_type_object))
		return fail(a, "must be a JSON object");
	if (!s->id_field)
		return config_put(api, s->url, o, a);
	v = jget(o, s->id_field);
	if (!v)
		return fail(a, "Missing field '%s'", s->id_field);
	if (!jtype_is(v, J_STR))
		return fail(a, "Field '%s' must be a string", s->id_field);
	if (!config_valid_id(json_object_get_string(v)))
		return fail(a, "Field '%s' must be 1-%d characters of A-Z a-z 0-9 _ -", s->id_field,
			    CONFIG_ID_MAX);
	snprintf(url, sizeof(url), "%s%s", s->url, json_object_get_string(v));
	return config_put(api, url, o, a);
}

/* Check the document's top level and apply its sections in order. */
static int config_apply(struct api *api, json_object *doc, char *err, size_t errlen)
{
	struct answer a = {.status = 204};

	if (!json_object_is_type(doc, json_type_object)) {
		snprintf(err, errlen, "the document must be a JSON object");
		return -1;
	}
	json_object_object_foreach(doc, key, val)
	{
		size_t i;

		for (i = 0; i < ARRAY_SIZE(config_sections) && strcmp(config_sections[i].key, key);
		     i++)
			;
		if (i < ARRAY_SIZE(config_sections))
			continue;
		for (i = 0; config_unsupported[i] && strcmp(config_unsupported[i], key); i++)
			;
		if (config_unsupported[i] && json_object_is_type(val, json_type_null))
			continue;
		snprintf(err, errlen,
			 config_unsupported[i] ? "'%s' is not supported by hearth"
					       : "Unknown field '%.64s'",
			 key);
		return -1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(config_sections); i++) {
		const struct config_section *s = &config_sections[i];
		json_object *v = jget(doc, s->key);
		int r = 0;

		if (!v) {
			if (!s->required)
				continue;
			snprintf(err, errlen, "Missing field '%s'", s->key);
			return -1;
		}
		if (!s->id_field) {
			r = config_item(api, s, v, &a);
			if (r)
				snprintf(err, errlen, "%s: %s", s->key, a.msg);
		} else if (!json_object_is_type(v, json_type_array)) {
			snprintf(err, errlen, "Field '%s' must be an array", s->key);
			r = -1;
		} else {
			for (size_t k = 0; !r && k < json_object_array_length(v); k++) {
				r = config_item(api, s, json_object_array_get_idx(v, k), &a);
				if (r)
					snprintf(err, errlen, "%s[%zu]: %s", s->key, k, a.msg);
			}
		}
		json_object_put(a.body);
		a.body = NULL;
		if (r)
			return -1;
	}
	return 0;
}

int api_load_config(struct api *api, const char *path, char *err, size_t errlen)
{
	struct answer a = {.status = 204};
	json_object *doc;
	char *text;
	ssize_t n = 0;
	size_t len = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open it: %s", strerror(errno));
		return -1;
	}
	text = malloc(API_MAX_CONFIG + 1);
	if (!text) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (len <= API_MAX_CONFIG) {
		n = read(fd, text + len, API_MAX_CONFIG + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	r = n < 0 ? errno : 0;
	close(fd);
	if (r || len > API_MAX_CONFIG) {
		free(text);
		if (r)
			snprintf(err, errlen, "cannot read it: %s", strerror(r));
		else
			snprintf(err, errlen, "larger than %d bytes", API_MAX_CONFIG);
		return -1;
	}
	text[len] = '\0';
	doc = parse_body(&a, text, len);
	free(text);
	if (!doc) {
		snprintf(err, errlen, "%s", a.msg);
		return -1;
	}
	pthread_mutex_lock(&api->lock);
	r = config_apply(api, doc, err, errlen);
	pthread_mutex_unlock(&api->lock);
	json_object_put(doc);
	return r;
}

/* Apply body (owned) to url as a PUT under the lock; a refusal's message goes to err. */
static int api_put_object(struct api *api, const char *url, json_object *body, char *err,
			  size_t errlen)
{
	struct answer a = {.status = 204};
	int r;

	pthread_mutex_lock(&api->lock);
	r = config_put(api, url, body, &a);
	pthread_mutex_unlock(&api->lock);
	json_object_put(a.body);
	json_object_put(body);
	if (r)
		snprintf(err, errlen, "%s", a.msg);
	return r;
}

int api_set_logger(struct api *api, const struct api_logger_args *l, char *err, size_t errlen)
{
	json_object *o = json_object_new_object();

	if (l->log_path)
		jadd_str(o, "log_path", l->log_path);
	if (l->level)
		jadd_str(o, "level", l->level);
	if (l->module)
		jadd_str(o, "module", l->module);
	if (l->show_level)
		jadd_bool(o, "show_level", true);
	if (l->show_log_origin)
		jadd_bool(o, "show_log_origin", true);
	return api_put_object(api, "/logger", o, err, errlen);
}

int api_set_metrics(struct api *api, const char *metrics_path, char *err, size_t errlen)
{
	json_object *o = json_object_new_object();

	jadd_str(o, "metrics_path", metrics_path);
	return api_put_object(api, "/metrics", o, err, errlen);
}
