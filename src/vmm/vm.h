/* SPDX-License-Identifier: MIT */
/*
 * One virtual machine: built from a vm_config by vm_create() (the single
 * place that assembles memory, vCPUs and every device, in order), run in
 * the foreground by vm_run(), torn down in reverse by vm_destroy().
 */
#ifndef HEARTH_VMM_VM_H
#define HEARTH_VMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "arch/x86/cpu_model.h"
#include "arch/x86/layout.h"
#include "core/bus.h"
#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "core/kvm.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/cf9_reset.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/mc146818.h"
#include "devices/legacy/ns16550.h"
#include "vmm/config.h"
#include "vmm/console.h"
#include "vmm/vm_pci.h"
#include "vmm/vm_virtio.h"

/* hearth's exit statuses (also documented in `hearth run --help`). */
enum vm_exit_status {
	VM_EXIT_OK = 0,		    /* guest powered off or rebooted, or the user quit */
	VM_EXIT_HOST_ERROR = 1,	    /* a host-side failure */
	VM_EXIT_USAGE = 2,	    /* bad command line */
	VM_EXIT_TRIPLE_FAULT = 3,   /* the guest triple-faulted (KVM_EXIT_SHUTDOWN) */
	VM_EXIT_INTERNAL_ERROR = 4, /* KVM could not run the guest (KVM_EXIT_INTERNAL_ERROR) */
	VM_EXIT_UNHANDLED = 5,	    /* an exit hearth does not handle */
	VM_EXIT_FORCED = 6,	    /* stopped hard: the guest ignored the power button */
};

struct vm;

/*
 * Exits a vCPU took, by reason (written by its own thread only, read by
 * others with relaxed atomic loads: the metrics).
 */
struct vcpu_exit_counts {
	uint64_t io_in, io_out;		 /* KVM_EXIT_IO */
	uint64_t mmio_read, mmio_write;	 /* KVM_EXIT_MMIO */
	uint64_t hlt, intr;		 /* KVM_EXIT_HLT, KVM_EXIT_INTR */
	uint64_t shutdown, system_event; /* KVM_EXIT_SHUTDOWN, KVM_EXIT_SYSTEM_EVENT */
	uint64_t dirty_ring_full;	 /* KVM_EXIT_DIRTY_RING_FULL */
	uint64_t internal_error, fail_entry;
	uint64_t other;	       /* any other reason */
	uint64_t guest_errors; /* malformed I/O or MMIO exits ignored */
};

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	uint64_t exits; /* exits handled in user space */
	struct vcpu_exit_counts exit_counts;
	struct kvm_dirty_gfn *dirty_ring; /* vmm/dirty_ring.h; NULL without rings */
	uint32_t dirty_next;		  /* the next entry to harvest */
};

struct vm {
	struct vm_config cfg;
	struct kvm kvm;
	struct cpu_model cpu;
	struct machine_layout layout;
	struct guest_memory mem;
	struct bus pio;
	struct bus mmio;
	struct console *console;
	struct ns16550 uart;
	struct i8042 i8042;
	struct mc146818 rtc;
	struct acpi_pm pm;
	struct cf9_reset cf9;
	struct vm_pci pci;	 /* GSI routing and the PCI host bridge */
	struct vm_virtio virtio; /* disks, network cards, entropy, virtio console */
	char *cmdline;		 /* the kernel command line hearth passes */
	bool devices_ready;
	struct vcpu *vcpus;
	uint32_t tsc_khz;

	/* Stopping: the first request wins; vm_run() returns its status. */
	pthread_mutex_t dirty_ring_lock; /* harvesting the vCPUs' dirty rings */
	pthread_mutex_t stop_lock;
	atomic_bool stopping;
	int exit_status;
	char stop_reason[128];
	int stop_fd;	       /* eventfd: wakes the event loop when the VM stops */
	int rx_fd;	       /* eventfd: the UART has room for more input */
	int rtc_changed_fd;    /* eventfd: the RTC's next interrupt time changed */
	int signal_fd;	       /* SIGTERM, SIGINT, SIGHUP */
	int shutdown_timer_fd; /* hard stop after the power button */
	int rtc_timer_fd;      /* the RTC's next interrupt */
	bool power_pressed;

	/* Pausing: vm_pause() and vm_resume(); parked vCPU threads wait on pause_cond. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_bool pause_requested; /* vCPU threads park before their next KVM_RUN */
	unsigned parked;	     /* vCPU threads parked now (pause_lock) */
	bool paused;		     /* vm_pause() succeeded and no vm_resume() since */
	bool vcpus_started;	     /* vm_start_vcpus() ran */
	bool vcpus_released;	     /* the vCPU threads may enter KVM_RUN (pause_lock) */
	/* Migration throttling: vCPUs kicked by vm_throttle_kick() sleep this share of 10 ms. */
	atomic_uint throttle_percent;
	/* With -v, after a migration's resume: log when the guest next writes to its console. */
	atomic_bool trace_console;

