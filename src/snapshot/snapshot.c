/* SPDX-License-Identifier: MIT */
/* Creating a full snapshot of a paused VM, and building a VM from one. */
#include "snapshot/snapshot.h"
#include "core/log.h"
#include "core/util.h"
#include "snapshot/snapshot_priv.h"
#include "vmm/dirty_ring.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- finding devices ---------------------------------------------------- */

/* The virtio device of kind/index in vm, or NULL. */
static struct virtio_device *snap_find_dev(struct vm *vm, uint32_t kind, uint32_t index)
{
	struct vm_virtio *vv = &vm->virtio;

	switch ((enum snap_virtio_kind)kind) {
	case SNAP_VIRTIO_BLK:
		return index < vv->nr_blk ? &vv->blk[index]->vdev : NULL;
	case SNAP_VIRTIO_NET:
		return index < vv->nr_net ? &vv->net[index]->vdev : NULL;
	case SNAP_VIRTIO_RNG:
		return index == 0 && vv->rng ? &vv->rng->dev : NULL;
	case SNAP_VIRTIO_CONSOLE:
		return index == 0 && vv->console ? &vv->console->dev : NULL;
	}
	return NULL;
}

/* The virtio-mmio transport of dev, or NULL. */
static struct virtio_mmio *snap_find_mmio(struct vm *vm, const struct virtio_device *dev)
{
	for (unsigned i = 0; i < vm->virtio.nr_mmio; i++)
		if (vm->virtio.mmio[i] && vm->virtio.mmio[i]->dev == dev)
			return vm->virtio.mmio[i];
	return NULL;
}

/* kind and index of dev in vm; false when it is none of the known ones. */
static bool snap_identify(struct vm *vm, const struct virtio_device *dev, uint32_t *kind,
			  uint32_t *index)
{
	static const uint32_t kinds[] = {SNAP_VIRTIO_BLK, SNAP_VIRTIO_NET, SNAP_VIRTIO_RNG,
					 SNAP_VIRTIO_CONSOLE};

	for (unsigned k = 0; k < ARRAY_SIZE(kinds); k++)
		for (uint32_t i = 0; i < CONFIG_MAX_DISKS; i++)
			if (snap_find_dev(vm, kinds[k], i) == dev) {
				*kind = kinds[k];
				*index = i;
				return true;
			}
	return false;
}

/* ---- creating ------------------------------------------------------------ */

#define SNAP_CHUNK (1ULL << 20) /* guest memory is hashed and written this much at a time */

/* A growing output buffer. */
struct snap_buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
	uint32_t nsections;
};

static void buf_put(struct snap_buf *b, const void *data, size_t len)
{
	if (b->oom)
		return;
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		uint8_t *p;

		while (cap < b->len + len)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void buf_section(struct snap_buf *b, uint32_t type, uint32_t instance, const void *data,
			size_t len)
{
	static const uint8_t pad[8];
	struct snap_section_hdr sh = {.type = type, .instance = instance, .len = len};

	buf_put(b, &sh, sizeof(sh));
	buf_put(b, data, len);
	buf_put(b, pad, (8 - len % 8) % 8);
	b->nsections++;
}

static int write_file(const char *path, const void *data, size_t len)
{
	const uint8_t *p = data;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int r = 0;

	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
	return r;
}

bool snap_page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;

	for (unsigned i = 0; i < GM_PAGE_SIZE / 8; i++)
		if (w[i])
			return false;
	return true;
}

