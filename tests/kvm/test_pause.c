/* SPDX-License-Identifier: MIT */
/*
 * Pausing and resuming a running VM, and capturing and restoring its vCPU
 * and irqchip state, on the local /dev/kvm with the counting tiny guest
 * (tests/guests/counter.S). The VM runs vm_run() on its own thread; the
 * test drives it from the VM's event-loop thread, as the API does, through
 * an eventfd registered on the VM's loop.
 *
 * The disk cases run tests/guests/blk_poll.S in its bench mode (4 KiB reads
 * one at a time over virtio-mmio) and pause it again and again mid-I/O.
 *
 * Usage: test_pause COUNTER_BZIMAGE BLK_POLL_BZIMAGE. Exits 77 (skip)
 * without a usable /dev/kvm.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/guest_memory.h"
#include "core/util.h"
#include "tests/guests/counter.h"
#include "vmm/irqchip_state.h"
#include "vmm/vcpu_state.h"
#include "vmm/vm.h"

#define NCPUS		      2
#define DEADLINE_MS	      20000 /* a hung VM fails the test instead of hanging the suite */
#define INTERVAL_MS	      50    /* how long a paused counter must stay still */
#define MSR_IA32_TSC	      0x10
#define PVCLOCK_GUEST_STOPPED (1u << 1)
/* Hyper-V's vCPU run time and reference clock (where KVM lists them). */
#define MSR_HV_VP_RUNTIME     0x40000010
#define MSR_HV_TIME_REF_COUNT 0x40000020
#define REWIND_STEP	      (1ULL << 40) /* added to the guest's %rbx through a restore */

/* blk_poll's driver-side available index (V_AVAIL in tests/guests/blk_poll.S). */
#define BLK_POLL_V_AVAIL 0x303100
#define BLK_POLL_READS	 1000	   /* reads of its bench run */
#define DISK_BYTES	 (2 << 20) /* its reads reach sector 2071 */

static const char *counter_guest, *blk_guest;

struct harness {
	struct vm *vm;
	pthread_t runner;
	bool runner_started;
	int status;   /* what vm_run() returned */
	int done_fd;  /* eventfd: vm_run() returned */
	int cmd_fd;   /* eventfd on the VM's loop: run cmd there */
	int reply_fd; /* eventfd: cmd ran, result is set */
	int (*cmd)(struct harness *h);
	int result;
	unsigned parked; /* vm->parked when cmd_pause returned */
	char serial_path[64];
	char disk_path[64];  /* "" without a disk */
	uint64_t watch_gpa;  /* the word counter() reads */
	unsigned watch_size; /* its size: 8 or 2 bytes */
	struct vcpu_state *vs[NCPUS];
	struct irqchip_state is;
};

static struct harness the_harness, the_second;

/* ---- helpers ------------------------------------------------------------- */

static void eventfd_post(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

/* Wait until fd is readable, at most ms; then consume its count. */
static bool eventfd_wait(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t cnt;

	if (poll(&p, 1, ms) != 1)
		return false;
	return read(fd, &cnt, sizeof(cnt)) == (ssize_t)sizeof(cnt);
}

/* Let ms milliseconds of wall time pass (a timerfd: an interval, not a synchronization). */
static void let_time_pass(unsigned ms)
{
	struct itimerspec its = {.it_value = {ms / 1000, (long)(ms % 1000) * 1000000L}};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	uint64_t cnt;

	assert_true(fd >= 0);
	assert_int_equal(timerfd_settime(fd, 0, &its, NULL), 0);
	assert_int_equal(read(fd, &cnt, sizeof(cnt)), sizeof(cnt));
	close(fd);
}

/* The guest's progress word: its counter, or blk_poll's request count. */
static uint64_t counter(struct harness *h)
{
	void *p = gm_ptr(&h->vm->mem, h->watch_gpa, h->watch_size);

	assert_non_null(p);
	if (h->watch_size == sizeof(uint16_t))
		return __atomic_load_n((uint16_t *)p, __ATOMIC_RELAXED);
	return __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED);
}

