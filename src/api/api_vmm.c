/* SPDX-License-Identifier: MIT */
/*
 * The control API's ops, run on the VMM thread: building and starting the
 * VM, Ctrl-Alt-Del, drive rate limits, pause and resume, and metrics.
 */
#include "api/api_priv.h"
#include "core/log.h"
#include "core/util.h"
#include "vmm/vm.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * The configuration the VM is built from: the root drive first (so that it
 * is /dev/vda, as Firecracker orders it) and its root= on the command line.
 */
static int api_build_start_cfg(struct api *api, char *err, size_t errlen)
{
	struct vm_config *c = &api->start_cfg;
	const char *base = api->cfg.cmdline ? api->cfg.cmdline : "";
	char root[API_PARTUUID_MAX + 32] = "";
	unsigned n = 0;

	*c = api->cfg;
	for (unsigned i = 0; i < api->cfg.ndisks; i++) {
		if (api->drive[i].root) {
			api->start_drive[n++] = i;
			if (api->drive[i].partuuid[0])
				snprintf(root, sizeof(root), " root=PARTUUID=%s %s",
					 api->drive[i].partuuid,
					 api->cfg.disks[i].readonly ? "ro" : "rw");
			else
				snprintf(root, sizeof(root), " root=/dev/vda %s",
					 api->cfg.disks[i].readonly ? "ro" : "rw");
		}
	}
	for (unsigned i = 0; i < api->cfg.ndisks; i++)
		if (!api->drive[i].root)
			api->start_drive[n++] = i;
	for (unsigned i = 0; i < n; i++)
		c->disks[i] = api->cfg.disks[api->start_drive[i]];
	free(api->start_cmdline);
	if (asprintf(&api->start_cmdline, "%s%s", base, root) < 0) {
		api->start_cmdline = NULL;
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->cmdline = api->start_cmdline;
	return 0;
}

static void api_op_start(struct api *api, struct api_op *op)
{
	char err[512] = "";
	struct vm *vm;

	if (api->state != API_NOT_STARTED) {
		api_fault(op, 400, "The microVM is already running");
		return;
	}
	if (api_build_start_cfg(api, err, sizeof(err))) {
		api_fault(op, 400, "Cannot start the microVM: %s", err);
		return;
	}
	vm = vm_create(&api->start_cfg, err, sizeof(err));
	if (!vm) {
		api_fault(op, 400, "Cannot start the microVM: %s", err);
		return;
	}
	api->vm = vm;
	api->state = API_RUNNING;
	op->status = 204;
}

struct vm *api_start_vm(struct api *api, char *err, size_t errlen)
{
	struct api_op op = {.kind = API_OP_START};
	struct vm *vm;

	pthread_mutex_lock(&api->lock);
	if (api->boot_set)
		api_op_start(api, &op);
	else
		api_fault(&op, 400, "no boot source is configured");
	vm = op.status < 400 ? api->vm : NULL;
	pthread_mutex_unlock(&api->lock);
	if (!vm)
		snprintf(err, errlen, "%s", op.msg);
	return vm;
}

void api_run_op(struct api *api, struct api_op *op)
{
	struct vm *vm = api->vm;

	op->status = 204;
	if (op->kind == API_OP_START) {
		api_op_start(api, op);
		return;
	}
	if (op->kind == API_OP_SNAPSHOT_LOAD) {
		api_snapshot_load(api, op);
		return;
	}
	if (op->kind == API_OP_FLUSH_METRICS) {
		int r = api_write_metrics(api);
		if (r)
			api_fault(op, 400, "Cannot write the metrics: %s", strerror(-r));
		return;
	}
	if (!vm) {
		api_fault(op, 400, "The microVM is not running");
		return;
	}
	switch (op->kind) {
	case API_OP_CTRL_ALT_DEL:
		if (!i8042_send_ctrl_alt_del(&vm->i8042))
			api_fault(op, 400,
				  "The guest's keyboard does not take keys now (scanning disabled "
				  "or its buffer full)");
		break;
	case API_OP_DRIVE_LIMITS:
		if (op->disk >= vm->virtio.nr_blk || !vm->virtio.blk[op->disk]) {
			api_fault(op, 400, "The drive is not attached");
			break;
		}
		virtio_blk_set_rate_limits(vm->virtio.blk[op->disk], op->has_ops ? &op->ops : NULL,
					   op->has_bytes ? &op->bytes : NULL);
		break;
	case API_OP_NIC_LIMITS:
		if (op->nic >= vm->virtio.nr_net || !vm->virtio.net[op->nic]) {
			api_fault(op, 400, "The network interface is not attached");
			break;
		}
		virtio_net_set_rate_limits(vm->virtio.net[op->nic], op->has_rx ? &op->rx : NULL,
					   op->has_tx ? &op->tx : NULL);
		break;
	case API_OP_PAUSE: {
		int r = vm_pause(vm);
		if (r)
			api_fault(op, 400, "Cannot pause the microVM: %s",
				  r == -ESHUTDOWN ? "it is stopping" : strerror(-r));
		else
			api->state = API_PAUSED;
		break;
	}
	case API_OP_RESUME: {
		int r = vm_resume(vm);
		if (r)
			api_fault(op, 400, "Cannot resume the microVM: %s", strerror(-r));
		else
			api->state = API_RUNNING;
		break;
	}
	case API_OP_SNAPSHOT_CREATE:
		api_snapshot_create(api, op);
		break;
	case API_OP_START:
	case API_OP_FLUSH_METRICS:
	case API_OP_SNAPSHOT_LOAD:
	default:
		api_fault(op, 500, "internal error: unexpected op %d", (int)op->kind);
		break;
	}
}

/* ---- metrics --------------------------------------------------------------- */

static void jset_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static json_object *api_block_metrics(const struct virtio_blk_stats *s)
{
	json_object *o = json_object_new_object();

	jset_u64(o, "read_count", s->reads);
	jset_u64(o, "write_count", s->writes);
	jset_u64(o, "flush_count", s->flushes);
	jset_u64(o, "discard_count", s->discards);
	jset_u64(o, "write_zeroes_count", s->write_zeroes);
	jset_u64(o, "read_bytes", s->bytes_read);
	jset_u64(o, "write_bytes", s->bytes_written);
	jset_u64(o, "io_errors", s->io_errors);
	jset_u64(o, "invalid_reqs_count", s->bad_requests);
	jset_u64(o, "unsupported_count", s->unsupported);
	jset_u64(o, "rate_limiter_throttled_events", s->throttled);
	return o;
}

static json_object *api_net_metrics(const struct virtio_net_stats *s)
{
	json_object *o = json_object_new_object();

	jset_u64(o, "rx_packets_count", s->rx_packets);
	jset_u64(o, "rx_bytes_count", s->rx_bytes);
	jset_u64(o, "rx_dropped", s->rx_dropped);
	jset_u64(o, "rx_fails", s->rx_errors);
	jset_u64(o, "rx_rate_limiter_throttled", s->rx_throttled);
	jset_u64(o, "tx_packets_count", s->tx_packets);
	jset_u64(o, "tx_bytes_count", s->tx_bytes);
	jset_u64(o, "tx_dropped", s->tx_dropped);
	jset_u64(o, "tx_fails", s->tx_errors);
	jset_u64(o, "tx_rate_limiter_throttled", s->tx_throttled);
	return o;
}

/* Every counter hearth keeps, as one object. */
static json_object *api_metrics(struct api *api)
{
	json_object *m = json_object_new_object(), *o;
	struct timespec ts;
	struct vm *vm = api->vm;

	clock_gettime(CLOCK_REALTIME, &ts);
	jset_u64(m, "utc_timestamp_ms",
		 (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
	if (api->metrics_emit_id)
		json_object_object_add(m, "id", json_object_new_string(api->cfg.id));
	if (api->metrics_props)
		json_object_object_add(m, "properties", json_object_get(api->metrics_props));
	o = json_object_new_object();
	jset_u64(o, "requests", api->requests);
	jset_u64(o, "errors", api->errors);
	json_object_object_add(m, "api_server", o);
	jset_u64(m, "guest_errors", log_guest_error_count());
	if (!vm)
		return m;

	o = json_object_new_object();
	{
		uint64_t exits = 0;

		for (unsigned i = 0; vm->vcpus && i < vm->cfg.ncpus; i++)
			exits += __atomic_load_n(&vm->vcpus[i].exits, __ATOMIC_RELAXED);
		jset_u64(o, "exits_to_vmm", exits);
	}
	json_object_object_add(m, "vcpu", o);
	o = json_object_new_object();
	for (unsigned i = 0; i < vm->virtio.nr_blk; i++) {
		struct virtio_blk_stats s;
		char name[CONFIG_ID_MAX + 16];

		if (!vm->virtio.blk[i])
			continue;
		virtio_blk_get_stats(vm->virtio.blk[i], &s);
		if (vm->cfg.disks[i].id[0])
			snprintf(name, sizeof(name), "%s", vm->cfg.disks[i].id);
		else
			snprintf(name, sizeof(name), "drive%u", i);
		json_object_object_add(o, name, api_block_metrics(&s));
	}
	json_object_object_add(m, "block", o);
	o = json_object_new_object();
	for (unsigned i = 0; i < vm->virtio.nr_net; i++) {
		struct virtio_net_stats s;

		if (!vm->virtio.net[i])
			continue;
		virtio_net_get_stats(vm->virtio.net[i], &s);
		json_object_object_add(o, api->nic_id[i], api_net_metrics(&s));
	}
	json_object_object_add(m, "net", o);
	return m;
}

int api_write_metrics(struct api *api)
{
	json_object *m;
	const char *s;
	char *line;
	size_t len, off = 0;
	int r = 0;

	if (api->metrics_fd < 0)
		return -ENOENT;
	m = api_metrics(api);
	s = json_object_to_json_string_ext(m,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(s);
	line = malloc(len + 2);
	if (!line) {
		json_object_put(m);
		return -ENOMEM;
	}
	memcpy(line, s, len);
	line[len++] = '\n';
	json_object_put(m);
	while (off < len) {
		ssize_t n = write(api->metrics_fd, line + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	free(line);
	return r;
}
