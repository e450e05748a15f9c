/* SPDX-License-Identifier: MIT */
/*
 * The control API's ops, run on the VMM thread: building and starting the
 * VM, Ctrl-Alt-Del, drive rate limits, pause and resume, and metrics.
 */
#include "api/api_priv.h"
#include "core/log.h"
#include "core/util.h"
#include "migration/migration.h"
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
	if (op->kind == API_OP_MIGRATE_INCOMING) {
		api_migrate_incoming_op(api, op);
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
		int r = migration_holds_vm(api->mig) ? -EBUSY : vm_pause(vm);
		if (r == -EBUSY)
			api_fault(op, 400, "The microVM is in a migration's last phase");
		else if (r)
			api_fault(op, 400, "Cannot pause the microVM: %s",
				  r == -ESHUTDOWN ? "it is stopping" : strerror(-r));
		else
			api->state = API_PAUSED;
		break;
	}
	case API_OP_RESUME: {
		int r = migration_holds_vm(api->mig) ? -EBUSY : vm_resume(vm);
		if (r == -EBUSY)
			api_fault(op, 400, "The microVM is in a migration's last phase");
		else if (r)
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
	case API_OP_MIGRATE_INCOMING:
	default:
		api_fault(op, 500, "internal error: unexpected op %d", (int)op->kind);
		break;
	}
}
