/* SPDX-License-Identifier: MIT */
/* Thin wrappers around the /dev/kvm, VM and vCPU file descriptors. */
#ifndef HEARTH_CORE_KVM_H
#define HEARTH_CORE_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm {
	int fd;			     /* /dev/kvm */
	int vm_fd;		     /* the VM, -1 until kvm_create_vm() */
	size_t run_size;	     /* size of each vCPU's kvm_run mapping */
	uint32_t dirty_ring_entries; /* per vCPU; 0: dirty pages come from KVM_GET_DIRTY_LOG */
};

/*
 * kvm_open - open /dev/kvm (or $HEARTH_KVM_DEVICE) and check the API
 * version. Returns 0, or -errno with a one-line explanation in err (missing
 * device, no permission, wrong API version).
 */
int kvm_open(struct kvm *kvm, char *err, size_t errlen);

/* kvm_close - close the VM and /dev/kvm descriptors. */
void kvm_close(struct kvm *kvm);

/* kvm_check_extension - KVM_CHECK_EXTENSION on /dev/kvm; 0 when absent. */
int kvm_check_extension(const struct kvm *kvm, long cap);

/* kvm_vm_check_extension - KVM_CHECK_EXTENSION on the VM fd (per-VM caps). */
int kvm_vm_check_extension(const struct kvm *kvm, long cap);

/* kvm_create_vm - create the VM. Returns 0 or -errno. */
int kvm_create_vm(struct kvm *kvm);

/*
 * kvm_set_memory - register a memory slot (KVM_SET_USER_MEMORY_REGION).
 * flags may carry KVM_MEM_LOG_DIRTY_PAGES. Returns 0 or -errno.
 */
int kvm_set_memory(struct kvm *kvm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva,
		   uint32_t flags);

/*
 * kvm_get_dirty_log - KVM_GET_DIRTY_LOG of a slot registered with
 * KVM_MEM_LOG_DIRTY_PAGES: bitmap (one bit per 4 KiB page of the slot,
 * in 64-bit words) gets the pages vCPUs wrote since the last call, and
 * KVM's log is cleared. Returns 0 or -errno.
 */
int kvm_get_dirty_log(struct kvm *kvm, uint32_t slot, uint64_t *bitmap);

/*
 * kvm_enable_dirty_ring - make KVM report the pages vCPUs write through a
 * ring of entries per vCPU (KVM_CAP_DIRTY_LOG_RING, with acquire/release
 * ordering where offered) instead of a bitmap per slot. Only before any
 * vCPU exists. Returns 0 (kvm->dirty_ring_entries set), -EOPNOTSUPP when
 * the host's KVM has no dirty ring of that size, or -errno.
 */
int kvm_enable_dirty_ring(struct kvm *kvm, uint32_t entries);

/*
 * kvm_map_dirty_ring - map the dirty ring of vCPU vcpu_fd (after
 * kvm_enable_dirty_ring()): kvm->dirty_ring_entries entries. Returns the
 * mapping or NULL (errno set); kvm_unmap_dirty_ring() undoes it.
 */
struct kvm_dirty_gfn *kvm_map_dirty_ring(const struct kvm *kvm, int vcpu_fd);
void kvm_unmap_dirty_ring(const struct kvm *kvm, struct kvm_dirty_gfn *ring);

/*
 * kvm_reset_dirty_rings - KVM_RESET_DIRTY_RINGS: KVM takes back the ring
 * entries marked harvested and write-protects their pages again, so that
 * the next write to them is reported anew. Returns 0 or -errno.
 */
int kvm_reset_dirty_rings(struct kvm *kvm);

/* kvm_irq_line - drive a GSI of the in-kernel irqchip. Returns 0 or -errno. */
int kvm_irq_line(struct kvm *kvm, uint32_t gsi, int level);

/*
 * kvm_ioeventfd - bind (assign) or unbind eventfd fd to guest writes of len
 * bytes (1, 2, 4 or 8; 0 for any) at addr, in port I/O space when pio, else
 * MMIO (KVM_IOEVENTFD). With match, only writes of the value datamatch
 * signal fd. Matching writes then complete in the kernel without an exit to
 * user space. Returns 0 or -errno (unbinding needs the same arguments).
 */
int kvm_ioeventfd(struct kvm *kvm, uint64_t addr, uint32_t len, bool pio, bool match,
		  uint64_t datamatch, int fd, bool assign);

/*
 * kvm_create_vcpu - create vCPU id and map its kvm_run structure.
 * Returns the vCPU fd (>= 0) and sets *run, or -errno.
 */
int kvm_create_vcpu(struct kvm *kvm, unsigned id, struct kvm_run **run);

/* kvm_exit_reason_name - printable name of a KVM_EXIT_* value. */
const char *kvm_exit_reason_name(uint32_t reason);

#endif
