/* SPDX-License-Identifier: MIT */
/* Building, running and tearing down one VM. */
#include "vmm/vm.h"
#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/cpu_setup.h"
#include "arch/x86/mptable.h"
#include "core/log.h"
#include "core/util.h"
#include "sandbox/seccomp.h"
#include "vmm/dirty_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define VM_KICK_SIGNAL	  SIGUSR1
#define VM_TSS_ADDR	  0xfffbd000ULL
#define VM_IDENT_MAP_ADDR 0xfffbc000ULL
#define VM_MAX_KERNEL	  (256ULL * MiB)

/* ---- stopping ---------------------------------------------------------- */

static void eventfd_signal(int fd)
{
	uint64_t one = 1;
	ssize_t r = write(fd, &one, sizeof(one));
	(void)r;
}

void vm_request_stop(struct vm *vm, int status, const char *why)
{
	pthread_mutex_lock(&vm->stop_lock);
	if (!atomic_load(&vm->stopping)) {
		vm->exit_status = status;
		snprintf(vm->stop_reason, sizeof(vm->stop_reason), "%s", why);
		atomic_store(&vm->stopping, true);
		log_info("stopping: %s", why);
		for (unsigned i = 0; vm->vcpus && i < vm->cfg.ncpus; i++) {
			struct vcpu *v = &vm->vcpus[i];
			if (v->run)
				v->run->immediate_exit = 1;
			if (v->thread_started && !pthread_equal(v->thread, pthread_self()))
				pthread_kill(v->thread, VM_KICK_SIGNAL);
		}
		eventfd_signal(vm->stop_fd);
		/* Parked vCPU threads leave too. */
		pthread_mutex_lock(&vm->pause_lock);
		pthread_cond_broadcast(&vm->pause_cond);
		pthread_mutex_unlock(&vm->pause_lock);
	}
	pthread_mutex_unlock(&vm->stop_lock);
}

/* ---- pausing ------------------------------------------------------------- */

