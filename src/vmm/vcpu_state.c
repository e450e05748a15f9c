/* SPDX-License-Identifier: MIT */
/* Capturing and restoring the KVM state of one vCPU. */
#include "vmm/vcpu_state.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* The largest MSR index list asked of KVM (it says E2BIG beyond). */
#define MSR_LIST_MAX VCPU_STATE_MAX_MSRS

static int vcpu_ioctl(struct vcpu *vcpu, unsigned long req, void *arg, const char *name)
{
	if (ioctl(vcpu->fd, req, arg) < 0) {
		int e = errno;

		log_error("vCPU %u: %s: %s", vcpu->index, name, strerror(e));
		return -e;
	}
	return 0;
}

/* Bytes of XSAVE state KVM exchanges (KVM_CAP_XSAVE2), 0 without XSAVE. */
static int vcpu_xsave_size(struct vcpu *vcpu)
{
	const struct kvm *kvm = &vcpu->vm->kvm;
	int size = kvm_vm_check_extension(kvm, KVM_CAP_XSAVE2);

	if (size > 0)
		return MAX(size, (int)sizeof(struct kvm_xsave));
	return kvm_check_extension(kvm, KVM_CAP_XSAVE) > 0 ? (int)sizeof(struct kvm_xsave) : 0;
}

static struct kvm_msrs *msrs_alloc(unsigned n)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(struct kvm_msr_entry));

	if (m)
		m->nmsrs = n;
	return m;
}

/* The saveable MSRs KVM lists (KVM_GET_MSR_INDEX_LIST on /dev/kvm). */
static int msr_index_list(struct vcpu *vcpu, uint32_t *idx, unsigned *n)
{
	struct kvm_msr_list *list = calloc(1, sizeof(*list) + MSR_LIST_MAX * sizeof(uint32_t));
	int r = 0;

	if (!list)
		return -ENOMEM;
	list->nmsrs = MSR_LIST_MAX;
	if (ioctl(vcpu->vm->kvm.fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		r = -errno;
		log_error("KVM_GET_MSR_INDEX_LIST: %s%s", strerror(errno),
			  errno == E2BIG ? " (more MSRs than a vCPU state holds)" : "");
	} else {
		*n = MIN(list->nmsrs, (uint32_t)MSR_LIST_MAX);
		memcpy(idx, list->indices, *n * sizeof(uint32_t));
	}
	free(list);
	return r;
}

/*
 * Read every listed MSR KVM can read: KVM_GET_MSRS stops at the first it
 * cannot (returning how many it read), so skip that one and go on.
 */
static int msrs_save(struct vcpu *vcpu, struct vcpu_state *s)
{
	uint32_t *idx = calloc(MSR_LIST_MAX, sizeof(*idx));
	struct kvm_msrs *m = msrs_alloc(MSR_LIST_MAX);
	unsigned n = 0, pos = 0;
	int r;

	if (!idx || !m) {
		r = -ENOMEM;
		goto out_free;
	}
	r = msr_index_list(vcpu, idx, &n);
	if (r)
		goto out_free;
	s->nmsrs = 0;
	while (pos < n) {
		int got;

		m->nmsrs = n - pos;
		for (unsigned i = 0; i < m->nmsrs; i++)
			m->entries[i] = (struct kvm_msr_entry){.index = idx[pos + i]};
		got = ioctl(vcpu->fd, KVM_GET_MSRS, m);
		if (got < 0) {
			r = -errno;
			log_error("vCPU %u: KVM_GET_MSRS: %s", vcpu->index, strerror(errno));
			goto out_free;
		}
		if ((unsigned)got > m->nmsrs)
			got = (int)m->nmsrs;
		memcpy(&s->msrs[s->nmsrs], m->entries, (size_t)got * sizeof(m->entries[0]));
		s->nmsrs += (unsigned)got;
		pos += (unsigned)got;
		if (pos < n) {
			log_debug("vCPU %u: MSR %#x cannot be read: not saved", vcpu->index,
				  idx[pos]);
			pos++;
		}
	}
out_free:
	free(m);
	free(idx);
	return r;
}

static int msrs_restore(struct vcpu *vcpu, const struct vcpu_state *s)
{
	struct kvm_msrs *m;
	int set;

	if (s->nmsrs == 0)
		return 0;
	m = msrs_alloc(s->nmsrs);
	if (!m)
		return -ENOMEM;
	memcpy(m->entries, s->msrs, s->nmsrs * sizeof(s->msrs[0]));
	set = ioctl(vcpu->fd, KVM_SET_MSRS, m);
	free(m);
	if (set < 0) {
		int e = errno;

		log_error("vCPU %u: KVM_SET_MSRS: %s", vcpu->index, strerror(e));
		return -e;
	}
	if ((uint32_t)set < s->nmsrs) {
		log_error("vCPU %u: KVM refused MSR %#x = %#llx", vcpu->index, s->msrs[set].index,
			  (unsigned long long)s->msrs[set].data);
		return -EINVAL;
	}
	return 0;
}

static int xsave_save(struct vcpu *vcpu, struct vcpu_state *s)
{
	int size = vcpu_xsave_size(vcpu);

	if (size == 0)
		return vcpu_ioctl(vcpu, KVM_GET_FPU, &s->fpu, "KVM_GET_FPU");
	if (size > VCPU_STATE_XSAVE_MAX) {
		log_error("vCPU %u: the XSAVE area (%d bytes) is larger than a vCPU state holds",
			  vcpu->index, size);
		return -E2BIG;
	}
	s->flags |= VCPU_STATE_XSAVE;
	s->xsave_size = (uint32_t)size;
	if (size > (int)sizeof(struct kvm_xsave))
		return vcpu_ioctl(vcpu, KVM_GET_XSAVE2, s->xsave, "KVM_GET_XSAVE2");
	return vcpu_ioctl(vcpu, KVM_GET_XSAVE, s->xsave, "KVM_GET_XSAVE");
}

static int xsave_restore(struct vcpu *vcpu, const struct vcpu_state *s)
{
	int size;

	if (!(s->flags & VCPU_STATE_XSAVE))
		return vcpu_ioctl(vcpu, KVM_SET_FPU, (void *)&s->fpu, "KVM_SET_FPU");
	size = vcpu_xsave_size(vcpu);
	if (size == 0 || size > VCPU_STATE_XSAVE_MAX) {
		log_error("vCPU %u: cannot restore an XSAVE area here (KVM's is %d bytes)",
			  vcpu->index, size);
		return -EINVAL;
	}
	/* KVM reads its own size; the rest of s->xsave beyond xsave_size is zero. */
	return vcpu_ioctl(vcpu, KVM_SET_XSAVE, (void *)s->xsave, "KVM_SET_XSAVE");
}

int vcpu_state_save(struct vcpu *vcpu, struct vcpu_state *s)
{
	int r;

	if (!vm_vcpus_stopped(vcpu->vm))
		return -EBUSY;
	memset(s, 0, sizeof(*s));
	s->version = VCPU_STATE_VERSION;
	s->index = vcpu->index;

	/*
	 * MP state first: reading it lets the LAPIC take pending INIT/SIPI
	 * events, which changes what the other parts read. Pending events
	 * last, as other reads may still settle them.
	 */
	r = vcpu_ioctl(vcpu, KVM_GET_MP_STATE, &s->mp_state, "KVM_GET_MP_STATE");
	r = r ?: vcpu_ioctl(vcpu, KVM_GET_REGS, &s->regs, "KVM_GET_REGS");
	r = r ?: vcpu_ioctl(vcpu, KVM_GET_SREGS, &s->sregs, "KVM_GET_SREGS");
	r = r ?: xsave_save(vcpu, s);
	if (!r && kvm_check_extension(&vcpu->vm->kvm, KVM_CAP_XCRS) > 0) {
		r = vcpu_ioctl(vcpu, KVM_GET_XCRS, &s->xcrs, "KVM_GET_XCRS");
		s->flags |= VCPU_STATE_XCRS;
	}
	r = r ?: vcpu_ioctl(vcpu, KVM_GET_DEBUGREGS, &s->debugregs, "KVM_GET_DEBUGREGS");
	r = r ?: vcpu_ioctl(vcpu, KVM_GET_LAPIC, &s->lapic, "KVM_GET_LAPIC");
	if (!r && kvm_check_extension(&vcpu->vm->kvm, KVM_CAP_GET_TSC_KHZ) > 0) {
		int khz = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);

		if (khz > 0) {
			s->tsc_khz = (uint32_t)khz;
			s->flags |= VCPU_STATE_TSC_KHZ;
		}
	}
	r = r ?: msrs_save(vcpu, s);
	r = r ?: vcpu_ioctl(vcpu, KVM_GET_VCPU_EVENTS, &s->events, "KVM_GET_VCPU_EVENTS");
	return r;
}