static int pwrite_all(int fd, const uint8_t *p, uint64_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len > (1 << 30) ? (1 << 30) : (size_t)len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

static bool bit_test(const uint64_t *map, uint64_t i)
{
	return (map[i / 64] >> (i % 64)) & 1;
}

/*
 * Write guest RAM (pages of zeros as holes) and the trailer to path, and
 * hash the RAM into sum. With dirty (one bitmap per region), only the
 * pages marked there are written, zero or not, and the trailer says diff.
 */
static int snap_write_memory(struct vm *vm, const char *path, const uint8_t id[SNAP_ID_BYTES],
			     uint8_t sum[SNAP_HASH_BYTES], uint64_t *const *dirty)
{
	struct snap_mem_trailer t;
	uint8_t page[SNAP_MEM_TRAILER] = {0};
	uint64_t off = 0, total = gm_total_size(&vm->mem);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	int fd, r = 0;

	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		EVP_MD_CTX_free(ctx);
		return -errno;
	}
	if (ftruncate(fd, (off_t)(total + SNAP_MEM_TRAILER)) < 0) {
		r = -errno;
		goto out;
	}
	for (unsigned i = 0; i < vm->mem.nr && !r; i++) {
		const struct gm_region *g = &vm->mem.regions[i];

		/*
		 * A chunk at a time, so that it is still in the CPU's caches when
		 * hashed, scanned and written: runs of non-zero pages are written,
		 * zero pages stay holes.
		 */
		for (uint64_t c = 0; c < g->size && !r; c += SNAP_CHUNK) {
			uint64_t len = g->size - c < SNAP_CHUNK ? g->size - c : SNAP_CHUNK;
			uint64_t run = 0, pages = len / GM_PAGE_SIZE;
			const uint8_t *p = g->hva + c;

			EVP_DigestUpdate(ctx, p, len);
			for (uint64_t pg = 0; pg <= pages && !r; pg++) {
				bool want = pg < pages &&
					    (dirty ? bit_test(dirty[i], c / GM_PAGE_SIZE + pg)
						   : !snap_page_is_zero(p + pg * GM_PAGE_SIZE));

				if (want) {
					run++;
					continue;
				}
				if (run)
					r = pwrite_all(fd, p + (pg - run) * GM_PAGE_SIZE,
						       run * GM_PAGE_SIZE,
						       off + c + (pg - run) * GM_PAGE_SIZE);
				run = 0;
			}
		}
		off += g->size;
	}
	if (r)
		goto out;
	memset(&t, 0, sizeof(t));
	memcpy(t.magic, SNAP_MEM_MAGIC, sizeof(t.magic));
	t.version = SNAP_VERSION;
	t.flags = dirty ? SNAP_MEM_DIFF : 0;
	t.mem_size = total;
	memcpy(t.id, id, SNAP_ID_BYTES);
	memcpy(page, &t, sizeof(t));
	r = pwrite_all(fd, page, sizeof(page), total);
	/*
	 * Neither file is synced to disk: that would take most of the creation
	 * time (disks write far slower than memory is copied; syncing even the
	 * small state file waits for the memory file's blocks on ext4), as for
	 * the page cache's other files. The SHA-256s tell a file that did not
	 * reach the disk whole (hearth snapshot verify).
	 */
	if (!r && EVP_DigestFinal_ex(ctx, sum, &n) != 1)
		r = -EIO;
out:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return r;
}