/*
 * Wait until the guest's counter satisfies pred against ref: checked every
 * millisecond (there is no event for a guest's store), failing after
 * DEADLINE_MS. Returns the value seen.
 */
static uint64_t wait_counter(struct harness *h, bool (*pred)(uint64_t v, uint64_t ref),
			     uint64_t ref)
{
	struct itimerspec its = {.it_interval = {0, 1000000L}, .it_value = {0, 1000000L}};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	uint64_t start = now_ns(), v, cnt;

	assert_true(fd >= 0);
	assert_int_equal(timerfd_settime(fd, 0, &its, NULL), 0);
	while (!pred(v = counter(h), ref)) {
		if (now_ns() - start > DEADLINE_MS * 1000000ULL) {
			close(fd);
			fail_msg("the guest's counter stays at %llu (reference %llu)",
				 (unsigned long long)v, (unsigned long long)ref);
		}
		assert_int_equal(read(fd, &cnt, sizeof(cnt)), sizeof(cnt));
	}
	close(fd);
	return v;
}

/* The flags of the boot vCPU's kvmclock area, and whether KVM has written it at all. */
static uint8_t pvclock_flags(struct harness *h, bool *written)
{
	const uint8_t *p = gm_ptr(&h->vm->mem, COUNTER_PVCLOCK_GPA, 32);

	assert_non_null(p);
	*written = __atomic_load_n((const uint32_t *)(const void *)p, __ATOMIC_ACQUIRE) != 0;
	return __atomic_load_n(p + 29, __ATOMIC_RELAXED);
}

static bool differs(uint64_t v, uint64_t ref)
{
	return v != ref;
}

static bool at_least(uint64_t v, uint64_t ref)
{
	return v >= ref;
}

/* The handler on the VM's event loop: run the queued command there. */
static void on_cmd(void *opaque, uint32_t events)
{
	struct harness *h = opaque;
	uint64_t cnt;

	(void)events;
	if (read(h->cmd_fd, &cnt, sizeof(cnt)) != (ssize_t)sizeof(cnt))
		return;
	h->result = h->cmd(h);
	eventfd_post(h->reply_fd);
}

/* Run fn(h) on the VM's event-loop thread and return its result. */
static int on_loop(struct harness *h, int (*fn)(struct harness *h))
{
	h->cmd = fn;
	eventfd_post(h->cmd_fd);
	if (!eventfd_wait(h->reply_fd, DEADLINE_MS))
		fail_msg("the VM's event loop did not run the command");
	return h->result;
}

static void *runner(void *arg)
{
	struct harness *h = arg;

	h->status = vm_run(h->vm);
	eventfd_post(h->done_fd);
	return NULL;
}

/*
 * A 2 MiB image for blk_poll's bench run: sector 0 holds "BLKBENCH" and the
 * number of reads.
 */
static void make_bench_disk(struct harness *h)
{
	uint8_t *img = calloc(1, DISK_BYTES);
	uint64_t n = BLK_POLL_READS;
	int fd;

	assert_non_null(img);
	memcpy(img, "BLKBENCH", 8);
	memcpy(img + 8, &n, sizeof(n));
	snprintf(h->disk_path, sizeof(h->disk_path), "/tmp/hearth-test-pause-disk-XXXXXX");
	fd = mkstemp(h->disk_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, img, DISK_BYTES), DISK_BYTES);
	close(fd);
	free(img);
}

