/* SPDX-License-Identifier: MIT */
/*
 * The VM's virtio devices and their virtio-mmio transports: placement in
 * the machine layout (slot i at LAYOUT_VIRTIO_MMIO_BASE + i * 4 KiB on GSI
 * element i of LAYOUT_GSIS_VIRTIO_MMIO), registration on the VM's MMIO
 * bus, ioeventfds for guest kicks (served on vm->loop), the interrupt line
 * (KVM_IRQ_LINE), and the kernel command-line fragments that announce each
 * device to Linux ("virtio_mmio.device=4K@0xf0000000:5").
 *
 * Linux finds the devices in one of two ways:
 *  - ACPI (the default, and the only one Debian's kernels support: they are
 *    built without CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES): one DSDT device
 *    per slot, _HID "LNRO0005" (what Linux's virtio_mmio driver matches),
 *    with Memory32Fixed and Interrupt (edge, active high) resources, added
 *    through vm_virtio_acpi_options();
 *  - the kernel command line, for kernels built with
 *    CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES that boot without ACPI:
 *    vm_virtio_cmdline(). Do not use both for one guest: a kernel that
 *    understands both would see every device twice (the second copy fails
 *    to claim its registers and is dropped with an error message).
 *
 * struct vm embeds one struct vm_virtio (zeroed by vm_create()'s calloc).
 * Order in vm_create(): after vm_setup_devices() (the buses exist, the
 * irqchip too) and before vm_load_guest(), whose ACPI build calls
 * vm_virtio_acpi_options() after vm_pci_acpi_options(). vm_destroy() calls
 * vm_virtio_destroy() after the vCPU threads have stopped and before
 * kvm_close() and event_loop_destroy().
 */
#ifndef HEARTH_VMM_VM_VIRTIO_H
#define HEARTH_VMM_VM_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "backends/tap.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/console.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_mmio.h"
#include "vmm/config.h"

struct vm;

/* Most devices vm_virtio_attach() puts on virtio-pci (PCI has 31 slots). */
#define VM_VIRTIO_PCI_MAX 31

/* Longest fragment "virtio_mmio.device=4K@0xf0006000:15" plus a space. */
#define VM_VIRTIO_FRAGMENT_MAX 48

struct vm_virtio {
	unsigned nr_mmio;
	struct virtio_mmio *mmio[LAYOUT_VIRTIO_MMIO_SLOTS];
	bool mmio_on_bus[LAYOUT_VIRTIO_MMIO_SLOTS];
	unsigned nr_pci;
	struct virtio_device *pci[VM_VIRTIO_PCI_MAX]; /* on virtio-pci via attach */
	struct virtio_rng *rng;
	unsigned nr_blk;
	struct virtio_blk *blk[CONFIG_MAX_DISKS];
	unsigned nr_net;
	struct virtio_net *net[CONFIG_MAX_NICS];
	struct tap taps[CONFIG_MAX_NICS];
	struct virtio_console *console;
	char fragments[LAYOUT_VIRTIO_MMIO_SLOTS * VM_VIRTIO_FRAGMENT_MAX];
	char *cmdline; /* what vm_virtio_cmdline() returned last */
	/* The DSDT hook vm_virtio_acpi_options() chained after. */
	int (*next_dsdt_hook)(struct aml *aml, void *opaque);
	void *next_dsdt_opaque;
};

/*
 * vm_add_virtio_mmio - give dev (initialized with virtio_device_init(), its
 * gm and loop being vm's) the next free virtio-mmio slot: its transport on
 * vm->mmio, an ioeventfd per queue on vm->loop (when KVM refuses them, the
 * kicks arrive as MMIO exits instead, with a warning), its interrupt line,
 * and its command-line fragment. dev must outlive vv. Returns 0, or -errno
 * with one line in err (-ENOSPC: all LAYOUT_VIRTIO_MMIO_SLOTS are taken).
 */
