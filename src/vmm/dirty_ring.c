/* SPDX-License-Identifier: MIT */
/* KVM's dirty ring, harvested into the VMM-side dirty bitmaps. See dirty_ring.h. */
#include "vmm/dirty_ring.h"
#include "core/log.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/*
 * PVM's KVM (kvm_pvm) emulates guest instructions in batches without
 * checking the ring between them: a ring fills up completely (a kernel
 * warning in kvm_dirty_ring_push) and the vCPU stops making progress.
 */
static const char ring_pvm[] = "this host's KVM is PVM, whose dirty rings overflow";

/*
 * Why the dirty ring is not chosen by default, or NULL: a PVM host, or
 * sysfs out of sight (a jail), where PVM cannot be ruled out.
 */
static const char *ring_unfit(void)
{
	struct stat st;

	if (stat("/sys/module/kvm_pvm", &st) == 0)
		return ring_pvm;
	if (stat("/sys/module/kvm", &st) != 0)
		return "cannot see which KVM this host has (no /sys/module/kvm)";
	return NULL;
}

int dirty_ring_setup(struct vm *vm, char *err, size_t errlen)
{
	enum dirty_log_kind want = vm->cfg.dirty_log;
	const char *why;
	int r = 0;

	if (want == DIRTY_LOG_BITMAP) {
		log_info("dirty pages: KVM's dirty bitmap (--dirty-log bitmap)");
		return 0;
	}
	/* By default only where nothing speaks against it; by name, unless known to fail. */
	why = ring_unfit();
	if (!why || (want == DIRTY_LOG_RING && why != ring_pvm)) {
		r = kvm_enable_dirty_ring(&vm->kvm, VM_DIRTY_RING_ENTRIES);
		if (r == -EOPNOTSUPP)
			why = "the host's KVM lacks KVM_CAP_DIRTY_LOG_RING";
		else if (r)
			why = strerror(-r);
		else
			why = NULL;
	}
	if (!why) {
		log_info("dirty pages: KVM's dirty ring, %u entries per vCPU",
			 VM_DIRTY_RING_ENTRIES);
		return 0;
	}
	if (want == DIRTY_LOG_RING) {
		snprintf(err, errlen, "--dirty-log ring: %s", why);
		return r ? r : -EOPNOTSUPP;
	}
	log_info("dirty pages: KVM's dirty bitmap (no dirty ring: %s)", why);
	return 0;
}

int dirty_ring_map(struct vm *vm, struct vcpu *v)
{
	if (!vm->kvm.dirty_ring_entries)
		return 0;
	v->dirty_ring = kvm_map_dirty_ring(&vm->kvm, v->fd);
	return v->dirty_ring ? 0 : -errno;
}

void dirty_ring_unmap(struct vm *vm, struct vcpu *v)
{
	kvm_unmap_dirty_ring(&vm->kvm, v->dirty_ring);
	v->dirty_ring = NULL;
}

/* Record page offset of memory slot slot (as KVM numbers them) as dirty. */
static void mark(struct vm *vm, uint32_t slot, uint64_t offset)
{
	for (unsigned i = 0; i < vm->mem.nr; i++) {
		struct gm_region *g = &vm->mem.regions[i];

		if (g->slot != (slot & 0xffff) || (slot >> 16))
			continue;
		if (offset < g->size / GM_PAGE_SIZE)
			atomic_fetch_or((_Atomic uint64_t *)&g->dirty[offset / 64],
					1ULL << (offset % 64));
		return;
	}
	log_warn("dirty ring: an entry for unknown memory slot %#x", slot);
}

/*
 * Take vCPU v's entries from where the last harvest stopped to the first
 * one KVM has not filled, marking each harvested for KVM_RESET_DIRTY_RINGS.
 * Returns how many. The caller holds vm->dirty_ring_lock.
 */
static uint32_t harvest(struct vm *vm, struct vcpu *v)
{
	uint32_t size = vm->kvm.dirty_ring_entries, n = 0;

	if (!v->dirty_ring)
		return 0;
	while (n < size) {
		struct kvm_dirty_gfn *e = &v->dirty_ring[v->dirty_next & (size - 1)];
		uint32_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);

		if ((flags & KVM_DIRTY_GFN_F_MASK) != KVM_DIRTY_GFN_F_DIRTY)
			break;
		mark(vm, e->slot, e->offset);
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		v->dirty_next++;
		n++;
	}
	return n;
}

int dirty_ring_collect(struct vm *vm)
{
	uint32_t n = 0;
	int r = 0;

	if (!vm->kvm.dirty_ring_entries)
		return 0;
	pthread_mutex_lock(&vm->dirty_ring_lock);
	for (unsigned i = 0; i < vm->cfg.ncpus; i++)
		n += harvest(vm, &vm->vcpus[i]);
	if (n)
		r = kvm_reset_dirty_rings(&vm->kvm);
	pthread_mutex_unlock(&vm->dirty_ring_lock);
	return r;
}

int dirty_ring_full(struct vcpu *v)
{
	struct vm *vm = v->vm;
	int r;

	pthread_mutex_lock(&vm->dirty_ring_lock);
	harvest(vm, v);
	r = kvm_reset_dirty_rings(&vm->kvm);
	pthread_mutex_unlock(&vm->dirty_ring_lock);
	return r;
}