/* A VM on the counting guest, or (engine >= 0) on blk_poll with a disk on that engine. */
static void harness_create(struct harness *h, int engine)
{
	struct vm_config cfg;
	char err[256] = "";
	int fd;

	memset(h, 0, sizeof(*h));
	snprintf(h->serial_path, sizeof(h->serial_path), "/tmp/hearth-test-pause-XXXXXX");
	fd = mkstemp(h->serial_path);
	assert_true(fd >= 0);
	close(fd);

	config_init_defaults(&cfg);
	cfg.kernel_path = counter_guest;
	h->watch_gpa = COUNTER_GPA;
	h->watch_size = sizeof(uint64_t);
	if (engine >= 0) {
		make_bench_disk(h);
		cfg.kernel_path = blk_guest;
		cfg.transport = TRANSPORT_MMIO;
		cfg.ndisks = 1;
		cfg.disks[0].path = h->disk_path;
		cfg.disks[0].engine = (enum disk_engine)engine;
		h->watch_gpa = BLK_POLL_V_AVAIL;
		h->watch_size = sizeof(uint16_t);
	}
	cfg.cmdline = "";
	cfg.mem_size = 64 * MiB;
	cfg.ncpus = NCPUS;
	cfg.serial = CONSOLE_FILE;
	cfg.serial_path = h->serial_path;
	cfg.rng = false;
	cfg.shutdown_timeout_s = 600; /* longer than any deadline here */
	h->vm = vm_create(&cfg, err, sizeof(err));
	if (!h->vm)
		fail_msg("vm_create: %s", err);

	h->done_fd = eventfd(0, EFD_CLOEXEC);
	h->cmd_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	h->reply_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(h->done_fd >= 0 && h->cmd_fd >= 0 && h->reply_fd >= 0);
	assert_int_equal(event_loop_add(&h->vm->loop, h->cmd_fd, EPOLLIN, on_cmd, h), 0);
	for (unsigned i = 0; i < NCPUS; i++) {
		h->vs[i] = calloc(1, sizeof(*h->vs[i]));
		assert_non_null(h->vs[i]);
	}
}

static void harness_start(struct harness *h)
{
	assert_int_equal(pthread_create(&h->runner, NULL, runner, h), 0);
	h->runner_started = true;
}

/* Wait for vm_run() to return (failing after ms) and return its status. */
static int harness_wait_ms(struct harness *h, int ms)
{
	if (!eventfd_wait(h->done_fd, ms))
		fail_msg("vm_run() did not return within %d ms (the guest's counter: %llu)", ms,
			 (unsigned long long)counter(h));
	pthread_join(h->runner, NULL);
	h->runner_started = false;
	return h->status;
}

/* Wait for vm_run() to return after a stop request. */
static int harness_wait(struct harness *h)
{
	return harness_wait_ms(h, DEADLINE_MS);
}

static void harness_destroy(struct harness *h)
{
	if (h->runner_started) {
		vm_request_stop(h->vm, VM_EXIT_OK, "test done");
		harness_wait(h);
	}
	vm_destroy(h->vm);
	close(h->done_fd);
	close(h->cmd_fd);
	close(h->reply_fd);
	for (unsigned i = 0; i < NCPUS; i++)
		free(h->vs[i]);
	unlink(h->serial_path);
	if (h->disk_path[0])
		unlink(h->disk_path);
	h->vm = NULL;
}

/* Whether the guest's serial output contains s. */
static bool serial_has(struct harness *h, const char *s)
{
	uint8_t *data = NULL;
	size_t len = 0;
	bool found;

	if (read_whole_file(h->serial_path, 1 << 20, &data, &len))
		return false;
	found = memmem(data, len, s, strlen(s)) != NULL;
	free(data);
	return found;
}

static int setup(void **state)
{
	harness_create(&the_harness, -1);
	*state = &the_harness;
	return 0;
}

static int setup_disk_uring(void **state)
{
	harness_create(&the_harness, DISK_ENGINE_IO_URING);
	*state = &the_harness;
	return 0;
}

static int setup_disk_threads(void **state)
{
	harness_create(&the_harness, DISK_ENGINE_THREADS);
	*state = &the_harness;
	return 0;
}

static int teardown(void **state)
{
	harness_destroy(*state);
	if (the_second.vm) /* a test that failed half-way */
		harness_destroy(&the_second);
	return 0;
}

/* ---- commands run on the VM's event loop ------------------------------------- */