	struct event_loop loop; /* device events, run by vm_run() */
	int console_fd;		/* console input, -1 when none */
	bool console_polled;
	bool console_is_file; /* input epoll cannot watch: read when the UART has room */
	uint8_t input[4096];  /* console input the UART has not taken yet */
	size_t input_off, input_len;
};

/*
 * vm_create - build a VM from cfg: open KVM, compute the layout, map memory,
 * create the irqchip, PIT, devices and vCPUs, load the kernel and firmware
 * tables. Returns NULL with one line in err on failure (nothing runs then).
 */
struct vm *vm_create(const struct vm_config *cfg, char *err, size_t errlen);

/*
 * vm_run - start the vCPUs and run the event loop (console input, signals)
 * until the VM stops. Returns an enum vm_exit_status value.
 */
int vm_run(struct vm *vm);

/*
 * vm_start_vcpus - create the vCPU threads now (vm_run() does it otherwise);
 * each installs its seccomp filter and waits. With release, they go on at
 * once: into KVM_RUN, or parked when the VM is paused (a migration's
 * destination starts them parked while the memory arrives, so that the
 * hand-over's vm_resume() is all that stands between the commit and guest
 * code). vm_run() releases them otherwise, after the event loop's filter.
 * The caller's signal mask is left as it was. Idempotent; vm_destroy()
 * stops and joins threads vm_run() did not. Returns 0 or a negative errno.
 */
int vm_start_vcpus(struct vm *vm, bool release);

/*
 * vm_request_stop - ask the VM to stop with status (first caller wins);
 * safe from any thread. why is logged at info level.
 */
void vm_request_stop(struct vm *vm, int status, const char *why);

/*
 * vm_pause - stop every vCPU at a consistent point and wait until all are
 * parked. Each vCPU thread is kicked out of KVM_RUN (kvm_run->immediate_exit
 * and a signal), enters KVM_RUN once more with immediate_exit set so that KVM
 * completes the instruction behind its last exit (port input, MMIO read)
 * without running guest code, signals KVM_KVMCLOCK_CTRL (so that a guest
 * using kvmclock does not take the pause for a lockup) and parks. Then the
 * disks start what the guest queued before the pause (but what their rate
 * limiters hold) and complete every request: none is in flight on return.
 * Devices stay live on the event loop (network input, timers may still
 * interrupt the guest); no guest code runs. vCPU threads started later park
 * before their first KVM_RUN. Call it from the VM's event-loop thread (or
 * before vm_run()). Returns 0 (at once when already paused), or -ESHUTDOWN
 * when the VM is stopping; a stop request made while paused still ends
 * vm_run().
 */
int vm_pause(struct vm *vm);

/*
 * vm_resume - let the parked vCPUs enter KVM_RUN again. Call it from the
 * VM's event-loop thread. Returns 0 (also when the VM is not paused).
 */
int vm_resume(struct vm *vm);

/*
 * vm_throttle_kick - kick every vCPU out of KVM_RUN once; while
 * vm->throttle_percent is non-zero each then sleeps that percentage of a
 * 10 ms slice before it runs guest code again. A migration that does not
 * converge calls it every 10 ms. Safe from any thread.
 */
void vm_throttle_kick(struct vm *vm);

/* vm_is_paused - whether vm_pause() succeeded and vm_resume() was not called since. */
bool vm_is_paused(const struct vm *vm);

/*
 * vm_vcpus_stopped - whether no vCPU can run guest code now: the VM is
 * paused, or its vCPU threads are not running (before vm_run() starts them
 * or after it returned). Saving or restoring vCPU and irqchip state needs
 * this. Call it from the VM's event-loop thread.
 */
bool vm_vcpus_stopped(const struct vm *vm);

/*
 * vcpu_park - on vCPU v's own thread, when vm->pause_requested is set:
 * complete the last exit, signal KVM_KVMCLOCK_CTRL and wait until the VM is
 * resumed or stopping (see vm_pause()).
 */
void vcpu_park(struct vcpu *v);

/*
 * vm_irq - an interrupt line on GSI gsi of vm's in-kernel irqchip
 * (KVM_IRQ_LINE); every device of the VM gets its lines from here.
 */
struct irq_line vm_irq(struct vm *vm, uint32_t gsi);

/* vm_destroy - tear down everything vm_create() built, in reverse. */
void vm_destroy(struct vm *vm);

/*
 * vcpu_handle_exit - handle one KVM_RUN exit described by run. Returns 0 to
 * keep running, or an enum vm_exit_status value (> 0) to stop the VM. A plain
 * function so that tests can call it with synthetic kvm_run contents.
 */
int vcpu_handle_exit(struct vcpu *vcpu, struct kvm_run *run);

/* vcpu_dump_registers - print the vCPU's registers on stderr. */
void vcpu_dump_registers(const struct vcpu *vcpu);

#endif