static int tsc_khz_restore(struct vcpu *vcpu, const struct vcpu_state *s)
{
	int khz;

	if (!(s->flags & VCPU_STATE_TSC_KHZ))
		return 0;
	khz = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
	if (khz > 0 && (uint32_t)khz == s->tsc_khz)
		return 0;
	if (ioctl(vcpu->fd, KVM_SET_TSC_KHZ, (unsigned long)s->tsc_khz) < 0) {
		int e = errno;

		log_error("vCPU %u: cannot set the TSC frequency to %u kHz (this host's is %d "
			  "kHz): %s",
			  vcpu->index, s->tsc_khz, khz, strerror(e));
		return -e;
	}
	return 0;
}

int vcpu_state_restore(struct vcpu *vcpu, const struct vcpu_state *s)
{
	int r;

	if (!vm_vcpus_stopped(vcpu->vm))
		return -EBUSY;
	if (s->version != VCPU_STATE_VERSION || s->nmsrs > VCPU_STATE_MAX_MSRS ||
	    s->xsave_size > VCPU_STATE_XSAVE_MAX)
		return -EINVAL;

	r = tsc_khz_restore(vcpu, s);
	r = r ?: vcpu_ioctl(vcpu, KVM_SET_MP_STATE, (void *)&s->mp_state, "KVM_SET_MP_STATE");
	r = r ?: vcpu_ioctl(vcpu, KVM_SET_REGS, (void *)&s->regs, "KVM_SET_REGS");
	r = r ?: vcpu_ioctl(vcpu, KVM_SET_SREGS, (void *)&s->sregs, "KVM_SET_SREGS");
	r = r ?: xsave_restore(vcpu, s);
	if (!r && (s->flags & VCPU_STATE_XCRS))
		r = vcpu_ioctl(vcpu, KVM_SET_XCRS, (void *)&s->xcrs, "KVM_SET_XCRS");
	r = r ?: vcpu_ioctl(vcpu, KVM_SET_DEBUGREGS, (void *)&s->debugregs, "KVM_SET_DEBUGREGS");
	r = r ?: vcpu_ioctl(vcpu, KVM_SET_LAPIC, (void *)&s->lapic, "KVM_SET_LAPIC");
	r = r ?: msrs_restore(vcpu, s);
	r = r ?: vcpu_ioctl(vcpu, KVM_SET_VCPU_EVENTS, (void *)&s->events, "KVM_SET_VCPU_EVENTS");
	return r;
}