/* Save every virtio device into s (each device's lock taken in turn). */
static int snap_save_virtio(struct vm *vm, struct snapshot *s, char *err, size_t errlen)
{
	unsigned nmmio = vm->virtio.nr_mmio;

	if (vm->virtio.nr_pci) {
		s->pci_host = calloc(1, sizeof(*s->pci_host));
		s->vpci = calloc(SNAP_MAX_VIRTIO, sizeof(*s->vpci));
		if (!s->pci_host || !s->vpci) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		pci_host_save(&vm->pci.host, s->pci_host);
	}
	for (unsigned i = 0; i < nmmio + vm->virtio.nr_pci; i++) {
		struct virtio_mmio *m = i < nmmio ? vm->virtio.mmio[i] : NULL;
		struct virtio_pci *vp = NULL;
		struct snap_virtio *v;
		struct virtio_device *dev;
		int r;

		if (i < nmmio && !m)
			continue;
		dev = m ? m->dev : vm->virtio.pci[i - nmmio];
		if (!m) {
			vp = virtio_pci_of(dev);
			if (!vp) {
				snprintf(err, errlen, "virtio device %s has no transport",
					 dev->ops->name);
				return -ENOTSUP;
			}
		}
		if (s->nvirtio >= SNAP_MAX_VIRTIO) {
			snprintf(err, errlen, "too many virtio devices");
			return -E2BIG;
		}
		v = &s->virtio[s->nvirtio];
		memset(v, 0, sizeof(*v));
		if (!snap_identify(vm, dev, &v->kind, &v->index)) {
			snprintf(err, errlen, "virtio device %s cannot be saved", dev->ops->name);
			return -ENOTSUP;
		}
		v->transport = m ? TRANSPORT_MMIO : TRANSPORT_PCI;
		if (vp) {
			r = virtio_pci_save(vp, &s->vpci[s->nvirtio]);
			if (r) {
				snprintf(err, errlen, "%s: too many MSI-X vectors to save",
					 dev->ops->name);
				return r;
			}
		}
		if (v->kind == SNAP_VIRTIO_BLK) {
			r = virtio_blk_save(vm->virtio.blk[v->index], &v->blk);
			if (r) {
				snprintf(err, errlen, "disk %u has requests in flight", v->index);
				return r;
			}
		}
		if (v->kind == SNAP_VIRTIO_NET)
			virtio_net_save(vm->virtio.net[v->index], &v->net);
		virtio_device_lock(dev);
		virtio_device_save(dev, &v->core);
		if (m)
			virtio_mmio_save(m, &v->mmio);
		if (v->kind == SNAP_VIRTIO_RNG && vm->virtio.rng->have_chain) {
			/* The chain it holds goes back to the ring: taken again after restore. */
			v->core.queues[0].last_avail_idx--;
		}
		virtio_device_unlock(dev);
		s->nvirtio++;
	}
	return 0;
}

static void snap_fill_machine(struct vm *vm, struct snapshot *s)
{
	struct snap_machine *m = &s->machine;
	const struct vm_config *c = &vm->cfg;

	snprintf(m->id, sizeof(m->id), "%s", c->id);
	m->ncpus = c->ncpus;
	m->transport = c->transport;
	m->mem_size = c->mem_size;
	m->low_ram_end = vm->layout.low_ram_end;
	m->high_ram_size = vm->layout.high_ram_size;
	m->rng = c->rng;
	m->virtio_console = c->virtio_console;
	m->phys_bits = vm->layout.phys_bits;
	m->ndisks = c->ndisks;
	m->nnics = c->nnics;
	m->tsc_khz = vm->tsc_khz;
	m->xsave_size = vm->cpu.xsave_size;
	snprintf(m->vendor, sizeof(m->vendor), "%s", vm->cpu.vendor);
	for (unsigned i = 0; i < c->ndisks; i++) {
		struct snap_disk *d = &s->disks[i];
		const struct disk_config *dc = &c->disks[i];

		snprintf(d->path, sizeof(d->path), "%s", dc->path);
		snprintf(d->serial, sizeof(d->serial), "%s", dc->serial);
		snprintf(d->id, sizeof(d->id), "%s", dc->id);
		d->readonly = dc->readonly;
		d->cache = (uint8_t)dc->cache;
		d->engine = (uint8_t)dc->engine;
		d->iops = dc->iops;
		d->bps = dc->bps;
		d->ops_bucket = dc->ops_bucket;
		d->bytes_bucket = dc->bytes_bucket;
	}
	for (unsigned i = 0; i < c->nnics; i++) {
		struct snap_nic *n = &s->nics[i];

		snprintf(n->ifname, sizeof(n->ifname), "%s", c->nics[i].ifname);
		n->has_mac = c->nics[i].has_mac;
		memcpy(n->mac, c->nics[i].mac, sizeof(n->mac));
		n->rx = c->nics[i].rx;
		n->tx = c->nics[i].tx;
	}
}

