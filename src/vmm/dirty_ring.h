/* SPDX-License-Identifier: MIT */
/*
 * KVM's dirty ring: where the host has it, the pages vCPUs write while
 * dirty logging is on arrive as entries in a ring per vCPU rather than in
 * a bitmap per memory slot. Harvested entries go into the regions'
 * VMM-side dirty bitmaps (core/guest_memory.h), where hearth's own writes
 * are recorded, so that whoever takes the dirty pages (snapshots,
 * migration) reads one bitmap whichever way KVM reports them.
 */
#ifndef HEARTH_VMM_DIRTY_RING_H
#define HEARTH_VMM_DIRTY_RING_H

#include <stddef.h>

struct vm;
struct vcpu;

/* Entries per vCPU ring (16 bytes each). */
#define VM_DIRTY_RING_ENTRIES 4096

/*
 * dirty_ring_setup - choose how KVM reports dirty pages, after the VM is
 * created and before its vCPUs are: the ring unless the configuration
 * asks for the bitmap (or the host's KVM has no ring and the
 * configuration leaves the choice open). Returns 0, or -errno with one
 * line in err when a ring was asked for and cannot be had.
 */
int dirty_ring_setup(struct vm *vm, char *err, size_t errlen);

/* dirty_ring_map - map vCPU v's ring when the VM uses rings. Returns 0 or -errno. */
int dirty_ring_map(struct vm *vm, struct vcpu *v);

/* dirty_ring_unmap - undo dirty_ring_map(). */
void dirty_ring_unmap(struct vm *vm, struct vcpu *v);

/*
 * dirty_ring_collect - harvest every vCPU's ring (all of it when the
 * vCPUs are stopped) into the dirty bitmaps and let KVM reuse the
 * entries, write-protecting their pages again. Any thread. No-op without
 * rings. Returns 0 or -errno.
 */
int dirty_ring_collect(struct vm *vm);

/*
 * dirty_ring_full - the vCPU thread's answer to KVM_EXIT_DIRTY_RING_FULL:
 * harvest its own ring so that it can run again. Returns 0 or -errno.
 */
int dirty_ring_full(struct vcpu *v);

#endif