static int cmd_pause(struct harness *h)
{
	int r = vm_pause(h->vm);

	pthread_mutex_lock(&h->vm->pause_lock);
	h->parked = h->vm->parked;
	pthread_mutex_unlock(&h->vm->pause_lock);
	return r;
}

static int cmd_resume(struct harness *h)
{
	return vm_resume(h->vm);
}

static int cmd_quit(struct harness *h)
{
	vm_request_stop(h->vm, VM_EXIT_OK, "quit from the console");
	return 0;
}

/* Whether a disk request is in flight: virtio_blk_save() refuses then. */
static int cmd_disk_busy(struct harness *h)
{
	struct virtio_blk_state st;

	return virtio_blk_save(h->vm->virtio.blk[0], &st) == -EBUSY;
}

static int cmd_save(struct harness *h)
{
	for (unsigned i = 0; i < NCPUS; i++) {
		int r = vcpu_state_save(&h->vm->vcpus[i], h->vs[i]);
		if (r)
			return r;
	}
	return irqchip_state_save(h->vm, &h->is);
}

static int cmd_restore(struct harness *h)
{
	for (unsigned i = 0; i < NCPUS; i++) {
		int r = vcpu_state_restore(&h->vm->vcpus[i], h->vs[i]);
		if (r)
			return r;
	}
	return irqchip_state_restore(h->vm, &h->is);
}

/* ---- tests ------------------------------------------------------------------ */

/* Pause, check the counter holds still; resume, check it moves; a few times. */
static void test_pause_holds_and_resume_continues(void **state)
{
	struct harness *h = *state;
	bool written;
	uint64_t a, b;

	harness_start(h);
	a = wait_counter(h, differs, 0);
	/* The guest's kvmclock is on, and no pause was reported to it yet. */
	assert_int_equal(pvclock_flags(h, &written) & PVCLOCK_GUEST_STOPPED, 0);
	assert_true(written);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(on_loop(h, cmd_pause), 0);
		assert_int_equal(h->parked, NCPUS);
		assert_true(vm_is_paused(h->vm));
		a = counter(h);
		let_time_pass(INTERVAL_MS);
		b = counter(h);
		assert_int_equal(a, b);
		assert_int_equal(on_loop(h, cmd_pause), 0); /* paused already: nothing happens */
		assert_int_equal(h->parked, NCPUS);
		assert_int_equal(counter(h), b);

		assert_int_equal(on_loop(h, cmd_resume), 0);
		assert_false(vm_is_paused(h->vm));
		wait_counter(h, differs, b);
		assert_int_equal(on_loop(h, cmd_resume), 0); /* running already */
		/* KVM_KVMCLOCK_CTRL: the guest's clock says it was stopped. */
		assert_int_equal(pvclock_flags(h, &written) & PVCLOCK_GUEST_STOPPED,
				 PVCLOCK_GUEST_STOPPED);
	}
	/* Far enough for a few dots: the port output went on across the pauses. */
	wait_counter(h, at_least, b + (3u << COUNTER_DOT_SHIFT));
	assert_false(atomic_load(&h->vm->stopping));
	vm_request_stop(h->vm, VM_EXIT_OK, "test done");
	assert_int_equal(harness_wait(h), VM_EXIT_OK);
	assert_true(serial_has(h, "counting\n.."));
}

/* Many short pause/resume cycles: every pause parks every vCPU. */
static void test_pause_resume_cycles(void **state)
{
	struct harness *h = *state;
	uint64_t last;

	harness_start(h);
	wait_counter(h, differs, 0);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(on_loop(h, cmd_pause), 0);
		assert_int_equal(h->parked, NCPUS);
		assert_int_equal(on_loop(h, cmd_resume), 0);
	}
	assert_int_equal(on_loop(h, cmd_pause), 0);
	last = counter(h);
	assert_int_equal(on_loop(h, cmd_resume), 0);
	wait_counter(h, differs, last);
	vm_request_stop(h->vm, VM_EXIT_OK, "test done");
	assert_int_equal(harness_wait(h), VM_EXIT_OK);
}