void vcpu_park(struct vcpu *v)
{
	struct vm *vm = v->vm;
	int r;

	/*
	 * KVM finishes an instruction that exited to user space (port input,
	 * MMIO read) only at the next KVM_RUN; with immediate_exit set, that
	 * KVM_RUN finishes it and returns EINTR without running guest code. An
	 * access KVM splits in parts may exit once more first.
	 */
	v->run->immediate_exit = 1;
	for (;;) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno != EINTR && errno != EAGAIN) {
				log_error("vCPU %u: KVM_RUN failed: %s", v->index, strerror(errno));
				vm_request_stop(vm, VM_EXIT_HOST_ERROR, "KVM_RUN failed");
			}
			break;
		}
		r = vcpu_handle_exit(v, v->run);
		if (r > 0) {
			vm_request_stop(vm, r, "the guest stopped with an error");
			break;
		}
	}
	v->run->immediate_exit = 0;
	/* EINVAL: the guest has no kvmclock. */
	if (ioctl(v->fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
		log_debug("vCPU %u: KVM_KVMCLOCK_CTRL: %s", v->index, strerror(errno));

	pthread_mutex_lock(&vm->pause_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_requested) && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

/* Whether disk b has requests the guest queued that it has not started (device lock held). */
static bool vm_disk_has_queued(struct virtio_blk *b)
{
	struct virtio_device *dev = &b->vdev;

	if (!dev->active || dev->broken || b->throttled)
		return false; /* nothing to start now: the rate limiter's timer goes on later */
	for (unsigned q = 0; q < dev->num_queues; q++)
		if (vq_has_available(&dev->vqs[q]))
			return true;
	return false;
}

/*
 * Start what the guest queued before the pause (its last kick may still
 * sit in an ioeventfd, a long queue continues batch by batch) and wait for
 * all of it. The guest adds nothing while paused, so this ends: each round
 * takes a batch from every queue, and a ring holds a few batches.
 */
static void vm_quiesce_disk(struct virtio_blk *b)
{
	for (unsigned round = 0; round < 1024; round++) {
		bool queued;

		virtio_device_lock(&b->vdev);
		queued = vm_disk_has_queued(b);
		for (unsigned q = 0; queued && q < b->vdev.num_queues; q++)
			virtio_queue_notify(&b->vdev, q);
		virtio_device_unlock(&b->vdev);
		virtio_blk_drain(b);
		if (!queued)
			return;
	}
}

int vm_pause(struct vm *vm)
{
	unsigned started = 0;
	bool stopping;

	if (atomic_load(&vm->stopping))
		return -ESHUTDOWN;
	if (vm->paused)
		return 0;
	atomic_store(&vm->pause_requested, true);
	for (unsigned i = 0; i < vm->cfg.ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (!v->thread_started)
			continue;
		started++;
		v->run->immediate_exit = 1;
		pthread_kill(v->thread, VM_KICK_SIGNAL);
	}
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->parked < started && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	stopping = atomic_load(&vm->stopping);
	if (stopping)
		atomic_store(&vm->pause_requested, false);
	pthread_mutex_unlock(&vm->pause_lock);
	if (stopping)
		return -ESHUTDOWN;

	/* No vCPU adds anything now: the disks finish what the guest gave them. */
	for (unsigned i = 0; i < vm->virtio.nr_blk; i++)
		vm_quiesce_disk(vm->virtio.blk[i]);
	vm->paused = true;
	log_info("paused");
	return 0;
}

int vm_resume(struct vm *vm)
{
	if (!vm->paused)
		return 0;
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_requested, false);
	vm->paused = false;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	log_info("resumed");
	return 0;
}

bool vm_is_paused(const struct vm *vm)
{
	return vm->paused;
}

bool vm_vcpus_stopped(const struct vm *vm)
{
	if (vm->paused)
		return true;
	for (unsigned i = 0; vm->vcpus && i < vm->cfg.ncpus; i++)
		if (vm->vcpus[i].thread_started)
			return false;
	return true;
}

/* ---- device callbacks ---------------------------------------------------- */

static void vm_irq_set(void *opaque, uint32_t gsi, int level)
{
	struct vm *vm = opaque;
	int r = kvm_irq_line(&vm->kvm, gsi, level);

	if (r)
		log_error("KVM_IRQ_LINE gsi %u: %s", gsi, strerror(-r));
}

struct irq_line vm_irq(struct vm *vm, uint32_t gsi)
{
	return (struct irq_line){.set = vm_irq_set, .opaque = vm, .gsi = gsi};
}

static void vm_uart_tx(void *opaque, const uint8_t *buf, size_t len)
{
	struct vm *vm = opaque;

	if (atomic_load_explicit(&vm->trace_console, memory_order_relaxed) &&
	    atomic_exchange(&vm->trace_console, false))
		log_info("console: the guest's first output since the resume at %llu us",
			 (unsigned long long)(now_ns() / 1000));
	console_write(vm->console, buf, len);
}

static void vm_uart_rx_ready(void *opaque)
{
	struct vm *vm = opaque;

	eventfd_signal(vm->rx_fd);
}

static void vm_rtc_timer_changed(void *opaque)
{
	struct vm *vm = opaque;

	eventfd_signal(vm->rtc_changed_fd);
}

static void vm_guest_reset(void *opaque)
{
	vm_request_stop(opaque, VM_EXIT_OK, "the guest rebooted");
}

static void vm_guest_poweroff(void *opaque)
{
	vm_request_stop(opaque, VM_EXIT_OK, "the guest powered off");
}

/* ---- building ------------------------------------------------------------ */

static int vm_setup_memory(struct vm *vm, char *err, size_t errlen)
{
	struct gm_range ranges[2];
	unsigned nr = 0;
	int r;

	ranges[nr++] = (struct gm_range){0, vm->layout.low_ram_end};
	if (vm->layout.high_ram_size)
		ranges[nr++] = (struct gm_range){LAYOUT_4G, vm->layout.high_ram_size};
	if (vm->cfg.restore_mem_path)
		r = gm_create(&vm->mem, ranges, nr, GM_BACKING_FILE, vm->cfg.restore_mem_path);
	else
		r = gm_create(&vm->mem, ranges, nr, GM_BACKING_ANON, NULL);
	if (r) {
		snprintf(err, errlen, "cannot map %llu MiB of guest memory: %s",
			 (unsigned long long)(vm->cfg.mem_size / MiB), strerror(-r));
		return r;
	}
	for (unsigned i = 0; i < vm->mem.nr; i++) {
		struct gm_region *g = &vm->mem.regions[i];
		r = kvm_set_memory(&vm->kvm, g->slot, g->gpa, g->size, g->hva,
				   vm->cfg.track_dirty_pages ? KVM_MEM_LOG_DIRTY_PAGES : 0);
		if (r) {
			snprintf(err, errlen, "KVM refused guest memory at %#llx (%llu MiB): %s",
				 (unsigned long long)g->gpa, (unsigned long long)(g->size / MiB),
				 strerror(-r));
			return r;
		}
	}
	if (vm->cfg.track_dirty_pages)
		gm_set_dirty_tracking(&vm->mem, true);
	return 0;
}

static int vm_setup_irqchip(struct vm *vm, char *err, size_t errlen)
{
	struct kvm_pit_config pit = {.flags = 0};

	if (ioctl(vm->kvm.vm_fd, KVM_SET_TSS_ADDR, (unsigned long)VM_TSS_ADDR) < 0 &&
	    errno != ENOTTY && errno != EINVAL) {
		snprintf(err, errlen, "KVM_SET_TSS_ADDR failed: %s", strerror(errno));
		return -errno;
	}
	{
		uint64_t ident = VM_IDENT_MAP_ADDR;
		/* Needed by VMX without unrestricted guest; harmless elsewhere. */
		if (ioctl(vm->kvm.vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0)
			log_debug("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	}
	if (ioctl(vm->kvm.vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		snprintf(err, errlen, "cannot create the in-kernel interrupt controller: %s",
			 strerror(errno));
		return -errno;
	}
	if (ioctl(vm->kvm.vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		snprintf(err, errlen, "cannot create the in-kernel PIT: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int vm_register_pio(struct vm *vm, uint64_t base, uint64_t len,
			   const struct bus_device_ops *ops, void *opaque, char *err, size_t errlen)
{
	int r = bus_register(&vm->pio, base, len, ops, opaque);

	if (r)
		snprintf(err, errlen, "internal error: port range %#llx+%llu for %s: %s",
			 (unsigned long long)base, (unsigned long long)len, ops->name,
			 strerror(-r));
	return r;
}

static int vm_setup_devices(struct vm *vm, char *err, size_t errlen)
{
	int r;

	ns16550_init(&vm->uart, vm_irq(vm, LAYOUT_GSI_COM1), vm_uart_tx, vm);
	ns16550_set_rx_ready(&vm->uart, vm_uart_rx_ready);
	i8042_init(&vm->i8042, vm_irq(vm, LAYOUT_GSI_KEYBOARD), vm_irq(vm, LAYOUT_GSI_MOUSE),
		   vm_guest_reset, vm);
	mc146818_init(&vm->rtc, vm_irq(vm, LAYOUT_GSI_RTC), vm->layout.low_ram_end,
		      vm->layout.high_ram_size);
	mc146818_set_timer_changed(&vm->rtc, vm_rtc_timer_changed, vm);
	acpi_pm_init(&vm->pm, vm_irq(vm, LAYOUT_GSI_SCI), vm_guest_poweroff, vm);
	cf9_reset_init(&vm->cf9, vm_guest_reset, vm);
	vm->devices_ready = true;

	r = vm_register_pio(vm, LAYOUT_PORT_COM1, 8, &ns16550_bus_ops, &vm->uart, err, errlen);
	r = r
		?: vm_register_pio(vm, LAYOUT_PORT_I8042, 1, &i8042_data_bus_ops, &vm->i8042, err,
				   errlen);
	r = r
		?: vm_register_pio(vm, LAYOUT_PORT_I8042 + 4, 1, &i8042_cmd_bus_ops, &vm->i8042,
				   err, errlen);
	r = r ?: vm_register_pio(vm, LAYOUT_PORT_RTC, 2, &mc146818_bus_ops, &vm->rtc, err, errlen);
	r = r
		?: vm_register_pio(vm, LAYOUT_PORT_PM1A_EVT, 4, &acpi_pm_evt_bus_ops, &vm->pm, err,
				   errlen);
	r = r
		?: vm_register_pio(vm, LAYOUT_PORT_PM1A_CNT, 2, &acpi_pm_cnt_bus_ops, &vm->pm, err,
				   errlen);
	if (r)
		return r;
	/* The host bridge owns ports 0xcf8-0xcff and passes 0xcf9 to the reset register. */
	return vm_pci_setup(&vm->pci, vm, err, errlen);
}

/*
 * The virtio devices, in a fixed order so that guests see stable names:
 * disks first (vda, vdb...), then network cards, the entropy device and the
 * virtio console; then BAR addresses, as firmware would assign them.
 */
static int vm_setup_virtio(struct vm *vm, char *err, size_t errlen)
{
	int r;

	for (unsigned i = 0; i < vm->cfg.ndisks; i++) {
		r = vm_virtio_add_disk(&vm->virtio, vm, &vm->cfg.disks[i], err, errlen);
		if (r)
			return r;
	}
	for (unsigned i = 0; i < vm->cfg.nnics; i++) {
		r = vm_virtio_add_nic(&vm->virtio, vm, &vm->cfg.nics[i], err, errlen);
		if (r)
			return r;
	}
	if (vm->cfg.rng) {
		r = vm_virtio_add_rng(&vm->virtio, vm, err, errlen);
		if (r)
			return r;
	}
	if (vm->cfg.virtio_console) {
		r = vm_virtio_add_console(&vm->virtio, vm, vm_uart_rx_ready, err, errlen);
		if (r)
			return r;
	}
	if (vm->cfg.transport == TRANSPORT_PCI && pci_host_assign_resources(&vm->pci.host))
		log_warn("not every PCI BAR fits its window; the guest kernel may place them");
	return 0;
}

/* The command line the kernel gets: the user's, plus console=hvc0 with --console virtio. */
static int vm_build_cmdline(struct vm *vm, char *err, size_t errlen)
{
	const char *extra = vm->cfg.virtio_console ? " console=hvc0" : "";

	if (asprintf(&vm->cmdline, "%s%s", vm->cfg.cmdline ? vm->cfg.cmdline : "", extra) < 0) {
		vm->cmdline = NULL;
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int vm_load_guest(struct vm *vm, char *err, size_t errlen)
{
	uint8_t *kernel = NULL, *initrd = NULL;
	size_t kernel_len = 0, initrd_len = 0;
	struct acpi_options acpi_opts;
	uint8_t *tables;
	uint64_t rsdp = 0;
	struct boot_input in;
	struct boot_entry entry;
	int r, n;

	r = read_whole_file(vm->cfg.kernel_path, VM_MAX_KERNEL, &kernel, &kernel_len);
	if (r) {
		snprintf(err, errlen, "cannot read kernel %s: %s", vm->cfg.kernel_path,
			 r == -EFBIG ? "file is larger than 256 MiB" : strerror(-r));
		return r;
	}
	if (vm->cfg.initrd_path) {
		r = read_whole_file(vm->cfg.initrd_path, vm->layout.low_ram_end, &initrd,
				    &initrd_len);
		if (r) {
			snprintf(err, errlen, "cannot read initrd %s: %s", vm->cfg.initrd_path,
				 r == -EFBIG ? "it is larger than the guest's low memory"
					     : strerror(-r));
			goto out;
		}
	}

	/* Firmware tables: ACPI (primary) and the MP table (for old kernels). */
	tables = gm_ptr(&vm->mem, LAYOUT_ACPI_START, LAYOUT_ACPI_END - LAYOUT_ACPI_START);
	vm_pci_acpi_options(&vm->pci, vm, &acpi_opts);
	vm_virtio_acpi_options(&vm->virtio, &acpi_opts);
	n = tables ? acpi_build_ext(&vm->layout, &acpi_opts, tables,
				    LAYOUT_ACPI_END - LAYOUT_ACPI_START, LAYOUT_ACPI_START, &rsdp)
		   : -EFAULT;
	if (n < 0) {
		snprintf(err, errlen, "cannot build the ACPI tables: %s", strerror(-n));
		r = n;
		goto out;
	}
	gm_mark_dirty(&vm->mem, LAYOUT_ACPI_START, (uint64_t)n);
	tables = gm_ptr(&vm->mem, LAYOUT_EBDA_START, LAYOUT_EBDA_END - LAYOUT_EBDA_START);
	n = tables ? mptable_build(vm->cfg.ncpus, tables, LAYOUT_EBDA_END - LAYOUT_EBDA_START,
				   LAYOUT_EBDA_START)
		   : -EFAULT;
	if (n < 0)
		log_info("no MP table for %u vCPUs (it does not fit); ACPI describes them",
			 vm->cfg.ncpus);
	else
		gm_mark_dirty(&vm->mem, LAYOUT_EBDA_START, (uint64_t)n);

	in = (struct boot_input){
	    .kernel = kernel,
	    .kernel_len = kernel_len,
	    .initrd = initrd,
	    .initrd_len = initrd_len,
	    .cmdline = vm->cmdline,
	    .rsdp_gpa = rsdp,
	};
	r = boot_load(&vm->mem, &vm->layout, &in, &entry, err, errlen);
	if (r)
		goto out;
	r = x86_write_boot_tables(&vm->mem);
	if (r) {
		snprintf(err, errlen, "cannot write the boot page tables");
		goto out;
	}
	r = x86_vcpu_setup_regs(
	    vm->vcpus[0].fd, entry.mode == BOOT_ENTRY_PVH32 ? X86_ENTRY_PROT32 : X86_ENTRY_LONG64,
	    entry.rip, entry.boot_info_gpa);
	if (r)
		snprintf(err, errlen, "cannot set the boot vCPU's registers: %s", strerror(-r));
out:
	free(kernel);
	free(initrd);
	return r;
}

static int vm_setup_vcpus(struct vm *vm, char *err, size_t errlen)
{
	struct kvm_cpuid_entry2 *cpuid;
	int r = 0;

	vm->vcpus = calloc(vm->cfg.ncpus, sizeof(*vm->vcpus));
	cpuid = calloc(CPU_MODEL_MAX_ENTRIES, sizeof(*cpuid));
	if (!vm->vcpus || !cpuid) {
		free(cpuid);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < vm->cfg.ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		unsigned nent;

		v->vm = vm;
		v->index = i;
		v->fd = kvm_create_vcpu(&vm->kvm, i, &v->run);
		if (v->fd < 0) {
			r = v->fd;
			snprintf(err, errlen, "cannot create vCPU %u: %s", i, strerror(-r));
			break;
		}
		r = dirty_ring_map(vm, v);
		if (r) {
			snprintf(err, errlen, "cannot map vCPU %u's dirty ring: %s", i,
				 strerror(-r));
			break;
		}
		nent = cpu_model_vcpu_cpuid(&vm->cpu, i, vm->cfg.ncpus, cpuid);
		r = x86_vcpu_setup_cpu(v->fd, cpuid, nent);
		if (r) {
			snprintf(err, errlen, "cannot set up vCPU %u: %s", i, strerror(-r));
			break;
		}
		if (i == 0) {
			int khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
			vm->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
			vm->cpu.tsc_khz = vm->tsc_khz;
		}
	}
	free(cpuid);
	return r;
}

static int vm_setup_events(struct vm *vm, char *err, size_t errlen);

struct vm *vm_create(const struct vm_config *cfg, char *err, size_t errlen)
{
	struct vm *vm;
	int r;

	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	vm->cfg = *cfg;
	vm->kvm.fd = vm->kvm.vm_fd = -1;
	vm->mem.fd = -1;
	vm->signal_fd = vm->shutdown_timer_fd = vm->rtc_timer_fd = vm->console_fd = -1;
	vm->loop.epfd = -1;
	pthread_mutex_init(&vm->dirty_ring_lock, NULL);
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->rx_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->rtc_changed_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = event_loop_init(&vm->loop);
	if (vm->stop_fd < 0 || vm->rx_fd < 0 || vm->rtc_changed_fd < 0 || r) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}

	r = kvm_open(&vm->kvm, err, errlen);
	if (r)
		goto fail;
	r = cpu_model_probe(&vm->cpu, vm->kvm.fd);
	if (r) {
		snprintf(err, errlen, "cannot read the CPUID KVM supports: %s", strerror(-r));
		goto fail;
	}
	r = layout_compute(&vm->layout, cfg->mem_size, cfg->ncpus, vm->cpu.phys_bits, err, errlen);
	if (r)
		goto fail;
	r = kvm_create_vm(&vm->kvm);
	if (r) {
		snprintf(err, errlen, "cannot create a KVM virtual machine: %s", strerror(-r));
		goto fail;
	}
	r = dirty_ring_setup(vm, err, errlen);
	if (r)
		goto fail;
	/*
	 * Memory first: a memory slot registered after the irqchip exists
	 * waits for an SRCU grace period (milliseconds); before, it does not.
	 */
	if (vm_setup_memory(vm, err, errlen) || vm_setup_irqchip(vm, err, errlen) ||
	    vm_setup_devices(vm, err, errlen) || vm_setup_virtio(vm, err, errlen) ||
	    vm_build_cmdline(vm, err, errlen) || vm_setup_vcpus(vm, err, errlen) ||
	    (!cfg->restore_mem_path && !cfg->incoming && vm_load_guest(vm, err, errlen)))
		goto fail;
	vm->console = console_open(cfg->serial, cfg->serial_path, err, errlen);
	if (!vm->console)
		goto fail;
	vm->console_fd = console_input_fd(vm->console);
	if (vm_setup_events(vm, err, errlen))
		goto fail;
	return vm;

fail:
	vm_destroy(vm);
	return NULL;
}

/* ---- running --------------------------------------------------------------- */

#define VM_THROTTLE_SLICE_NS 10000000ULL /* vm_throttle_kick() period */

void vm_throttle_kick(struct vm *vm)
{
	for (unsigned i = 0; vm->vcpus && i < vm->cfg.ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (v->thread_started && v->run) {
			v->run->immediate_exit = 1;
			pthread_kill(v->thread, VM_KICK_SIGNAL);
		}
	}
}

/* A throttled vCPU (kicked out of KVM_RUN) sleeps its share of the time slice. */
static void vcpu_throttle(struct vcpu *v)
{
	unsigned pct = atomic_load(&v->vm->throttle_percent);
	struct timespec ts;

	if (!pct || atomic_load(&v->vm->stopping) || atomic_load(&v->vm->pause_requested))
		return;
	if (pct > 99)
		pct = 99;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(VM_THROTTLE_SLICE_NS * pct / 100);
	nanosleep(&ts, NULL);
}

static void kick_handler(int sig)
{
	(void)sig;
}

/*
 * KVM_RUN answers EAGAIN to an application processor woken while it waits
 * for a SIPI; vCPU 0 never waits so. There, EAGAIN on and on is the kernel
 * failing to start the VM's worker thread (a pids.max reached): an error.
 */
#define VCPU_EAGAIN_MAX 100000

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	unsigned int eagain = 0;
	char name[16];
	sigset_t set;
	int r;

	snprintf(name, sizeof(name), "vcpu%u", v->index);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, VM_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	/* The filter goes in before guest code runs; vm_run() then lets every vCPU go. */
	if ((r = sandbox_seccomp_apply(SANDBOX_THREAD_VCPU, name))) {
		log_error("vCPU %u: cannot install its seccomp filter: %s", v->index, strerror(-r));
		vm_request_stop(vm, VM_EXIT_HOST_ERROR, "seccomp filter failed");
		return NULL;
	}
	pthread_mutex_lock(&vm->pause_lock);
	while (!vm->vcpus_released && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_lock);

	while (!atomic_load(&vm->stopping)) {
		if (atomic_load(&vm->pause_requested)) {
			vcpu_park(v);
			continue;
		}
		r = ioctl(v->fd, KVM_RUN, 0);
		if (r < 0) {
			if (errno == EAGAIN && v->index == 0 && ++eagain >= VCPU_EAGAIN_MAX) {
				log_error("vCPU 0: KVM_RUN failed with EAGAIN %u times in a row: "
					  "the kernel cannot start the VM (a limit on processes or "
					  "threads, e.g. a cgroup's pids.max?)",
					  eagain);
				vm_request_stop(vm, VM_EXIT_HOST_ERROR, "KVM_RUN keeps failing");
				break;
			}
			if (errno == EINTR || errno == EAGAIN) {
				v->run->immediate_exit = 0;
				vcpu_throttle(v);
				continue;
			}
			log_error("vCPU %u: KVM_RUN failed: %s", v->index, strerror(errno));
			vm_request_stop(vm, VM_EXIT_HOST_ERROR, "KVM_RUN failed");
			break;
		}
		eagain = 0;
		r = vcpu_handle_exit(v, v->run);
		if (r > 0) {
			if (r >= VM_EXIT_TRIPLE_FAULT && r <= VM_EXIT_UNHANDLED)
				vcpu_dump_registers(v);
			vm_request_stop(vm, r, "the guest stopped with an error");
			break;
		}
	}
	return NULL;
}

/* Move console input the UART has not taken yet into it. */
static void pump_input(struct vm *vm)
{
	while (vm->input_off < vm->input_len) {
		const uint8_t *p = vm->input + vm->input_off;
		size_t len = vm->input_len - vm->input_off;
		size_t n = vm->virtio.console ? virtio_console_receive(vm->virtio.console, p, len)
					      : ns16550_receive(&vm->uart, p, len);
		if (n == 0)
			break;
		vm->input_off += n;
	}
	if (vm->input_off == vm->input_len)
		vm->input_off = vm->input_len = 0;
}

/*
 * Watch the console's input only while the UART can take more. Input that
 * epoll cannot watch (stdin redirected from a file or /dev/null) is read a
 * chunk at a time whenever the UART has room, driven by the rx eventfd.
 */
static void console_poll(struct vm *vm, bool on)
{
	if (vm->console_fd < 0 || vm->console_polled == on)
		return;
	if (vm->console_is_file) {
		if (on)
			eventfd_signal(vm->rx_fd);
		vm->console_polled = on;
		return;
	}
	if (on)
		event_loop_modify(&vm->loop, vm->console_fd, EPOLLIN);
	else
		event_loop_modify(&vm->loop, vm->console_fd, 0);
	vm->console_polled = on;
}

static void on_console_input(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	enum console_event ev = CONSOLE_EV_NONE;
	ssize_t got;

	(void)events;
	if (vm->input_len > 0) {
		console_poll(vm, false);
		return;
	}
	got = console_read_input(vm->console, vm->input, sizeof(vm->input), &ev);
	if (got > 0) {
		vm->input_off = 0;
		vm->input_len = (size_t)got;
		pump_input(vm);
	}
	if (ev == CONSOLE_EV_QUIT)
		vm_request_stop(vm, VM_EXIT_OK, "quit from the console");
	if (ev == CONSOLE_EV_EOF) {
		if (!vm->console_is_file)
			event_loop_remove(&vm->loop, vm->console_fd);
		vm->console_fd = -1;
	} else if (vm->input_len > 0) {
		console_poll(vm, false); /* the UART is full: wait until the guest drains it */
	} else if (vm->console_is_file) {
		eventfd_signal(vm->rx_fd); /* all taken: read the next chunk */
	}
}

static void on_uart_rx_ready(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	uint64_t cnt;

	(void)events;
	if (read(vm->rx_fd, &cnt, sizeof(cnt)) > 0)
		pump_input(vm);
	if (vm->input_len != 0)
		return;
	if (vm->console_is_file && vm->console_fd >= 0) {
		vm->console_polled = true;
		on_console_input(vm, EPOLLIN);
	} else {
		console_poll(vm, true);
	}
}

static void on_signal(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	struct signalfd_siginfo si;

	(void)events;
	while (read(vm->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (vm->paused) {
			/* A paused guest cannot answer the power button. */
			vm_request_stop(vm, VM_EXIT_OK, "a signal while paused");
		} else if (!vm->power_pressed) {
			struct itimerspec its = {.it_value.tv_sec = vm->cfg.shutdown_timeout_s};
			vm->power_pressed = true;
			log_info("signal %u: pressing the power button", si.ssi_signo);
			acpi_pm_press_power_button(&vm->pm);
			timerfd_settime(vm->shutdown_timer_fd, 0, &its, NULL);
		} else {
			vm_request_stop(vm, VM_EXIT_FORCED, "second signal: stopped hard");
		}
	}
}

static void on_shutdown_timeout(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	uint64_t cnt;

	(void)events;
	if (read(vm->shutdown_timer_fd, &cnt, sizeof(cnt)) > 0) {
		log_warn("the guest did not shut down within %u s of the power button: stopping "
			 "it hard",
			 vm->cfg.shutdown_timeout_s);
		vm_request_stop(vm, VM_EXIT_FORCED, "shutdown timeout");
	}
}

/* Arm the RTC's timer for its next interrupt, or disarm it. */
static void rtc_rearm(struct vm *vm)
{
	int64_t when = mc146818_next_event(&vm->rtc);
	struct itimerspec its = {{0, 0}, {0, 0}};

	if (when >= 0) {
		its.it_value.tv_sec = when / 1000000000LL;
		its.it_value.tv_nsec = when % 1000000000LL;
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(vm->rtc_timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void on_rtc_timer(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	uint64_t cnt;

	(void)events;
	if (read(vm->rtc_timer_fd, &cnt, sizeof(cnt)) > 0)
		mc146818_timer(&vm->rtc);
	rtc_rearm(vm);
}

static void on_rtc_changed(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	uint64_t cnt;

	(void)events;
	if (read(vm->rtc_changed_fd, &cnt, sizeof(cnt)) > 0)
		rtc_rearm(vm);
}

static void on_stop(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	uint64_t cnt;

	(void)events;
	if (read(vm->stop_fd, &cnt, sizeof(cnt)) > 0)
		vm->loop.stop = true;
}

/*
 * Register the VM's own event sources: stopping, signals, the shutdown and
 * RTC timers, the UART's room for input and the console's input.
 */
static int vm_setup_events(struct vm *vm, char *err, size_t errlen)
{
	sigset_t sigs;
	int r;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	vm->signal_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	vm->shutdown_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	vm->rtc_timer_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	if (vm->signal_fd < 0 || vm->shutdown_timer_fd < 0 || vm->rtc_timer_fd < 0) {
		snprintf(err, errlen, "cannot create the event loop's descriptors: %s",
			 strerror(errno));
		return -errno;
	}
	r = event_loop_add(&vm->loop, vm->stop_fd, EPOLLIN, on_stop, vm);
	r = r ?: event_loop_add(&vm->loop, vm->signal_fd, EPOLLIN, on_signal, vm);
	r = r ?: event_loop_add(&vm->loop, vm->shutdown_timer_fd, EPOLLIN, on_shutdown_timeout, vm);
	r = r ?: event_loop_add(&vm->loop, vm->rtc_timer_fd, EPOLLIN, on_rtc_timer, vm);
	r = r ?: event_loop_add(&vm->loop, vm->rtc_changed_fd, EPOLLIN, on_rtc_changed, vm);
	r = r ?: event_loop_add(&vm->loop, vm->rx_fd, EPOLLIN, on_uart_rx_ready, vm);
	/* Stopping still works while a migration holds the devices (event_loop_hold()). */
	r = r ?: event_loop_set_control(&vm->loop, vm->stop_fd);
	r = r ?: event_loop_set_control(&vm->loop, vm->signal_fd);
	r = r ?: event_loop_set_control(&vm->loop, vm->shutdown_timer_fd);
	if (!r && vm->console_fd >= 0) {
		r = event_loop_add(&vm->loop, vm->console_fd, EPOLLIN, on_console_input, vm);
		if (r == -EPERM) {
			/* A regular file or /dev/null: always readable, epoll refuses it. */
			vm->console_is_file = true;
			eventfd_signal(vm->rx_fd);
			r = 0;
		}
		vm->console_polled = true;
	}
	if (r)
		snprintf(err, errlen, "cannot set up the event loop: %s", strerror(-r));
	return r;
}

/* The signals only the event loop (stop signals) or vCPU threads (the kick) take. */
static void vm_signal_set(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	sigaddset(sigs, SIGHUP);
	sigaddset(sigs, VM_KICK_SIGNAL);
}

/* Let the vCPU threads past their filter's installation (to KVM_RUN, or parked when paused). */
static void vm_release_vcpus(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->vcpus_released = true;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

int vm_start_vcpus(struct vm *vm, bool release)
{
	struct sigaction sa;
	sigset_t sigs, old;
	int r = 0;

	if (vm->vcpus_started)
		return 0;
	vm->vcpus_started = true;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigaction(VM_KICK_SIGNAL, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/*
	 * The threads inherit a mask with the stop signals (the event loop's
	 * signalfd takes them) and the kick signal blocked; each unblocks the
	 * kick for itself.
	 */
	vm_signal_set(&sigs);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);

	/*
	 * A thread counts as started, and so gets kicked by vm_request_stop(),
	 * from the moment it exists: the stop lock covers creation and marking,
	 * so a stop requested meanwhile (vCPU 0 may already be stopping the
	 * VM) waits for the mark and then kicks this thread too.
	 */
	for (unsigned i = 0; i < vm->cfg.ncpus && !atomic_load(&vm->stopping); i++) {
		struct vcpu *v = &vm->vcpus[i];

		pthread_mutex_lock(&vm->stop_lock);
		r = pthread_create(&v->thread, NULL, vcpu_thread, v);
		v->thread_started = r == 0;
		pthread_mutex_unlock(&vm->stop_lock);
		if (r) {
			log_error("cannot start vCPU %u thread: %s", i, strerror(r));
			vm_request_stop(vm, VM_EXIT_HOST_ERROR, "thread creation failed");
			r = -r;
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (release)
		vm_release_vcpus(vm);
	return r;
}

/* Wait for the vCPU threads that were started (the VM is stopping). */
static void vm_join_vcpus(struct vm *vm)
{
	for (unsigned i = 0; vm->vcpus && i < vm->cfg.ncpus; i++) {
		if (vm->vcpus[i].thread_started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].thread_started = false;
		}
	}
}

int vm_run(struct vm *vm)
{
	sigset_t sigs, old;
	int r;

	/*
	 * SIGTERM/SIGINT/SIGHUP reach the event loop through its signalfd; the
	 * kick signal is blocked everywhere but in the vCPU threads.
	 */
	vm_signal_set(&sigs);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	vm_start_vcpus(vm, false);
	/*
	 * The event loop's filter goes in after the vCPU threads exist (they
	 * would inherit it) and before any of them runs guest code.
	 */
	if (!atomic_load(&vm->stopping) && (r = sandbox_seccomp_apply(SANDBOX_THREAD_VMM, "vmm"))) {
		log_error("cannot install the event loop's seccomp filter: %s", strerror(-r));
		vm_request_stop(vm, VM_EXIT_HOST_ERROR, "seccomp filter failed");
	}
	vm_release_vcpus(vm);

	while (!vm->loop.stop && !atomic_load(&vm->stopping)) {
		r = event_loop_run_once(&vm->loop, -1);
		if (r < 0) {
			log_error("event loop: %s", strerror(-r));
			vm_request_stop(vm, VM_EXIT_HOST_ERROR, "event loop failed");
		}
	}

	vm_join_vcpus(vm);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return vm->exit_status;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	if (vm->vcpus_started && !atomic_load(&vm->stopping)) /* threads vm_run() never ran */
		vm_request_stop(vm, VM_EXIT_HOST_ERROR, "the VM is destroyed");
	vm_join_vcpus(vm);
	console_close(vm->console);
	for (unsigned i = 0; vm->vcpus && i < vm->cfg.ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		dirty_ring_unmap(vm, v);
		if (v->run)
			munmap(v->run, vm->kvm.run_size);
		if (v->fd > 0)
			close(v->fd);
	}
	free(vm->vcpus);
	vm_virtio_destroy(&vm->virtio, vm);
	vm_pci_destroy(&vm->pci);
	free(vm->cmdline);
	if (vm->devices_ready) {
		cf9_reset_destroy(&vm->cf9);
		acpi_pm_destroy(&vm->pm);
		mc146818_destroy(&vm->rtc);
		i8042_destroy(&vm->i8042);
		ns16550_destroy(&vm->uart);
	}
	gm_destroy(&vm->mem);
	kvm_close(&vm->kvm);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	if (vm->rx_fd >= 0)
		close(vm->rx_fd);
	if (vm->rtc_changed_fd >= 0)
		close(vm->rtc_changed_fd);
	if (vm->signal_fd >= 0)
		close(vm->signal_fd);
	if (vm->shutdown_timer_fd >= 0)
		close(vm->shutdown_timer_fd);
	if (vm->rtc_timer_fd >= 0)
		close(vm->rtc_timer_fd);
	event_loop_destroy(&vm->loop);
	pthread_mutex_destroy(&vm->stop_lock);
	pthread_cond_destroy(&vm->pause_cond);
	pthread_mutex_destroy(&vm->pause_lock);
	free(vm);
}
