/* SPDX-License-Identifier: MIT */
/* Shared by tests/guests/counter.S and the tests that watch it. */
#ifndef HEARTH_TESTS_GUESTS_COUNTER_H
#define HEARTH_TESTS_GUESTS_COUNTER_H

/* Guest-physical address of the counter (a 64-bit little-endian word). */
#define COUNTER_GPA 0x3000000

/* The counter's low bits are all zero every 2^COUNTER_DOT_SHIFT steps: a '.' on COM1. */
#define COUNTER_DOT_SHIFT 14

/*
 * The boot vCPU's kvmclock area (struct pvclock_vcpu_time_info, 32 bytes),
 * enabled through MSR_KVM_SYSTEM_TIME_NEW before counting; its flags byte
 * is at offset 29 (bit 1: PVCLOCK_GUEST_STOPPED, set after a pause).
 */
#define COUNTER_PVCLOCK_GPA 0x3001000

#endif