int snap_describe(struct vm *vm, struct snapshot *s, char *err, size_t errlen)
{
	s->disks = calloc(CONFIG_MAX_DISKS, sizeof(*s->disks));
	s->cpuid = calloc(CPU_MODEL_MAX_ENTRIES, sizeof(*s->cpuid));
	if (!s->disks || !s->cpuid) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snap_fill_machine(vm, s);
	s->machine.ncpuid = cpu_model_vcpu_cpuid(&vm->cpu, 0, vm->cfg.ncpus, s->cpuid);
	return 0;
}

int snap_capture(struct vm *vm, struct snapshot *s, char *err, size_t errlen)
{
	int r = snap_describe(vm, s, err, errlen);

	if (r)
		return r;
	s->vcpus = calloc(vm->cfg.ncpus, sizeof(*s->vcpus));
	if (!s->vcpus) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < vm->cfg.ncpus; i++) {
		r = vcpu_state_save(&vm->vcpus[i], &s->vcpus[i]);
		if (r) {
			snprintf(err, errlen, "cannot save vCPU %u: %s", i, strerror(-r));
			return r;
		}
	}
	r = irqchip_state_save(vm, &s->irqchip);
	if (r) {
		snprintf(err, errlen, "cannot save the irqchip: %s", strerror(-r));
		return r;
	}
	ns16550_save(&vm->uart, &s->uart);
	i8042_save(&vm->i8042, &s->i8042);
	mc146818_save(&vm->rtc, &s->rtc);
	acpi_pm_save(&vm->pm, &s->pm);
	return snap_save_virtio(vm, s, err, errlen);
}

/* Serialize s into b (header, sections, checksum). */
static int snap_serialize_into(const struct snapshot *s, struct snap_buf *b)
{
	const struct snap_machine *m = &s->machine;
	struct snap_header h = s->hdr;
	uint8_t sum[SNAP_HASH_BYTES];

	buf_put(b, &h, sizeof(h));
	buf_section(b, SNAP_SEC_MACHINE, 0, m, sizeof(*m));
	buf_section(b, SNAP_SEC_CPUID, 0, s->cpuid, m->ncpuid * sizeof(*s->cpuid));
	for (unsigned i = 0; i < m->ndisks; i++)
		buf_section(b, SNAP_SEC_DISK, i, &s->disks[i], sizeof(s->disks[i]));
	for (unsigned i = 0; i < m->nnics; i++)
		buf_section(b, SNAP_SEC_NIC, i, &s->nics[i], sizeof(s->nics[i]));
	for (unsigned i = 0; i < m->ncpus; i++)
		buf_section(b, SNAP_SEC_VCPU, i, &s->vcpus[i], sizeof(s->vcpus[i]));
	buf_section(b, SNAP_SEC_IRQCHIP, 0, &s->irqchip, sizeof(s->irqchip));
	buf_section(b, SNAP_SEC_UART, 0, &s->uart, sizeof(s->uart));
	buf_section(b, SNAP_SEC_I8042, 0, &s->i8042, sizeof(s->i8042));
	buf_section(b, SNAP_SEC_RTC, 0, &s->rtc, sizeof(s->rtc));
	buf_section(b, SNAP_SEC_ACPI_PM, 0, &s->pm, sizeof(s->pm));
	if (s->pci_host)
		buf_section(b, SNAP_SEC_PCI_HOST, 0, s->pci_host, sizeof(*s->pci_host));
	for (unsigned i = 0; i < s->nvirtio; i++) {
		buf_section(b, SNAP_SEC_VIRTIO, i, &s->virtio[i], sizeof(s->virtio[i]));
		if (s->vpci && s->virtio[i].transport == TRANSPORT_PCI)
			buf_section(b, SNAP_SEC_VIRTIO_PCI, i, &s->vpci[i], sizeof(s->vpci[i]));
	}
	if (b->oom)
		return -ENOMEM;
	/* The header now knows the section count and the file's length. */
	h.nsections = b->nsections;
	h.file_size = b->len + SNAP_HASH_BYTES;
	memcpy(b->p, &h, sizeof(h));
	if (snap_sha256(b->p, b->len, sum))
		return -EIO;
	buf_put(b, sum, sizeof(sum));
	return b->oom ? -ENOMEM : 0;
}

