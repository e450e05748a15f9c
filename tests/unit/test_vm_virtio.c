/* SPDX-License-Identifier: MIT */
/* vm_virtio: placement, bus registration, command line, an rng driven over MMIO. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "core/log.h"
#include "core/util.h"
#include "devices/virtio/virtio_mmio.h"
#include "iasl_util.h"
#include "virtio_fake_driver.h"
#include "vmm/vm.h"
#include "vmm/vm_pci.h"
#include "vmm/vm_virtio.h"

struct fixture {
	struct vm *vm;
	struct vm_virtio vv;
	int irq_level;
	int rx_ready;
};

static struct fixture *the_fixture;

static int setup(void **state)
{
	static struct fixture f;
	struct gm_range ranges[] = {{0, 0x100000}};

	memset(&f, 0, sizeof(f));
	f.vm = calloc(1, sizeof(*f.vm));
	assert_non_null(f.vm);
	f.vm->cfg.transport = TRANSPORT_MMIO;
	f.vm->kvm.fd = f.vm->kvm.vm_fd = -1; /* no KVM: ioeventfds and KVM_IRQ_LINE fail */
	bus_init(&f.vm->mmio, "mmio");
	assert_int_equal(gm_create(&f.vm->mem, ranges, 1, GM_BACKING_ANON, NULL), 0);
	assert_int_equal(event_loop_init(&f.vm->loop), 0);
	the_fixture = &f;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vm_virtio_destroy(&f->vv, f->vm);
	assert_int_equal(f->vm->mmio.nr, 0);
	event_loop_destroy(&f->vm->loop);
	gm_destroy(&f->vm->mem);
	bus_destroy(&f->vm->mmio);
	free(f->vm);
	return 0;
}

static uint32_t bus_readl(struct fixture *f, uint64_t addr)
{
	uint32_t v = 0;
	assert_true(bus_read(&f->vm->mmio, addr, (uint8_t *)&v, 4));
	return v;
}

static void bus_writel(struct fixture *f, uint64_t addr, uint32_t v)
{
	assert_true(bus_write(&f->vm->mmio, addr, (const uint8_t *)&v, 4));
}

static void rec_irq(void *opaque, uint32_t gsi, int level)
{
	struct fixture *f = opaque;
	assert_int_equal(gsi, 5);
	f->irq_level = level;
}

static void rec_rx_ready(void *vm)
{
	assert_ptr_equal(vm, the_fixture->vm);
	the_fixture->rx_ready++;
}

static void test_placement_and_cmdline(void **state)
{
	struct fixture *f = *state;
	char err[128];

	assert_string_equal(vm_virtio_cmdline(&f->vv, "console=ttyS0"), "console=ttyS0");
	assert_int_equal(vm_virtio_add_rng(&f->vv, f->vm, err, sizeof(err)), 0);
	assert_int_equal(vm_virtio_add_console(&f->vv, f->vm, rec_rx_ready, err, sizeof(err)), 0);
	assert_int_equal(f->vm->mmio.nr, 2);
	assert_int_equal(bus_readl(f, 0xf0000000), VIRTIO_MMIO_MAGIC);
	assert_int_equal(bus_readl(f, 0xf0000000 + VIRTIO_MMIO_REG_DEVICE_ID), VIRTIO_ID_RNG);
	assert_int_equal(bus_readl(f, 0xf0001000 + VIRTIO_MMIO_REG_DEVICE_ID), VIRTIO_ID_CONSOLE);
	assert_int_equal(f->vv.mmio[0]->irq.gsi, 5);
	assert_int_equal(f->vv.mmio[1]->irq.gsi, 6);
	/* Without KVM there are no ioeventfds: kicks come as MMIO writes. */
	assert_int_equal(f->vv.mmio[0]->nr_kicks, 0);
	assert_string_equal(vm_virtio_cmdline(&f->vv, "console=ttyS0 quiet"),
			    "console=ttyS0 quiet virtio_mmio.device=4K@0xf0000000:5 "
			    "virtio_mmio.device=4K@0xf0001000:6");
	assert_string_equal(
	    vm_virtio_cmdline(&f->vv, ""),
	    "virtio_mmio.device=4K@0xf0000000:5 virtio_mmio.device=4K@0xf0001000:6");
	assert_int_equal(vm_virtio_add_rng(&f->vv, f->vm, err, sizeof(err)), -EEXIST);
}