/* Paused before vm_run(): the vCPUs never run guest code until resumed. */
static void test_pause_before_run(void **state)
{
	struct harness *h = *state;

	assert_int_equal(vm_pause(h->vm), 0);
	harness_start(h);
	assert_int_equal(on_loop(h, cmd_pause), 0);
	let_time_pass(INTERVAL_MS);
	assert_int_equal(counter(h), 0);
	assert_int_equal(on_loop(h, cmd_resume), 0);
	wait_counter(h, differs, 0);
}

static void assert_vcpu_states_equal(const struct vcpu_state *a, const struct vcpu_state *b)
{
	assert_int_equal(a->version, b->version);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->index, b->index);
	assert_int_equal(a->tsc_khz, b->tsc_khz);
	assert_memory_equal(&a->mp_state, &b->mp_state, sizeof(a->mp_state));
	assert_memory_equal(&a->regs, &b->regs, sizeof(a->regs));
	assert_memory_equal(&a->sregs, &b->sregs, sizeof(a->sregs));
	assert_memory_equal(&a->fpu, &b->fpu, sizeof(a->fpu));
	assert_int_equal(a->xsave_size, b->xsave_size);
	assert_memory_equal(a->xsave, b->xsave, a->xsave_size);
	assert_memory_equal(&a->xcrs, &b->xcrs, sizeof(a->xcrs));
	assert_memory_equal(&a->debugregs, &b->debugregs, sizeof(a->debugregs));
	assert_memory_equal(&a->lapic, &b->lapic, sizeof(a->lapic));
	assert_memory_equal(&a->events, &b->events, sizeof(a->events));
	assert_int_equal(a->nmsrs, b->nmsrs);
	for (unsigned i = 0; i < a->nmsrs; i++) {
		uint32_t idx = a->msrs[i].index;
		unsigned long long x = a->msrs[i].data, y = b->msrs[i].data;
		/* Clocks count on while paused. */
		bool clock =
		    idx == MSR_IA32_TSC || idx == MSR_HV_VP_RUNTIME || idx == MSR_HV_TIME_REF_COUNT;

		assert_int_equal(idx, b->msrs[i].index);
		if (clock ? y < x : y != x)
			fail_msg("vCPU %u: MSR %#x was %#llx, reads %#llx after the round trip",
				 a->index, idx, x, y);
	}
}

static void assert_irqchip_states_equal(const struct irqchip_state *a,
					const struct irqchip_state *b)
{
	assert_memory_equal(&a->pic_master, &b->pic_master, sizeof(a->pic_master));
	assert_memory_equal(&a->pic_slave, &b->pic_slave, sizeof(a->pic_slave));
	assert_memory_equal(&a->ioapic, &b->ioapic, sizeof(a->ioapic));
	for (unsigned i = 0; i < 3; i++) {
		const struct kvm_pit_channel_state *x = &a->pit.channels[i],
						   *y = &b->pit.channels[i];

		/* count_load_time is the host's clock at the last load: it may move. */
		assert_int_equal(x->count, y->count);
		assert_int_equal(x->mode, y->mode);
		assert_int_equal(x->gate, y->gate);
		assert_int_equal(x->rw_mode, y->rw_mode);
		assert_int_equal(x->bcd, y->bcd);
		assert_int_equal(x->status, y->status);
	}
	assert_int_equal(a->pit.flags, b->pit.flags);
	assert_true(b->clock.clock >= a->clock.clock);
}

/*
 * Save -> restore -> save on the paused VM reads the same state back; a
 * state changed before restoring reads back changed (restore is not a
 * no-op); the guest counts on from the restored %rbx after resuming.
 */
