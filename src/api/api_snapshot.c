/* SPDX-License-Identifier: MIT */
/* The control API's snapshot ops, run on the VMM thread: PUT /snapshot/create and /snapshot/load.
 */
#include "api/api_priv.h"
#include "snapshot/snapshot.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <string.h>

void api_snapshot_create(struct api *api, struct api_op *op)
{
	char err[512] = "";

	if (!api->vm || !vm_is_paused(api->vm)) {
		api_fault(op, 400, "The microVM must be paused to create a snapshot");
		return;
	}
	if (snapshot_create_type(api->vm, op->state_path, op->mem_path, op->diff, err, sizeof(err)))
		api_fault(op, 400, "Cannot create the snapshot: %s", err);
}

void api_adopt_config(struct api *api, const struct vm_config *cfg)
{
	api->cfg.ncpus = cfg->ncpus;
	api->cfg.mem_size = cfg->mem_size;
	api->cfg.rng = cfg->rng;
	api->cfg.virtio_console = cfg->virtio_console;
	api->cfg.transport = cfg->transport;
	snprintf(api->cfg.id, sizeof(api->cfg.id), "%s", cfg->id);
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		api->cfg.disks[i] = cfg->disks[i];
		api->start_drive[i] = i;
	}
	api->cfg.ndisks = cfg->ndisks;
	for (unsigned i = 0; i < cfg->nnics; i++) {
		api->cfg.nics[i] = cfg->nics[i];
		if (!api->nic_id[i][0])
			snprintf(api->nic_id[i], sizeof(api->nic_id[i]), "net%u", i);
	}
	api->cfg.nnics = cfg->nnics;
	api->start_cfg = *cfg;
}

void api_snapshot_load(struct api *api, struct api_op *op)
{
	struct vm_config cfg, local;
	char err[512] = "";
	struct vm *vm;

	if (api->state != API_NOT_STARTED || api->vm) {
		api_fault(op, 400, "Loading a snapshot is only allowed before the microVM starts");
		return;
	}
	local = api->cfg;
	local.track_dirty_pages = op->track_dirty;
	vm = snapshot_restore(op->state_path, op->mem_path, &local, &cfg, err, sizeof(err));
	if (!vm) {
		config_free(&cfg);
		api_fault(op, 400, "Cannot load the snapshot: %s", err);
		return;
	}
	/*
	 * The API owns the restored configuration's strings from now on (they
	 * are freed with its own); the memory file is mapped, its name (the
	 * request's) is not kept.
	 */
	cfg.restore_mem_path = NULL;
	vm->cfg.restore_mem_path = NULL;
	api->cfg.track_dirty_pages = api->track_dirty_pages = cfg.track_dirty_pages;
	for (unsigned i = 0; i < cfg.nnics; i++)
		snprintf(api->nic_id[i], sizeof(api->nic_id[i]), "net%u", i);
	api_adopt_config(api, &cfg);
	api->vm = vm;
	if (op->resume) {
		vm_resume(vm);
		api->state = API_RUNNING;
	} else {
		api->state = API_PAUSED;
	}
	op->status = 204;
}