static const struct virtio_device_ops filler_ops = {
    .name = "filler",
    .device_id = 42,
    .num_queues = 1,
    .queue_max_size = 8,
};

static void test_slots_run_out(void **state)
{
	struct fixture *f = *state;
	struct virtio_device devs[LAYOUT_VIRTIO_MMIO_SLOTS + 1];
	char err[128];
	const char *cmd;

	for (unsigned i = 0; i <= LAYOUT_VIRTIO_MMIO_SLOTS; i++)
		assert_int_equal(
		    virtio_device_init(&devs[i], &filler_ops, NULL, &f->vm->mem, &f->vm->loop), 0);
	for (unsigned i = 0; i < LAYOUT_VIRTIO_MMIO_SLOTS; i++)
		assert_int_equal(vm_add_virtio_mmio(&f->vv, f->vm, &devs[i], err, sizeof(err)), 0);
	assert_int_equal(
	    vm_add_virtio_mmio(&f->vv, f->vm, &devs[LAYOUT_VIRTIO_MMIO_SLOTS], err, sizeof(err)),
	    -ENOSPC);
	assert_non_null(strstr(err, "too many"));
	assert_int_equal(f->vv.mmio[6]->base, 0xf0006000);
	assert_int_equal(f->vv.mmio[6]->irq.gsi, 15);
	cmd = vm_virtio_cmdline(&f->vv, "x");
	assert_non_null(strstr(cmd, " virtio_mmio.device=4K@0xf0006000:15"));
	assert_int_equal(strlen(cmd), 1 + 7 + 3 * 34 + 4 * 35); /* "x", spaces, fragments */
	vm_virtio_destroy(&f->vv, f->vm);
	for (unsigned i = 0; i <= LAYOUT_VIRTIO_MMIO_SLOTS; i++)
		virtio_device_destroy(&devs[i]);
}