int vm_add_virtio_mmio(struct vm_virtio *vv, struct vm *vm, struct virtio_device *dev, char *err,
		       size_t errlen);

/*
 * vm_virtio_attach - put dev on the VM's configured transport
 * (vm->cfg.transport): TRANSPORT_MMIO through vm_add_virtio_mmio(),
 * TRANSPORT_PCI through vm_add_virtio_pci() on vm->pci (which must be set
 * up; the caller assigns the BARs with pci_host_assign_resources() once
 * every device is added). vm_virtio_destroy() takes a PCI device off its
 * host again. Returns 0 or -errno with one line in err.
 */
int vm_virtio_attach(struct vm_virtio *vv, struct vm *vm, struct virtio_device *dev, char *err,
		     size_t errlen);

/*
 * vm_virtio_add_disk - open the image of d (see backends/block.h: locking,
 * cache modes) and attach a virtio-blk device for it, one request queue per
 * vCPU (at most VIRTIO_BLK_MAX_QUEUES). Returns 0 or -errno with one line
 * in err naming the image.
 */
int vm_virtio_add_disk(struct vm_virtio *vv, struct vm *vm, const struct disk_config *d, char *err,
		       size_t errlen);

/*
 * vm_virtio_add_nic - open (or create) the tap of n, bring it up, and attach
 * a virtio-net device on it; the MAC is n's or derived from the VM's id and
 * the card's index. Returns 0 or -errno with one line in err.
 */
int vm_virtio_add_nic(struct vm_virtio *vv, struct vm *vm, const struct net_config *n, char *err,
		      size_t errlen);

/*
 * vm_virtio_add_rng - create the entropy device (VIRTIO_RNG_DEFAULT_BPS)
 * and attach it. Returns 0 or -errno with one line in err.
 */
int vm_virtio_add_rng(struct vm_virtio *vv, struct vm *vm, char *err, size_t errlen);

/*
 * vm_virtio_add_console - create the virtio console and attach it. Its
 * output goes to vm->console (console_write(), looked up at each write, so
 * the console may be opened later); rx_ready(vm) is called when the guest
 * can take input again (it runs with the device lock held: signal the
 * event loop, e.g. vm->rx_fd, and call virtio_console_receive() from
 * there). Returns 0 or -errno with one line in err.
 */
int vm_virtio_add_console(struct vm_virtio *vv, struct vm *vm, void (*rx_ready)(void *vm),
			  char *err, size_t errlen);

/*
 * vm_virtio_cmdline - base followed by the fragments of every virtio-mmio
 * device added so far ("base virtio_mmio.device=..."); base when there are
 * none. The string belongs to vv (valid until the next call or
 * vm_virtio_destroy()). NULL when out of memory.
 */
const char *vm_virtio_cmdline(struct vm_virtio *vv, const char *base);

/*
 * vm_virtio_acpi_options - make acpi_build_ext() with options o also
 * describe every virtio-mmio device added so far in the DSDT (Device
 * \_SB.VRnn, nn the slot). Whatever DSDT hook o already has (the PCI host
 * bridge's) still runs first. Call it after the devices are added and
 * after the other options are set; vv must outlive the ACPI build.
 */
void vm_virtio_acpi_options(struct vm_virtio *vv, struct acpi_options *o);

/*
 * vm_virtio_acpi_dsdt - append the DSDT devices of vv's virtio-mmio slots
 * to aml (inside Scope (\_SB)). Returns aml_error(aml).
 */
int vm_virtio_acpi_dsdt(struct vm_virtio *vv, struct aml *aml);

/*
 * vm_virtio_destroy - unbind the ioeventfds, take the transports off the
 * bus (virtio-mmio) or the PCI host (virtio-pci), destroy the devices hearth created (rng, console)
 * and free everything. Safe on a zeroed or half set-up struct.
 */
void vm_virtio_destroy(struct vm_virtio *vv, struct vm *vm);

#endif
