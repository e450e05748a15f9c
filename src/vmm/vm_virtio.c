/* SPDX-License-Identifier: MIT */
/* The VM's virtio devices on virtio-mmio (see vm_virtio.h). */
#include "vmm/vm_virtio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/aml.h"
#include "core/kvm.h"
#include "core/log.h"
#include "core/util.h"
#include "vmm/vm.h"
#include "vmm/vm_virtio_pci.h"

static const uint32_t vm_virtio_gsis[] = {LAYOUT_GSIS_VIRTIO_MMIO};

_Static_assert(ARRAY_SIZE(vm_virtio_gsis) == LAYOUT_VIRTIO_MMIO_SLOTS,
	       "one GSI per virtio-mmio slot");
_Static_assert(LAYOUT_VIRTIO_MMIO_SLOTS <= 100, "two-digit DSDT device names");

static int vm_virtio_ioeventfd(void *opaque, uint64_t addr, uint32_t datamatch, int fd, bool assign)
{
	struct vm *vm = opaque;

	return kvm_ioeventfd(&vm->kvm, addr, 4, false, true, datamatch, fd, assign);
}

int vm_add_virtio_mmio(struct vm_virtio *vv, struct vm *vm, struct virtio_device *dev, char *err,
		       size_t errlen)
{
	unsigned slot = vv->nr_mmio;
	struct virtio_mmio *m;
	uint64_t base;
	size_t used;
	int r;

	if (slot >= LAYOUT_VIRTIO_MMIO_SLOTS) {
		snprintf(err, errlen, "too many virtio-mmio devices (at most %d)",
			 LAYOUT_VIRTIO_MMIO_SLOTS);
		return -ENOSPC;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	base = LAYOUT_VIRTIO_MMIO_BASE + slot * LAYOUT_VIRTIO_MMIO_SLOT_SIZE;
	virtio_mmio_init(m, dev, base, vm_irq(vm, vm_virtio_gsis[slot]));
	vv->mmio[slot] = m;
	vv->nr_mmio++;

	r = bus_register(&vm->mmio, base, VIRTIO_MMIO_SLOT_SIZE, &virtio_mmio_bus_ops, m);
	if (r) {
		snprintf(err, errlen, "internal error: MMIO range %#llx for %s: %s",
			 (unsigned long long)base, dev->ops->name, strerror(-r));
		return r;
	}
	vv->mmio_on_bus[slot] = true;

	r = virtio_mmio_setup_ioeventfds(m, &vm->loop, vm_virtio_ioeventfd, vm);
	if (r)
		log_warn("%s: no ioeventfds (%s); guest kicks go through MMIO exits",
			 dev->ops->name, strerror(-r));

	used = strlen(vv->fragments);
	if (used)
		vv->fragments[used++] = ' ';
	r = virtio_mmio_cmdline(m, vv->fragments + used, sizeof(vv->fragments) - used);
	if (r < 0 || (size_t)r >= sizeof(vv->fragments) - used) {
		vv->fragments[used ? used - 1 : 0] = '\0';
		snprintf(err, errlen, "internal error: virtio-mmio command line too long");
		return -ENAMETOOLONG;
	}
	log_info("%s: virtio-mmio at %#llx, GSI %u", dev->ops->name, (unsigned long long)base,
		 m->irq.gsi);
	return 0;
}

int vm_virtio_attach(struct vm_virtio *vv, struct vm *vm, struct virtio_device *dev, char *err,
		     size_t errlen)
{
	int r;

	switch (vm->cfg.transport) {
	case TRANSPORT_MMIO:
		return vm_add_virtio_mmio(vv, vm, dev, err, errlen);
	case TRANSPORT_PCI:
		break;
	}
	if (vv->nr_pci >= VM_VIRTIO_PCI_MAX) {
		snprintf(err, errlen, "too many virtio-pci devices (at most %d)",
			 VM_VIRTIO_PCI_MAX);
		return -ENOSPC;
	}
	r = vm_add_virtio_pci(vm, &vm->pci, dev, err, errlen);
	if (r < 0)
		return r;
	vv->pci[vv->nr_pci++] = dev;
	return 0;
}

int vm_virtio_add_disk(struct vm_virtio *vv, struct vm *vm, const struct disk_config *d, char *err,
		       size_t errlen)
{
	struct block_config bc = {
	    .path = d->path,
	    .readonly = d->readonly,
	    .defer_lock = vm->cfg.incoming,
	    .engine = d->engine == DISK_ENGINE_IO_URING	 ? BLOCK_ENGINE_IO_URING
		      : d->engine == DISK_ENGINE_THREADS ? BLOCK_ENGINE_THREADS
							 : BLOCK_ENGINE_AUTO,
	};
	struct virtio_blk_params p = {
	    .config = &bc,
	    .serial = d->serial,
	    .num_queues = virtio_blk_default_queues(vm->cfg.ncpus),
	    .iops = d->iops,
	    .bps = d->bps,
	    .ops_bucket = d->ops_bucket.size ? &d->ops_bucket : NULL,
	    .bytes_bucket = d->bytes_bucket.size ? &d->bytes_bucket : NULL,
	};
	struct virtio_blk *b;
	int r;

	switch (d->cache) {
	case DISK_CACHE_NONE:
		bc.cache = BLOCK_CACHE_NONE;
		break;
	case DISK_CACHE_UNSAFE:
		bc.cache = BLOCK_CACHE_UNSAFE;
		break;
	case DISK_CACHE_WRITEBACK:
	default:
		bc.cache = BLOCK_CACHE_WRITEBACK;
		break;
	}
	if (vv->nr_blk >= CONFIG_MAX_DISKS) {
		snprintf(err, errlen, "too many disks (at most %d)", CONFIG_MAX_DISKS);
		return -ENOSPC;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = virtio_blk_init(b, &p, &vm->mem, &vm->loop, err, errlen);
	if (r) {
		free(b);
		return r;
	}
	vv->blk[vv->nr_blk++] = b;
	return vm_virtio_attach(vv, vm, &b->vdev, err, errlen);
}

int vm_virtio_add_nic(struct vm_virtio *vv, struct vm *vm, const struct net_config *n, char *err,
		      size_t errlen)
{
	struct virtio_net_params p;
	struct virtio_net *net;
	unsigned i = vv->nr_net;
	char msg[256], mac[18];
	int r;

	if (i >= CONFIG_MAX_NICS) {
		snprintf(err, errlen, "too many network cards (at most %d)", CONFIG_MAX_NICS);
		return -ENOSPC;
	}
	memset(&p, 0, sizeof(p));
	r = tap_open(&vv->taps[i], n->ifname, err, errlen);
	if (r)
		return r;
	if (tap_set_up(&vv->taps[i], true, msg, sizeof(msg)))
		log_warn("%s", msg);
	if (n->has_mac)
		memcpy(p.mac, n->mac, sizeof(p.mac));
	else
		mac_addr_default(vm->cfg.id, i, p.mac);
	p.backend = (struct virtio_net_backend){vv->taps[i].fd, tap_offload_hook, &vv->taps[i]};
	p.rx_bps = n->rx.size ? &n->rx : NULL;
	p.tx_bps = n->tx.size ? &n->tx : NULL;
	net = calloc(1, sizeof(*net));
	if (!net) {
		tap_close(&vv->taps[i]);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = virtio_net_init(net, &p, &vm->mem, &vm->loop, err, errlen);
	if (r) {
		free(net);
		tap_close(&vv->taps[i]);
		return r;
	}
	vv->net[vv->nr_net++] = net;
	mac_addr_format(p.mac, mac);
	log_info("network card %u: tap %s, MAC %s", i, vv->taps[i].name, mac);
	return vm_virtio_attach(vv, vm, &net->vdev, err, errlen);
}

int vm_virtio_add_rng(struct vm_virtio *vv, struct vm *vm, char *err, size_t errlen)
{
	int r;

	if (vv->rng) {
		snprintf(err, errlen, "internal error: a second virtio-rng");
		return -EEXIST;
	}
	vv->rng = calloc(1, sizeof(*vv->rng));
	if (!vv->rng) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = virtio_rng_init(vv->rng, &vm->mem, &vm->loop, VIRTIO_RNG_DEFAULT_BPS);
	if (r) {
		free(vv->rng);
		vv->rng = NULL;
		snprintf(err, errlen, "cannot create virtio-rng: %s", strerror(-r));
		return r;
	}
	return vm_virtio_attach(vv, vm, &vv->rng->dev, err, errlen);
}

static void vm_virtio_console_tx(void *opaque, const uint8_t *buf, size_t len)
{
	struct vm *vm = opaque;

	console_write(vm->console, buf, len);
}

int vm_virtio_add_console(struct vm_virtio *vv, struct vm *vm, void (*rx_ready)(void *vm),
			  char *err, size_t errlen)
{
	int r;

	if (vv->console) {
		snprintf(err, errlen, "internal error: a second virtio-console");
		return -EEXIST;
	}
	vv->console = calloc(1, sizeof(*vv->console));
	if (!vv->console) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = virtio_console_init(vv->console, &vm->mem, &vm->loop, vm_virtio_console_tx, vm);
	if (r) {
		free(vv->console);
		vv->console = NULL;
		snprintf(err, errlen, "cannot create virtio-console: %s", strerror(-r));
		return r;
	}
	virtio_console_set_rx_ready(vv->console, rx_ready);
	return vm_virtio_attach(vv, vm, &vv->console->dev, err, errlen);
}

const char *vm_virtio_cmdline(struct vm_virtio *vv, const char *base)
{
	size_t n;

	if (!base)
		base = "";
	free(vv->cmdline);
	n = strlen(base) + 1 + strlen(vv->fragments) + 1;
	vv->cmdline = malloc(n);
	if (!vv->cmdline)
		return NULL;
	snprintf(vv->cmdline, n, "%s%s%s", base, *base && vv->fragments[0] ? " " : "",
		 vv->fragments);
	return vv->cmdline;
}

/* Memory32Fixed (ReadWrite, base, len): ACPI 6.4, 6.4.3.4. */
static void aml_memory32_fixed(struct aml *a, uint32_t base, uint32_t len)
{
	aml_u8(a, 0x86);
	aml_u16(a, 9);
	aml_u8(a, 1); /* read-write */
	aml_u32(a, base);
	aml_u32(a, len);
}

int vm_virtio_acpi_dsdt(struct vm_virtio *vv, struct aml *aml)
{
	for (unsigned i = 0; i < vv->nr_mmio; i++) {
		const struct virtio_mmio *m = vv->mmio[i];
		/* i < LAYOUT_VIRTIO_MMIO_SLOTS <= 100: two digits. */
		char name[5] = {'V', 'R', (char)('0' + i / 10 % 10), (char)('0' + i % 10), '\0'};
		size_t dev, crs;

		dev = aml_device_begin(aml, name);
		aml_name_str(aml, "_HID", "LNRO0005");
		aml_name_integer(aml, "_UID", i);
		aml_name_decl(aml, "_CRS");
		crs = aml_resource_template_begin(aml);
		aml_memory32_fixed(aml, (uint32_t)m->base, VIRTIO_MMIO_SLOT_SIZE);
		aml_interrupt(aml, true, true, false, false, &m->irq.gsi, 1);
		aml_resource_template_end(aml, crs);
		aml_end(aml, dev);
	}
	return aml_error(aml);
}

static int vm_virtio_dsdt_hook(struct aml *aml, void *opaque)
{
	struct vm_virtio *vv = opaque;
	int r = 0;

	if (vv->next_dsdt_hook)
		r = vv->next_dsdt_hook(aml, vv->next_dsdt_opaque);
	return r < 0 ? r : vm_virtio_acpi_dsdt(vv, aml);
}

void vm_virtio_acpi_options(struct vm_virtio *vv, struct acpi_options *o)
{
	if (o->dsdt_sb_hook == vm_virtio_dsdt_hook)
		return;
	vv->next_dsdt_hook = o->dsdt_sb_hook;
	vv->next_dsdt_opaque = o->opaque;
	o->dsdt_sb_hook = vm_virtio_dsdt_hook;
	o->opaque = vv;
}

void vm_virtio_destroy(struct vm_virtio *vv, struct vm *vm)
{
	for (unsigned i = 0; i < vv->nr_pci; i++)
		vm_remove_virtio_pci(vv->pci[i]);
	vv->nr_pci = 0;
	for (unsigned i = 0; i < vv->nr_mmio; i++) {
		struct virtio_mmio *m = vv->mmio[i];

		if (!m)
			continue;
		virtio_mmio_destroy(m);
		if (vv->mmio_on_bus[i])
			bus_unregister(&vm->mmio, m->base);
		vv->mmio_on_bus[i] = false;
	}
	if (vv->rng) {
		virtio_rng_destroy(vv->rng);
		free(vv->rng);
		vv->rng = NULL;
	}
	if (vv->console) {
		virtio_console_destroy(vv->console);
		free(vv->console);
		vv->console = NULL;
	}
	for (unsigned i = 0; i < vv->nr_blk; i++) {
		virtio_blk_destroy(vv->blk[i]);
		free(vv->blk[i]);
		vv->blk[i] = NULL;
	}
	vv->nr_blk = 0;
	for (unsigned i = 0; i < vv->nr_net; i++) {
		virtio_net_destroy(vv->net[i]);
		free(vv->net[i]);
		vv->net[i] = NULL;
		tap_close(&vv->taps[i]);
	}
	vv->nr_net = 0;
	for (unsigned i = 0; i < vv->nr_mmio; i++) {
		free(vv->mmio[i]);
		vv->mmio[i] = NULL;
	}
	vv->nr_mmio = 0;
	vv->fragments[0] = '\0';
	free(vv->cmdline);
	vv->cmdline = NULL;
}
