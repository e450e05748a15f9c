/* SPDX-License-Identifier: MIT */
/*
 * The KVM state of one vCPU, captured and put back whole: general and
 * segment registers, FPU/SSE/AVX (XSAVE area, or the legacy FPU block where
 * KVM has no XSAVE), XCR0, the MSRs KVM lists as saveable, the in-kernel
 * LAPIC, the multiprocessing state, pending events, debug registers and the
 * TSC frequency (the TSC value itself is the IA32_TSC MSR of the MSR list).
 *
 * A plain, fixed-size struct of KVM's own structures (fixed-layout x86-64
 * ABI types), ready to be written out and read back by the snapshot and
 * migration code, which adds versioning of the file around it. It is large
 * (about 26 KiB): allocate it, do not put it on a thread's stack.
 */
#ifndef HEARTH_VMM_VCPU_STATE_H
#define HEARTH_VMM_VCPU_STATE_H

#include <linux/kvm.h>
#include <stdint.h>

#include "vmm/vm.h"

#define VCPU_STATE_VERSION 1

/* Most MSRs a state holds (KVM lists about 40 to 200, depending on the host). */
#define VCPU_STATE_MAX_MSRS 512

/* Largest XSAVE area a state holds (KVM_CAP_XSAVE2: 4 KiB, about 11 KiB with AMX). */
#define VCPU_STATE_XSAVE_MAX 16384

/* vcpu_state.flags: which optional parts were captured. */
#define VCPU_STATE_XSAVE   (1u << 0) /* xsave is valid (else fpu is) */
#define VCPU_STATE_XCRS	   (1u << 1) /* xcrs is valid */
#define VCPU_STATE_TSC_KHZ (1u << 2) /* tsc_khz is valid */

struct vcpu_state {
	uint32_t version;    /* VCPU_STATE_VERSION */
	uint32_t flags;	     /* VCPU_STATE_* */
	uint32_t index;	     /* the vCPU's index in its VM */
	uint32_t tsc_khz;    /* guest TSC frequency (VCPU_STATE_TSC_KHZ) */
	uint32_t xsave_size; /* bytes of xsave in use (VCPU_STATE_XSAVE) */
	uint32_t nmsrs;	     /* entries of msrs in use */
	struct kvm_mp_state mp_state;
	uint32_t reserved;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu; /* without VCPU_STATE_XSAVE */
	struct kvm_xcrs xcrs;
	struct kvm_debugregs debugregs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_msr_entry msrs[VCPU_STATE_MAX_MSRS];
	uint32_t xsave[VCPU_STATE_XSAVE_MAX / 4]; /* a struct kvm_xsave of xsave_size bytes */
};

/*
 * vcpu_state_save - capture vcpu's whole KVM state into s (which is zeroed
 * first). The vCPU must not be running: the VM is paused (vm_pause()) or
 * its vCPU threads are not running (vm_vcpus_stopped()). The MSRs are those
 * of KVM_GET_MSR_INDEX_LIST that KVM_GET_MSRS can read on this vCPU (the
 * others are skipped). Returns 0, or -EBUSY (vCPUs running), -E2BIG (more
 * MSRs or a larger XSAVE area than a state holds), or the -errno of the
 * KVM ioctl that failed (logged with its name).
 */
int vcpu_state_save(struct vcpu *vcpu, struct vcpu_state *s);

/*
 * vcpu_state_restore - put state s (from vcpu_state_save(), on this VM or
 * another with the same CPU model) back into vcpu. Same condition as for
 * saving. The TSC frequency is set first when it differs from the vCPU's
 * (KVM must support TSC scaling for that), then MP state, registers,
 * special registers (which carry the APIC base), FPU/XSAVE, XCRs, debug
 * registers, LAPIC, MSRs (after the LAPIC: the TSC deadline needs it) and
 * pending events last (setting registers drops pending exceptions).
 * Returns 0, or -EBUSY (vCPUs running), -EINVAL (s is not a state of this
 * version, or holds more than it can; or KVM refused one of its MSRs,
 * logged with its index), or the -errno of the KVM ioctl that failed. On
 * failure the vCPU may hold part of s: restore a good state or discard it.
 */
int vcpu_state_restore(struct vcpu *vcpu, const struct vcpu_state *s);

#endif