static void test_state_round_trip(void **state)
{
	struct harness *h = *state;
	struct vcpu_state *saved[NCPUS];
	struct irqchip_state saved_is;
	uint64_t rbx, c;

	harness_start(h);
	wait_counter(h, differs, 0);
	assert_int_equal(on_loop(h, cmd_pause), 0);
	/* Only a stopped VM may be saved: the running one says EBUSY. */
	assert_int_equal(on_loop(h, cmd_resume), 0);
	assert_int_equal(on_loop(h, cmd_save), -EBUSY);
	assert_int_equal(on_loop(h, cmd_pause), 0);

	assert_int_equal(on_loop(h, cmd_save), 0);
	for (unsigned i = 0; i < NCPUS; i++) {
		saved[i] = malloc(sizeof(*saved[i]));
		assert_non_null(saved[i]);
		memcpy(saved[i], h->vs[i], sizeof(*saved[i]));
		assert_int_equal(saved[i]->index, i);
		assert_true(saved[i]->nmsrs > 0);
	}
	saved_is = h->is;
	/* The boot vCPU counts in %rbx; the counter in memory is its last store. */
	c = counter(h);
	rbx = saved[0]->regs.rbx;
	assert_true(rbx == c || rbx == c + 1);

	assert_int_equal(on_loop(h, cmd_restore), 0);
	assert_int_equal(on_loop(h, cmd_save), 0);
	for (unsigned i = 0; i < NCPUS; i++)
		assert_vcpu_states_equal(saved[i], h->vs[i]);
	assert_irqchip_states_equal(&saved_is, &h->is);

	/* A changed state is what reads back. */
	h->vs[0]->regs.rbx = rbx + REWIND_STEP;
	h->is.pic_master.imr ^= 0x20;
	h->is.ioapic.redirtbl[9].fields.vector = 0x59;
	h->is.ioapic.redirtbl[9].fields.mask = 1;
	assert_int_equal(on_loop(h, cmd_restore), 0);
	assert_int_equal(on_loop(h, cmd_save), 0);
	assert_int_equal(h->vs[0]->regs.rbx, rbx + REWIND_STEP);
	assert_int_equal(h->is.pic_master.imr, saved_is.pic_master.imr ^ 0x20);
	assert_int_equal(h->is.ioapic.redirtbl[9].fields.vector, 0x59);
	assert_int_equal(h->is.ioapic.redirtbl[9].fields.mask, 1);
	/* Back to the saved irqchip; the boot vCPU keeps the moved %rbx. */
	h->is = saved_is;
	assert_int_equal(on_loop(h, cmd_restore), 0);
	assert_int_equal(counter(h), c); /* restoring touches no guest memory */

	assert_int_equal(on_loop(h, cmd_resume), 0);
	c = wait_counter(h, at_least, rbx + REWIND_STEP);
	wait_counter(h, differs, c);
	assert_false(atomic_load(&h->vm->stopping));
	vm_request_stop(h->vm, VM_EXIT_OK, "test done");
	assert_int_equal(harness_wait(h), VM_EXIT_OK);
	for (unsigned i = 0; i < NCPUS; i++)
		free(saved[i]);
}

/*
 * Pauses in the middle of the guest's disk reads: once paused, no request
 * is in flight and the guest makes no progress; it finishes its reads
 * correctly after the last resume.
 */
static void test_pause_during_disk_io(void **state)
{
	struct harness *h = *state;
	uint64_t a;

	harness_start(h);
	a = wait_counter(h, differs, 0);
	for (int i = 0; i < 20; i++) {
		int r = on_loop(h, cmd_pause);

		if (r == -ESHUTDOWN)
			break; /* the guest finished its reads first */
		assert_int_equal(r, 0);
		assert_int_equal(on_loop(h, cmd_disk_busy), 0);
		a = counter(h);
		let_time_pass(5);
		assert_int_equal(counter(h), a);
		assert_int_equal(on_loop(h, cmd_disk_busy), 0);
		assert_int_equal(on_loop(h, cmd_resume), 0);
		if (atomic_load(&h->vm->stopping))
			break;
		wait_counter(h, differs, a);
	}
	/* The guest resets when done (slow where its exits are: allow a minute). */
	assert_int_equal(harness_wait_ms(h, 60000), VM_EXIT_OK);
	assert_true(serial_has(h, "BENCH-END"));
	assert_true(serial_has(h, "BLK-OK"));
}