/* The whole path: a driver on the bus, an rng request, bytes in RAM. */
static void test_rng_over_the_bus(void **state)
{
	struct fixture *f = *state;
	struct fake_ring ring;
	const uint64_t b = 0xf0000000;
	char err[128];
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	assert_int_equal(vm_virtio_add_rng(&f->vv, f->vm, err, sizeof(err)), 0);
	f->vv.mmio[0]->irq.set = rec_irq;
	f->vv.mmio[0]->irq.opaque = f;
	fr_init(&ring, &f->vm->mem, 8, 0x1000, 0x2000, 0x3000);

	bus_writel(f, b + VIRTIO_MMIO_REG_STATUS, 0);
	bus_writel(f, b + VIRTIO_MMIO_REG_STATUS, st);
	bus_writel(f, b + VIRTIO_MMIO_REG_DRIVER_FEAT_SEL, 1);
	bus_writel(f, b + VIRTIO_MMIO_REG_DRIVER_FEATURES, 1);
	bus_writel(f, b + VIRTIO_MMIO_REG_STATUS, st | VIRTIO_STATUS_FEATURES_OK);
	bus_writel(f, b + VIRTIO_MMIO_REG_QUEUE_SEL, 0);
	bus_writel(f, b + VIRTIO_MMIO_REG_QUEUE_NUM, 8);
	bus_writel(f, b + VIRTIO_MMIO_REG_QUEUE_DESC_LOW, 0x1000);
	bus_writel(f, b + VIRTIO_MMIO_REG_QUEUE_DRIVER_LOW, 0x2000);
	bus_writel(f, b + VIRTIO_MMIO_REG_QUEUE_DEVICE_LOW, 0x3000);
	bus_writel(f, b + VIRTIO_MMIO_REG_QUEUE_READY, 1);
	bus_writel(f, b + VIRTIO_MMIO_REG_STATUS,
		   st | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(bus_readl(f, b + VIRTIO_MMIO_REG_STATUS),
			 st | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);

	fr_desc(&ring, 0, 0x10000, 32, VRING_DESC_F_WRITE, 0);
	fr_publish(&ring, 0);
	bus_writel(f, b + VIRTIO_MMIO_REG_QUEUE_NOTIFY, 0);
	assert_int_equal(fr_used_idx(&ring), 1);
	assert_int_equal(fr_used_elem(&ring, 0).len, 32);
	assert_int_equal(f->irq_level, 1);
	assert_int_equal(bus_readl(f, b + VIRTIO_MMIO_REG_INTERRUPT_STATUS), 1);
	bus_writel(f, b + VIRTIO_MMIO_REG_INTERRUPT_ACK, 1);
	assert_int_equal(f->irq_level, 0);
}

static int other_hook_calls;

static int other_hook(struct aml *aml, void *opaque)
{
	assert_ptr_equal(opaque, &other_hook_calls);
	other_hook_calls++;
	aml_end(aml, aml_device_begin(aml, "XXXX"));
	return 0;
}

static void test_acpi_dsdt(void **state)
{
	static const char *const expect[] = {
	    "Device (VR00)",
	    "Name (_HID, \"LNRO0005\")",
	    "Name (_UID, Zero)",
	    "Memory32Fixed (ReadWrite,",
	    "0xF0000000,         // Address Base",
	    "0x00001000,         // Address Length",
	    "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )",
	    "0x00000005,",
	    "Device (VR01)",
	    "Name (_UID, One)",
	    "0xF0001000,         // Address Base",
	    "0x00000006,",
	    NULL,
	};
	struct fixture *f = *state;
	struct machine_layout l;
	struct acpi_options o = {.dsdt_sb_hook = other_hook, .opaque = &other_hook_calls};
	char err[128], tmpl[] = "/tmp/hearth-vmvirtio-XXXXXX", out[8192];
	static uint8_t buf[0x20000];
	uint64_t rsdp;
	const uint8_t *dsdt;
	uint32_t dsdt_len;
	char *dsl;
	size_t dsl_len;
	const char *dir;
	int n;

	assert_int_equal(vm_virtio_add_rng(&f->vv, f->vm, err, sizeof(err)), 0);
	assert_int_equal(vm_virtio_add_console(&f->vv, f->vm, rec_rx_ready, err, sizeof(err)), 0);
	assert_int_equal(layout_compute(&l, 512 * MiB, 1, 40, err, sizeof(err)), 0);
	vm_virtio_acpi_options(&f->vv, &o);
	vm_virtio_acpi_options(&f->vv, &o); /* twice: still chained once */
	n = acpi_build_ext(&l, &o, buf, sizeof(buf), LAYOUT_ACPI_START, &rsdp);
	assert_true(n > 0);
	assert_int_equal(other_hook_calls, 1);
	dsdt = memmem(buf, (size_t)n, "DSDT", 4);
	assert_non_null(dsdt);
	memcpy(&dsdt_len, dsdt + 4, 4);
	assert_non_null(memmem(dsdt, dsdt_len, "LNRO0005", 8));
	/* The chained hook's devices come first. */
	assert_true((const uint8_t *)memmem(dsdt, dsdt_len, "XXXX", 4) <
		    (const uint8_t *)memmem(dsdt, dsdt_len, "VR00", 4));

	if (!iasl_path()) {
		print_message("skipped the iasl check: iasl not found on PATH\n");
		return;
	}
	dir = mkdtemp(tmpl);
	assert_non_null(dir);
	assert_int_equal(iasl_write(dir, "dsdt.dat", dsdt, dsdt_len), 0);
	n = iasl_run(dir, (const char *const[]){"-d", "dsdt.dat", NULL}, out, sizeof(out));
	if (n != 0 || strstr(out, "Error") || strstr(out, "Warning"))
		fail_msg("iasl -d: status %d\n%s", n, out);
	dsl = iasl_read(dir, "dsdt.dsl", &dsl_len);
	assert_non_null(dsl);
	for (const char *const *e = expect; *e; e++)
		if (!strstr(dsl, *e))
			fail_msg("DSDT disassembly lacks '%s':\n%s", *e, dsl);
	free(dsl);
	iasl_rm_tree(dir);
}

/* ---- over a real KVM VM (skipped without /dev/kvm) ------------------------ */

static int kvm_setup(void **state)
{
	static struct fixture f;
	struct gm_range ranges[] = {{0, 0x100000}};
	char err[256];
	struct vm *vm;

	memset(&f, 0, sizeof(f));
	f.vm = vm = calloc(1, sizeof(*vm));
	assert_non_null(vm);
	vm->kvm.fd = vm->kvm.vm_fd = -1;
	if (kvm_open(&vm->kvm, err, sizeof(err)) || kvm_create_vm(&vm->kvm) ||
	    ioctl(vm->kvm.vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		kvm_close(&vm->kvm);
		free(vm);
		print_message("skipped: no usable /dev/kvm (%s)\n", err);
		skip();
	}
	assert_int_equal(layout_compute(&vm->layout, 256ULL << 20, 1, 40, err, sizeof(err)), 0);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	cf9_reset_init(&vm->cf9, NULL, NULL);
	assert_int_equal(gm_create(&vm->mem, ranges, 1, GM_BACKING_ANON, NULL), 0);
	assert_int_equal(event_loop_init(&vm->loop), 0);
	assert_int_equal(vm_pci_setup(&vm->pci, vm, err, sizeof(err)), 0);
	the_fixture = &f;
	*state = &f;
	return 0;
}

static int kvm_teardown(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm;

	vm_virtio_destroy(&f->vv, vm);
	vm_pci_destroy(&vm->pci);
	event_loop_destroy(&vm->loop);
	gm_destroy(&vm->mem);
	cf9_reset_destroy(&vm->cf9);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	kvm_close(&vm->kvm);
	free(vm);
	return 0;
}

/* Whether KVM holds a 4-byte ioeventfd for datamatch at addr (binding it again fails). */
static bool kvm_has_kick(struct vm *vm, uint64_t addr, uint32_t datamatch)
{
	int fd = eventfd(0, EFD_CLOEXEC);
	int r;

	assert_true(fd >= 0);
	r = kvm_ioeventfd(&vm->kvm, addr, 4, false, true, datamatch, fd, true);
	if (r == 0)
		assert_int_equal(
		    kvm_ioeventfd(&vm->kvm, addr, 4, false, true, datamatch, fd, false), 0);
	else
		assert_int_equal(r, -EEXIST);
	close(fd);
	return r != 0;
}

static void test_kvm_mmio_ioeventfds(void **state)
{
	struct fixture *f = *state;
	const uint64_t notify = 0xf0000000 + VIRTIO_MMIO_REG_QUEUE_NOTIFY;
	char err[128];

	f->vm->cfg.transport = TRANSPORT_MMIO;
	assert_int_equal(vm_virtio_add_console(&f->vv, f->vm, rec_rx_ready, err, sizeof(err)), 0);
	assert_int_equal(f->vv.mmio[0]->nr_kicks, 2);
	assert_true(kvm_has_kick(f->vm, notify, 0));
	assert_true(kvm_has_kick(f->vm, notify, 1));
	assert_false(kvm_has_kick(f->vm, notify, 2));
	vm_virtio_destroy(&f->vv, f->vm);
	assert_false(kvm_has_kick(f->vm, notify, 0));
	assert_false(kvm_has_kick(f->vm, notify, 1));
	assert_int_equal(f->vm->mmio.nr, 1); /* only the PCI host's ECAM is left */
}

static void test_kvm_pci_transport(void **state)
{
	struct fixture *f = *state;
	char err[128] = "";

	f->vm->cfg.transport = TRANSPORT_PCI;
	assert_int_equal(vm_virtio_add_rng(&f->vv, f->vm, err, sizeof(err)), 0);
	assert_int_equal(vm_virtio_add_console(&f->vv, f->vm, rec_rx_ready, err, sizeof(err)), 0);
	assert_int_equal(f->vv.nr_pci, 2);
	assert_int_equal(f->vv.nr_mmio, 0);
	assert_non_null(f->vv.rng->dev.transport);
	assert_string_equal(vm_virtio_cmdline(&f->vv, "a"), "a");
	vm_virtio_destroy(&f->vv, f->vm);
	assert_int_equal(f->vv.nr_pci, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_placement_and_cmdline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slots_run_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rng_over_the_bus, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_acpi_dsdt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kvm_mmio_ioeventfds, kvm_setup, kvm_teardown),
	    cmocka_unit_test_setup_teardown(test_kvm_pci_transport, kvm_setup, kvm_teardown),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