int snap_serialize(const struct snapshot *s, uint8_t **out, size_t *len)
{
	struct snap_buf b = {0};
	int r = snap_serialize_into(s, &b);

	if (r) {
		free(b.p);
		return r;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

/* Words of a dirty bitmap for a region of size bytes. */
static size_t dirty_words(uint64_t size)
{
	return (size_t)((size / GM_PAGE_SIZE + 63) / 64);
}

int snap_take_dirty(struct vm *vm, uint64_t **dirty, char *err, size_t errlen)
{
	/* With dirty rings, the vCPUs' pages join hearth's in the regions' bitmaps. */
	int r = dirty_ring_collect(vm);

	if (r) {
		snprintf(err, errlen, "KVM_RESET_DIRTY_RINGS: %s", strerror(-r));
		return r;
	}
	for (unsigned i = 0; i < vm->mem.nr; i++) {
		struct gm_region *g = &vm->mem.regions[i];
		size_t n = dirty_words(g->size);

		dirty[i] = calloc(n, sizeof(uint64_t));
		if (!dirty[i]) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		r = vm->kvm.dirty_ring_entries ? 0 : kvm_get_dirty_log(&vm->kvm, g->slot, dirty[i]);
		if (r) {
			snprintf(err, errlen, "KVM_GET_DIRTY_LOG of slot %u: %s", g->slot,
				 strerror(-r));
			return r;
		}
		for (size_t w = 0; w < n; w++)
			dirty[i][w] |= atomic_exchange((_Atomic uint64_t *)&g->dirty[w], 0);
	}
	return 0;
}

/* A snapshot failed: its pages stay dirty for the next one. */
static void snap_keep_dirty(struct vm *vm, uint64_t *const *dirty)
{
	for (unsigned i = 0; i < vm->mem.nr; i++) {
		struct gm_region *g = &vm->mem.regions[i];

		for (size_t w = 0; dirty[i] && w < dirty_words(g->size); w++)
			atomic_fetch_or((_Atomic uint64_t *)&g->dirty[w], dirty[i][w]);
	}
}

int snapshot_create(struct vm *vm, const char *state_path, const char *mem_path, char *err,
		    size_t errlen)
{
	return snapshot_create_type(vm, state_path, mem_path, false, err, errlen);
}

int snapshot_create_type(struct vm *vm, const char *state_path, const char *mem_path, bool diff,
			 char *err, size_t errlen)
{
	uint64_t *dirty[GM_MAX_REGIONS] = {0};
	bool track = vm->cfg.track_dirty_pages && vm->mem.track_dirty;
	struct snapshot s;
	struct snap_buf b = {0};
	char *state_tmp = NULL, *mem_tmp = NULL;
	int r;

	memset(&s, 0, sizeof(s));
	if (!vm_vcpus_stopped(vm)) {
		snprintf(err, errlen, "the VM must be paused to create a snapshot");
		return -EBUSY;
	}
	if (diff && !track) {
		snprintf(err, errlen,
			 "a Diff snapshot needs dirty page tracking (machine-config "
			 "track_dirty_pages true before the start)");
		return -EINVAL;
	}
	if (asprintf(&state_tmp, "%s.tmp", state_path) < 0 ||
	    asprintf(&mem_tmp, "%s.tmp", mem_path) < 0) {
		state_tmp = mem_tmp = NULL;
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	r = snap_capture(vm, &s, err, errlen);
	if (r)
		goto out;
	memcpy(s.hdr.magic, SNAP_MAGIC, sizeof(s.hdr.magic));
	s.hdr.version = SNAP_VERSION;
	s.hdr.header_size = sizeof(s.hdr);
	s.hdr.mem_size = gm_total_size(&vm->mem);
	if (getrandom(s.hdr.id, sizeof(s.hdr.id), 0) != (ssize_t)sizeof(s.hdr.id)) {
		r = -EIO;
		snprintf(err, errlen, "getrandom failed");
		goto out;
	}
	if (track) {
		r = snap_take_dirty(vm, dirty, err, errlen);
		if (r)
			goto out;
	}
	r = snap_write_memory(vm, mem_tmp, s.hdr.id, s.hdr.mem_sha256, diff ? dirty : NULL);
	if (r) {
		snprintf(err, errlen, "cannot write memory file %s: %s", mem_path, strerror(-r));
		goto out_unlink;
	}
	r = snap_serialize_into(&s, &b);
	if (r) {
		snprintf(err, errlen, "cannot build the state file: %s", strerror(-r));
		goto out_unlink;
	}
	r = write_file(state_tmp, b.p, b.len);
	if (r) {
		snprintf(err, errlen, "cannot write state file %s: %s", state_path, strerror(-r));
		goto out_unlink;
	}
	if (rename(mem_tmp, mem_path) < 0 || rename(state_tmp, state_path) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot rename the snapshot files into place: %s",
			 strerror(errno));
		goto out_unlink;
	}
	log_info("snapshot: %zu bytes of state in %s, %llu MiB of memory in %s", b.len, state_path,
		 (unsigned long long)(s.hdr.mem_size >> 20), mem_path);
	goto out;
out_unlink:
	unlink(mem_tmp);
	unlink(state_tmp);
out:
	if (r && track)
		snap_keep_dirty(vm, dirty);
	for (unsigned i = 0; i < GM_MAX_REGIONS; i++)
		free(dirty[i]);
	free(b.p);
	free(state_tmp);
	free(mem_tmp);
	snapshot_free(&s);
	return r;
}

/* ---- restoring ----------------------------------------------------------- */

static const char *const cpuid_reg_names[] = {"EAX", "EBX", "ECX", "EDX"};

int snap_check_cpu(struct vm *vm, const struct snapshot *s, char *err, size_t errlen)
{
	struct kvm_cpuid_entry2 *host = calloc(CPU_MODEL_MAX_ENTRIES, sizeof(*host));
	unsigned nent;
	int r = 0;

	if (!host) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	nent = cpu_model_vcpu_cpuid(&vm->cpu, 0, vm->cfg.ncpus, host);
	for (unsigned i = 0; i < s->machine.ncpuid && !r; i++) {
		const struct kvm_cpuid_entry2 *want = &s->cpuid[i];
		const struct kvm_cpuid_entry2 *have =
		    cpu_model_find(host, nent, want->function, want->index);
		uint32_t w[4] = {want->eax, want->ebx, want->ecx, want->edx};

		if (!have) {
			snprintf(err, errlen,
				 "the host CPU differs: CPUID leaf %#x subleaf %u is missing",
				 want->function, want->index);
			r = -EINVAL;
			break;
		}
		{
			uint32_t h[4] = {have->eax, have->ebx, have->ecx, have->edx};
			for (unsigned k = 0; k < 4; k++)
				if (w[k] != h[k]) {
					snprintf(
					    err, errlen,
					    "the host CPU differs: CPUID leaf %#x subleaf %u %s "
					    "is %#x here, %#x in the snapshot",
					    want->function, want->index, cpuid_reg_names[k], h[k],
					    w[k]);
					r = -EINVAL;
					break;
				}
		}
	}
	free(host);
	if (r)
		return r;
	if (vm->cpu.xsave_size < s->machine.xsave_size) {
		snprintf(err, errlen,
			 "the host CPU differs: XSAVE area %u bytes here, %u in the "
			 "snapshot",
			 vm->cpu.xsave_size, s->machine.xsave_size);
		return -EINVAL;
	}
	if (s->machine.tsc_khz && vm->tsc_khz != s->machine.tsc_khz &&
	    kvm_check_extension(&vm->kvm, KVM_CAP_TSC_CONTROL) <= 0) {
		snprintf(err, errlen,
			 "the host CPU differs: TSC %u kHz here, %u kHz in the "
			 "snapshot, and KVM cannot scale it",
			 vm->tsc_khz, s->machine.tsc_khz);
		return -EINVAL;
	}
	return 0;
}

int snap_build_config(const struct snapshot *s, const struct vm_config *local, const char *mem_path,
		      struct vm_config *c, char *err, size_t errlen)
{
	const struct snap_machine *m = &s->machine;

	if (local)
		*c = *local;
	else
		config_init_defaults(c);
	/* Dirty page tracking is asked for at load (PUT /snapshot/load), not saved. */
	c->track_dirty_pages = local ? local->track_dirty_pages : false;
	c->ndisks = c->nnics = 0;
	snprintf(c->id, sizeof(c->id), "%.*s", CONFIG_ID_MAX, m->id);
	c->kernel_path = c->initrd_path = c->cmdline = NULL;
	c->ncpus = m->ncpus;
	c->mem_size = m->mem_size;
	c->transport = (enum virtio_transport_kind)m->transport;
	c->rng = m->rng;
	c->virtio_console = m->virtio_console;
	c->restore_mem_path = mem_path;
	for (unsigned i = 0; i < m->ndisks; i++) {
		struct disk_config *d = &c->disks[i];
		const struct snap_disk *sd = &s->disks[i];

		memset(d, 0, sizeof(*d));
		d->path = strdup(sd->path);
		if (!d->path) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		c->ndisks++;
		d->readonly = sd->readonly;
		d->cache = (enum disk_cache)sd->cache;
		d->engine = (enum disk_engine)sd->engine;
		snprintf(d->serial, sizeof(d->serial), "%.*s", CONFIG_SERIAL_MAX, sd->serial);
		snprintf(d->id, sizeof(d->id), "%.*s", CONFIG_ID_MAX, sd->id);
		d->iops = sd->iops;
		d->bps = sd->bps;
		d->ops_bucket = sd->ops_bucket;
		d->bytes_bucket = sd->bytes_bucket;
	}
	for (unsigned i = 0; i < m->nnics; i++) {
		struct net_config *n = &c->nics[i];
		const struct snap_nic *sn = &s->nics[i];

		memset(n, 0, sizeof(*n));
		snprintf(n->ifname, sizeof(n->ifname), "%s", sn->ifname);
		n->has_mac = sn->has_mac;
		memcpy(n->mac, sn->mac, sizeof(n->mac));
		n->rx = sn->rx;
		n->tx = sn->tx;
	}
	c->nnics = m->nnics;
	return 0;
}

static int snap_restore_virtio(struct vm *vm, const struct snapshot *s, char *err, size_t errlen)
{
	for (unsigned i = 0; i < s->nvirtio; i++) {
		const struct snap_virtio *v = &s->virtio[i];
		struct virtio_device *dev = snap_find_dev(vm, v->kind, v->index);
		struct virtio_mmio *m = dev ? snap_find_mmio(vm, dev) : NULL;
		struct virtio_pci *vp = dev ? virtio_pci_of(dev) : NULL;
		int r;

		if (!dev || (v->transport == TRANSPORT_MMIO ? !m : !vp || !s->vpci)) {
			snprintf(err, errlen,
				 "virtio device %u (kind %u) is not in the restored VM", i,
				 v->kind);
			return -EINVAL;
		}
		if (v->kind == SNAP_VIRTIO_BLK &&
		    virtio_blk_check_state(vm->virtio.blk[v->index], &v->blk, err, errlen))
			return -EINVAL;
		virtio_device_lock(dev);
		r = virtio_device_load(dev, &v->core);
		if (!r && vp) {
			/* Its PCI side takes the host's lock first: the device's is let go. */
			virtio_device_unlock(dev);
			r = virtio_pci_load(vp, &s->vpci[i]);
			virtio_device_lock(dev);
		}
		if (!r) {
			if (m)
				virtio_mmio_load(m, &v->mmio);
			if (!r && v->kind == SNAP_VIRTIO_NET)
				r = virtio_net_load(vm->virtio.net[v->index], &v->net);
		}
		virtio_device_unlock(dev);
		if (r) {
			snprintf(err, errlen, "cannot restore %s: %s", dev->ops->name,
				 r == -EINVAL ? "its saved state is inconsistent" : strerror(-r));
			return r;
		}
	}
	return 0;
}

/*
 * Let the restored devices work: each active one starts as when the driver
 * set DRIVER_OK (its queues are looked at, a tap's frames taken). Only once
 * the interrupt controllers and the vCPUs' local APICs hold their saved
 * state: an interrupt sent before would be wiped by their restore, and with
 * VIRTIO_F_EVENT_IDX a lost one silences the queue for good (the device
 * counts it as sent, the driver still waits for it).
 */
int snap_start_devices(struct vm *vm, const struct snapshot *s, char *err, size_t errlen)
{
	for (unsigned i = 0; i < s->nvirtio; i++) {
		const struct snap_virtio *v = &s->virtio[i];
		struct virtio_device *dev = snap_find_dev(vm, v->kind, v->index);
		int r = 0;

		if (!dev)
			continue;
		virtio_device_lock(dev);
		if (dev->active && !dev->broken && dev->ops->activate)
			r = dev->ops->activate(dev);
		virtio_device_unlock(dev);
		if (r) {
			snprintf(err, errlen, "cannot restore %s: %s", dev->ops->name,
				 strerror(-r));
			return r;
		}
	}
	return 0;
}

int snap_restore_state(struct vm *vm, const struct snapshot *s, char *err, size_t errlen)
{
	int r;

	if (ns16550_load(&vm->uart, &s->uart) || i8042_load(&vm->i8042, &s->i8042) ||
	    mc146818_load(&vm->rtc, &s->rtc) || acpi_pm_load(&vm->pm, &s->pm)) {
		snprintf(err, errlen, "the saved legacy device state is inconsistent");
		return -EINVAL;
	}
	if (s->pci_host)
		pci_host_load(&vm->pci.host, s->pci_host);
	r = snap_restore_virtio(vm, s, err, errlen);
	if (r)
		return r;
	r = irqchip_state_restore(vm, &s->irqchip);
	if (r) {
		snprintf(err, errlen, "cannot restore the irqchip: %s", strerror(-r));
		return r;
	}
	for (unsigned i = 0; i < vm->cfg.ncpus; i++) {
		r = vcpu_state_restore(&vm->vcpus[i], &s->vcpus[i]);
		if (r) {
			snprintf(err, errlen, "cannot restore vCPU %u: %s", i, strerror(-r));
			return r;
		}
	}
	return 0;
}

struct vm *snapshot_restore(const char *state_path, const char *mem_path,
			    const struct vm_config *local, struct vm_config *cfg, char *err,
			    size_t errlen)
{
	struct snapshot s;
	struct vm *vm = NULL;
	uint64_t t0 = now_ns();
	int fd, r;

	memset(cfg, 0, sizeof(*cfg));
	if (snapshot_read(state_path, &s, err, errlen))
		return NULL;
	fd = open(mem_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open memory file %s: %s", mem_path, strerror(errno));
		goto out;
	}
	r = snapshot_check_mem_file(&s, fd, err, errlen);
	close(fd);
	if (r || snap_build_config(&s, local, mem_path, cfg, err, errlen))
		goto out;
	vm = vm_create(cfg, err, errlen);
	if (!vm)
		goto out;
	if (snap_check_cpu(vm, &s, err, errlen) || snap_restore_state(vm, &s, err, errlen) ||
	    snap_start_devices(vm, &s, err, errlen) || vm_pause(vm)) {
		vm_destroy(vm);
		vm = NULL;
		goto out;
	}
	log_info("restored %s (%u vCPUs, %llu MiB) in %.2f ms", state_path, cfg->ncpus,
		 (unsigned long long)(cfg->mem_size >> 20), (double)(now_ns() - t0) / 1e6);
out:
	snapshot_free(&s);
	return vm;
}
