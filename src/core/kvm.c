/* SPDX-License-Identifier: MIT */
#include "core/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

int kvm_open(struct kvm *kvm, char *err, size_t errlen)
{
	const char *path = getenv("HEARTH_KVM_DEVICE");
	int version, e;
	long size;

	if (!path || !*path)
		path = "/dev/kvm";
	kvm->vm_fd = -1;
	kvm->fd = open(path, O_RDWR | O_CLOEXEC);
	if (kvm->fd < 0) {
		e = errno;
		if (e == ENOENT)
			snprintf(err, errlen,
				 "%s does not exist: is the kvm module loaded and virtualization "
				 "enabled? (run 'hearth check')",
				 path);
		else if (e == EACCES || e == EPERM)
			snprintf(
			    err, errlen,
			    "no permission to open %s: add your user to the group that owns it "
			    "(usually 'kvm') or run as root",
			    path);
		else
			snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
		return -e;
	}
	version = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		snprintf(err, errlen, "%s speaks KVM API version %d, hearth needs %d", path,
			 version, KVM_API_VERSION);
		close(kvm->fd);
		kvm->fd = -1;
		return -EINVAL;
	}
	size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0) {
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE failed: %s", strerror(errno));
		close(kvm->fd);
		kvm->fd = -1;
		return -EINVAL;
	}
	kvm->run_size = (size_t)size;
	return 0;
}

void kvm_close(struct kvm *kvm)
{
	if (kvm->vm_fd >= 0)
		close(kvm->vm_fd);
	if (kvm->fd >= 0)
		close(kvm->fd);
	kvm->vm_fd = kvm->fd = -1;
}

int kvm_check_extension(const struct kvm *kvm, long cap)
{
	int r = ioctl(kvm->fd, KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

int kvm_vm_check_extension(const struct kvm *kvm, long cap)
{
	int r = ioctl(kvm->vm_fd, KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

int kvm_create_vm(struct kvm *kvm)
{
	do {
		kvm->vm_fd = ioctl(kvm->fd, KVM_CREATE_VM, 0);
	} while (kvm->vm_fd < 0 && errno == EINTR);
	return kvm->vm_fd < 0 ? -errno : 0;
}

int kvm_enable_dirty_ring(struct kvm *kvm, uint32_t entries)
{
	uint64_t bytes = (uint64_t)entries * sizeof(struct kvm_dirty_gfn);
	struct kvm_enable_cap cap = {.cap = KVM_CAP_DIRTY_LOG_RING_ACQ_REL, .args = {bytes}};
	int max = kvm_vm_check_extension(kvm, KVM_CAP_DIRTY_LOG_RING_ACQ_REL);

	if (max <= 0) {
		cap.cap = KVM_CAP_DIRTY_LOG_RING;
		max = kvm_vm_check_extension(kvm, KVM_CAP_DIRTY_LOG_RING);
	}
	if (max <= 0 || bytes > (uint64_t)max || bytes < (uint64_t)sysconf(_SC_PAGESIZE))
		return -EOPNOTSUPP;
	if (ioctl(kvm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		return -errno;
	kvm->dirty_ring_entries = entries;
	return 0;
}

struct kvm_dirty_gfn *kvm_map_dirty_ring(const struct kvm *kvm, int vcpu_fd)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, kvm->dirty_ring_entries * sizeof(struct kvm_dirty_gfn),
		       PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd,
		       (off_t)KVM_DIRTY_LOG_PAGE_OFFSET * page);

	return p == MAP_FAILED ? NULL : p;
}

void kvm_unmap_dirty_ring(const struct kvm *kvm, struct kvm_dirty_gfn *ring)
{
	if (ring)
		munmap(ring, kvm->dirty_ring_entries * sizeof(struct kvm_dirty_gfn));
}

int kvm_reset_dirty_rings(struct kvm *kvm)
{
	return ioctl(kvm->vm_fd, KVM_RESET_DIRTY_RINGS, 0) < 0 ? -errno : 0;
}

int kvm_set_memory(struct kvm *kvm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva,
		   uint32_t flags)
{
	struct kvm_userspace_memory_region region = {
	    .slot = slot,
	    .flags = flags,
	    .guest_phys_addr = gpa,
	    .memory_size = size,
	    .userspace_addr = (uint64_t)(uintptr_t)hva,
	};

	return ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0 ? -errno : 0;
}

int kvm_irq_line(struct kvm *kvm, uint32_t gsi, int level)
{
	struct kvm_irq_level irq = {.irq = gsi, .level = (uint32_t)level};

	return ioctl(kvm->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

int kvm_ioeventfd(struct kvm *kvm, uint64_t addr, uint32_t len, bool pio, bool match,
		  uint64_t datamatch, int fd, bool assign)
{
	struct kvm_ioeventfd io = {
	    .datamatch = match ? datamatch : 0,
	    .addr = addr,
	    .len = len,
	    .fd = fd,
	    .flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0u) |
		     (match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0u) |
		     (assign ? 0u : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	return ioctl(kvm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

int kvm_create_vcpu(struct kvm *kvm, unsigned id, struct kvm_run **run)
{
	int fd = ioctl(kvm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	void *p;

	if (fd < 0)
		return -errno;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	p = mmap(NULL, kvm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;
		close(fd);
		return -e;
	}
	*run = p;
	return fd;
}

const char *kvm_exit_reason_name(uint32_t reason)
{
	static const char *const names[] = {
	    [KVM_EXIT_UNKNOWN] = "UNKNOWN",
	    [KVM_EXIT_EXCEPTION] = "EXCEPTION",
	    [KVM_EXIT_IO] = "IO",
	    [KVM_EXIT_HYPERCALL] = "HYPERCALL",
	    [KVM_EXIT_DEBUG] = "DEBUG",
	    [KVM_EXIT_HLT] = "HLT",
	    [KVM_EXIT_MMIO] = "MMIO",
	    [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
	    [KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
	    [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
	    [KVM_EXIT_INTR] = "INTR",
	    [KVM_EXIT_SET_TPR] = "SET_TPR",
	    [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
	    [KVM_EXIT_NMI] = "NMI",
	    [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
	    [KVM_EXIT_OSI] = "OSI",
	    [KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
	};

	if (reason < sizeof(names) / sizeof(names[0]) && names[reason])
		return names[reason];
	return "OTHER";
}

int kvm_get_dirty_log(struct kvm *kvm, uint32_t slot, uint64_t *bitmap)
{
	struct kvm_dirty_log log = {.slot = slot, .dirty_bitmap = bitmap};

	return ioctl(kvm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0 ? -errno : 0;
}