/*
 * What a snapshot restore does, in one process: the paused VM's guest
 * memory and vCPU and irqchip state put into a second VM built from the
 * same configuration, which has not run; started, it counts on from where
 * the first one stopped, without booting again.
 */
static void test_state_moves_to_another_vm(void **state)
{
	struct harness *h = *state, *h2 = &the_second;
	uint64_t c;

	harness_start(h);
	wait_counter(h, differs, 0);
	assert_int_equal(on_loop(h, cmd_pause), 0);
	assert_int_equal(on_loop(h, cmd_save), 0);
	c = counter(h);

	harness_create(h2, -1);
	assert_int_equal(h2->vm->mem.nr, h->vm->mem.nr);
	for (unsigned i = 0; i < h->vm->mem.nr; i++) {
		const struct gm_region *from = &h->vm->mem.regions[i];
		struct gm_region *to = &h2->vm->mem.regions[i];

		assert_int_equal(to->gpa, from->gpa);
		assert_int_equal(to->size, from->size);
		memcpy(to->hva, from->hva, from->size);
	}
	for (unsigned i = 0; i < NCPUS; i++)
		assert_int_equal(vcpu_state_restore(&h2->vm->vcpus[i], h->vs[i]), 0);
	assert_int_equal(irqchip_state_restore(h2->vm, &h->is), 0);
	vm_request_stop(h->vm, VM_EXIT_OK, "moved");
	assert_int_equal(harness_wait(h), VM_EXIT_OK);

	/* Read before it runs: once started, the guest may count on at once. */
	assert_int_equal(counter(h2), c);
	harness_start(h2);
	wait_counter(h2, at_least, c + (2u << COUNTER_DOT_SHIFT));
	vm_request_stop(h2->vm, VM_EXIT_OK, "test done");
	assert_int_equal(harness_wait(h2), VM_EXIT_OK);
	assert_true(serial_has(h2, ".."));
	assert_false(serial_has(h2, "counting")); /* it did not start over */
	harness_destroy(h2);
}

/* A quit (Ctrl-A x) while paused ends vm_run() at once. */
static void test_quit_while_paused(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	wait_counter(h, differs, 0);
	assert_int_equal(on_loop(h, cmd_pause), 0);
	assert_int_equal(on_loop(h, cmd_quit), 0);
	assert_int_equal(harness_wait(h), VM_EXIT_OK);
	assert_int_equal(vm_pause(h->vm), -ESHUTDOWN); /* stopped: nothing to pause */
}

/*
 * SIGTERM while paused stops the VM at once (a paused guest cannot answer
 * the power button; the shutdown timeout is 600 s here).
 */
static void test_sigterm_while_paused(void **state)
{
	struct harness *h = *state;

	harness_start(h);
	wait_counter(h, differs, 0);
	assert_int_equal(on_loop(h, cmd_pause), 0);
	assert_int_equal(kill(getpid(), SIGTERM), 0);
	assert_int_equal(harness_wait(h), VM_EXIT_OK);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pause_holds_and_resume_continues, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pause_resume_cycles, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pause_before_run, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_moves_to_another_vm, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quit_while_paused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sigterm_while_paused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pause_during_disk_io, setup_disk_uring, teardown),
	    cmocka_unit_test_setup_teardown(test_pause_during_disk_io, setup_disk_threads,
					    teardown),
	};
	sigset_t sigs;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: %s COUNTER_BZIMAGE BLK_POLL_BZIMAGE\n", argv[0]);
		return 2;
	}
	counter_guest = argv[1];
	blk_guest = argv[2];
	fd = open(getenv("HEARTH_KVM_DEVICE") ? getenv("HEARTH_KVM_DEVICE") : "/dev/kvm",
		  O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("SKIP: /dev/kvm is missing or not accessible (%s)\n", strerror(errno));
		return 77;
	}
	close(fd);
	/* SIGTERM reaches the VM's signalfd only when no thread takes it. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
