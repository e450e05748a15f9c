/* SPDX-License-Identifier: MIT */
/*
 * The PCI host bridge and bus 0: configuration space, BARs, capabilities
 * and INTx.
 *
 * Configuration mechanisms
 *   - ECAM: MMIO at LAYOUT_ECAM_BASE, 256 MiB, 1 MiB per bus, 4 KiB per
 *     function (offset = bus << 20 | device << 15 | function << 12 | reg).
 *     The whole 4 KiB of a function (extended space included) is reached.
 *   - Ports 0xcf8-0xcff: a 32-bit access at 0xcf8 is CONFIG_ADDRESS
 *     (enable bit 31, bus 23:16, device 15:11, function 10:8, register
 *     7:2; the other bits read 0); 0xcfc-0xcff is CONFIG_DATA, any width
 *     at any offset within, reaching registers 0-255 only. As on real
 *     chipsets, a 1-byte access at 0xcf9 is the reset control register
 *     (cf9_reset_read/cf9_reset_write); other accesses to 0xcf8-0xcfb
 *     that are not 32-bit at 0xcf8 read all ones and are ignored (so
 *     Linux's "type 2" probe finds nothing). The host bridge registers the
 *     whole range 0xcf8-0xcff and dispatches both.
 *   Only bus 0, function 0 of each device exists: reads of anything else
 *   give all ones, writes are dropped. Accesses that are not naturally
 *   aligned are carried out byte by byte.
 *
 * Devices
 *   00:00.0 is the host bridge: vendor 0x1b36 device 0x0008 (the generic
 *   "PCIe host bridge" id used by virtual machines; no driver binds to it,
 *   no kernel quirk matches it), class 0x060000. Other devices are added
 *   to slots 1-31 with pci_add_device().
 *
 * BARs and the placement rule
 *   A BAR is mapped on the VMM's bus (MMIO BARs on the MMIO bus, I/O BARs
 *   on the port bus) only while the command register enables its kind of
 *   decoding (PCI_COMMAND_MEMORY / PCI_COMMAND_IO), and it follows the
 *   guest when moved. A placement is valid only when the whole BAR lies in
 *     - for an I/O BAR: the I/O window [PCI_IO_WINDOW_START, PCI_IO_WINDOW_END);
 *     - for a 32-bit MMIO BAR: the 32-bit MMIO window (LAYOUT_MMIO32_*);
 *     - for a 64-bit MMIO BAR: the 32-bit or the 64-bit MMIO window
 *       (machine_layout.mmio64_base/size).
 *   These windows hold no RAM and none of the fixed devices, so a guest
 *   cannot cover RAM, the ECAM, the APICs or a legacy port with a BAR. A
 *   BAR placed elsewhere (or at 0) is simply not mapped: accesses there hit
 *   nothing (reads all ones). Among BARs placed over each other, the one
 *   already mapped keeps the range; the others stay unmapped (bus_register
 *   says -EEXIST) and are retried whenever any BAR mapping on the host
 *   changes, so they appear as soon as the conflict is gone. A refused
 *   placement is reported with log_guest_error() once per address.
 *
 * Interrupts
 *   INTx pin P (A=0 .. D=3) of slot N is wired to GSI
 *   LAYOUT_GSI_PCI_BASE + ((N + P) % 8) on the IOAPIC (level triggered,
 *   active low in ACPI terms: the _PRT lists these GSIs directly). Devices
 *   sharing a GSI are ORed: the line is high while any of them asserts it.
 *   The command register's INTx disable bit masks a device's line; the
 *   status register's interrupt bit shows the device's request. MSI-X is in
 *   msix.h.
 *
 * Locking
 *   One mutex per host serializes configuration accesses and BAR mapping;
 *   a device's config_read/config_write hooks run with it held and must not
 *   call pci_add_device/pci_remove_device/pci_host_assign_resources. INTx
 *   state has its own leaf lock: pci_device_set_irq() may be called from
 *   any thread, also from the hooks. BAR callbacks are called by the bus
 *   with no PCI lock held.
 */
#ifndef HEARTH_DEVICES_PCI_PCI_H
#define HEARTH_DEVICES_PCI_PCI_H

#include <linux/pci_regs.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/layout.h"
#include "core/bus.h"
#include "core/irq.h"

struct aml;
struct acpi_options;
struct cf9_reset;
struct msix;

#define PCI_CFG_SIZE	  4096 /* with the PCIe extended space */
#define PCI_CFG_CONV_SIZE 256  /* conventional space, what 0xcf8/0xcfc reach */
#define PCI_MAX_SLOTS	  32
#define PCI_NUM_BARS	  6
#define PCI_CAP_START	  0x40	/* first capability offset */
#define PCI_EXT_CAP_START 0x100 /* first extended capability offset */

#define PCI_HOST_VENDOR_ID 0x1b36
#define PCI_HOST_DEVICE_ID 0x0008
#define PCI_HOST_CLASS	   0x060000 /* bridge, host bridge */

/* The I/O window for I/O BARs: [0x1000, 0xf000). See pci_acpi_dsdt(). */
#define PCI_IO_WINDOW_START 0x1000
#define PCI_IO_WINDOW_END   0xf000

/* Port range of the configuration mechanism (address, reset, data). */
#define PCI_CFG_PORT_BASE 0xcf8
#define PCI_CFG_PORT_LEN  8

enum pci_bar_type {
	PCI_BAR_NONE = 0,
	PCI_BAR_IO,    /* I/O ports, size 4-256 */
	PCI_BAR_MEM32, /* 32-bit MMIO, size >= 16 */
	PCI_BAR_MEM64, /* 64-bit MMIO: takes this BAR register and the next */
};

struct pci_bar {
	enum pci_bar_type type;
	bool prefetchable;
	uint64_t size; /* a power of two */
	const struct bus_device_ops *ops;
	void *opaque;
	/* Host state (under the host lock). */
	bool mapped;
	uint64_t mapped_addr;
	uint64_t refused_addr; /* last placement reported as refused, 0 none */
};

struct pci_device;

/* Hooks for configuration accesses a device cares about (both optional). */
struct pci_device_ops {
	/*
	 * Before a guest read of config[off, off+len) is served, so the device
	 * may refresh those bytes (e.g. a window onto its BAR registers).
	 */
	void (*config_read)(struct pci_device *d, unsigned off, unsigned len);
	/*
	 * After a guest write to [off, off+len) was applied to config[]
	 * through the write masks (and BAR/command effects were handled).
	 */
	void (*config_write)(struct pci_device *d, unsigned off, unsigned len);
	/*
	 * BAR idx was just mapped at addr on its bus (mapped true), or just
	 * unmapped from addr (decoding turned off, the BAR moved, the device
	 * removed). Called with the host lock held, under the same rules as
	 * the hooks above; lets a device follow its BAR (e.g. with ioeventfds
	 * at addresses inside it).
	 */
	void (*bar_map)(struct pci_device *d, unsigned idx, uint64_t addr, bool mapped);
};

struct pci_device {
	const char *name;
	uint8_t config[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];   /* bits the guest may write */
	uint8_t w1cmask[PCI_CFG_SIZE]; /* bits a guest write of 1 clears */
	struct pci_bar bars[PCI_NUM_BARS];
	const struct pci_device_ops *ops;
	void *opaque;
	struct msix *msix; /* set by msix_init() */

	/* Capability list builder state. */
	unsigned cap_end;      /* next free offset in the conventional space */
	unsigned last_cap;     /* offset of the last capability, 0 for none */
	unsigned ext_cap_end;  /* next free offset in the extended space */
	unsigned last_ext_cap; /* offset of the last extended capability, 0 for none */

	/* Host state. */
	struct pci_host *host;
	int slot; /* -1 until added */
	/* INTx, under the host's intx_lock. */
	bool intx_level;    /* what the device asks for */
	bool intx_disabled; /* command register bit 10 */
	bool intx_asserted; /* what it drives onto its GSI */
};

struct pci_host {
	pthread_mutex_t lock;	   /* configuration space and BAR mappings */
	pthread_mutex_t intx_lock; /* INTx state (a leaf lock) */
	struct bus *pio;
	struct bus *mmio;
	struct machine_layout layout;
	struct irq_line intx; /* set and opaque; gsi is chosen per slot */
	struct cf9_reset *cf9;
	uint32_t cf8; /* CONFIG_ADDRESS */
	struct pci_device *slots[PCI_MAX_SLOTS];
	struct pci_device bridge; /* 00:00.0 */
	unsigned intx_count[8];	  /* devices asserting each PCI GSI */
	bool pio_registered;
	bool mmio_registered;
};

/*
 * pci_host_init - set up the host bridge and register its configuration
 * mechanisms: ECAM on mmio, ports 0xcf8-0xcff on pio (0xcf9 reaches cf9,
 * which may be NULL: the port then reads all ones). BARs will be mapped on
 * these buses within the windows of layout l (copied). intx.set/opaque
 * drive the PCI GSIs (intx.gsi is ignored). Returns 0, or -EEXIST when a
 * range is taken (nothing is left registered).
 */
int pci_host_init(struct pci_host *h, struct bus *pio, struct bus *mmio,
		  const struct machine_layout *l, struct irq_line intx, struct cf9_reset *cf9);

/* pci_host_destroy - unmap every BAR and the configuration ranges. */
void pci_host_destroy(struct pci_host *h);

/*
 * pci_device_init - a type 0 function: vendor/device ids, 24-bit class
 * code, revision, the usual writable bits (command, cache line size,
 * interrupt line) and write-1-to-clear status bits; no BARs, no
 * capabilities, no interrupt pin. ops (may be NULL) and opaque are the
 * device's hooks. name is used in messages.
 */
void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision, const struct pci_device_ops *ops,
		     void *opaque);

/* pci_device_set_subsystem - subsystem vendor and subsystem ids. */
void pci_device_set_subsystem(struct pci_device *d, uint16_t vendor, uint16_t id);

/*
 * pci_device_set_intx_pin - the interrupt pin register: 1-4 for INTA-INTD,
 * 0 for none. Returns 0 or -EINVAL.
 */
int pci_device_set_intx_pin(struct pci_device *d, unsigned pin);

/*
 * pci_device_set_bar - declare BAR idx (0-5) of type with size bytes
 * (a power of two: 4-256 for I/O, at least 16 for memory; a 64-bit BAR
 * uses register idx+1 too, so idx <= 4). Guest accesses within the BAR go
 * to ops with opaque and an offset relative to the BAR's start. Only
 * before pci_add_device(). Returns 0 or -EINVAL (bad index, size, type,
 * or a register already used).
 */
int pci_device_set_bar(struct pci_device *d, unsigned idx, enum pci_bar_type type, uint64_t size,
		       bool prefetchable, const struct bus_device_ops *ops, void *opaque);

/*
 * pci_device_bar_address - the address BAR idx is programmed to (0 when
 * unassigned or not a BAR), mapped or not. Takes the host lock: not for
 * use inside the config hooks (they may read config[] directly).
 */
uint64_t pci_device_bar_address(struct pci_device *d, unsigned idx);

/*
 * pci_device_bar_mapped - whether BAR idx is mapped on its bus now;
 * stores its address in *addr when addr is not NULL. Takes the host lock
 * (not for the config hooks).
 */
bool pci_device_bar_mapped(struct pci_device *d, unsigned idx, uint64_t *addr);

/*
 * pci_device_add_cap - append a capability to the list in the
 * conventional space. cap[0] is the capability id, cap[1] (next pointer)
 * is filled in; len (at least 2) bytes are copied, read-only until the
 * caller marks bits writable with pci_device_set_wmask(). The status
 * register's capability bit is set. Returns the capability's offset
 * (dword aligned, >= 0x40), -EINVAL, or -ENOSPC.
 */
int pci_device_add_cap(struct pci_device *d, const void *cap, size_t len);

/*
 * pci_device_add_ext_cap - append a PCIe extended capability (id,
 * version) with body_len bytes of body after its 4-byte header, from
 * 0x100 on. Returns its offset, -EINVAL or -ENOSPC.
 */
int pci_device_add_ext_cap(struct pci_device *d, uint16_t id, uint8_t version, const void *body,
			   size_t body_len);

/*
 * pci_device_set_wmask, pci_device_set_w1cmask - set the write mask /
 * write-1-to-clear mask of config[off, off+len) from mask (little-endian
 * bytes). Out-of-range requests are ignored.
 */
void pci_device_set_wmask(struct pci_device *d, unsigned off, const void *mask, size_t len);
void pci_device_set_w1cmask(struct pci_device *d, unsigned off, const void *mask, size_t len);

/* Raw little-endian access to config[] for device code (no masks, no hooks). */
static inline uint8_t pci_cfg_get8(const struct pci_device *d, unsigned off)
{
	return d->config[off];
}
static inline uint16_t pci_cfg_get16(const struct pci_device *d, unsigned off)
{
	return (uint16_t)(d->config[off] | d->config[off + 1] << 8);
}
static inline uint32_t pci_cfg_get32(const struct pci_device *d, unsigned off)
{
	return (uint32_t)pci_cfg_get16(d, off) | (uint32_t)pci_cfg_get16(d, off + 2) << 16;
}
static inline void pci_cfg_set8(struct pci_device *d, unsigned off, uint8_t v)
{
	d->config[off] = v;
}
static inline void pci_cfg_set16(struct pci_device *d, unsigned off, uint16_t v)
{
	d->config[off] = (uint8_t)v;
	d->config[off + 1] = (uint8_t)(v >> 8);
}
static inline void pci_cfg_set32(struct pci_device *d, unsigned off, uint32_t v)
{
	pci_cfg_set16(d, off, (uint16_t)v);
	pci_cfg_set16(d, off + 2, (uint16_t)(v >> 16));
}

/*
 * pci_add_device - put d in the lowest free slot (1-31). Its BARs start
 * unassigned with decoding off. Returns the slot, -ENOSPC, or -EINVAL (d
 * already on a host).
 */
int pci_add_device(struct pci_host *h, struct pci_device *d);

/* pci_add_device_at - the same in a given slot: -EBUSY when taken, -EINVAL. */
int pci_add_device_at(struct pci_host *h, struct pci_device *d, unsigned slot);

/* pci_remove_device - unmap d's BARs, lower its INTx, free its slot. */
void pci_remove_device(struct pci_host *h, struct pci_device *d);

/*
 * pci_host_assign_resources - do what firmware does before the kernel
 * starts: give every unassigned BAR an address in its window (I/O BARs in
 * the I/O window, 64-bit BARs in the 64-bit window when there is one,
 * others in the 32-bit window; naturally aligned, in slot and BAR order),
 * set each device's interrupt line register to its GSI and enable the
 * decoding its BARs need. Returns 0, or -ENOSPC when a BAR did not fit
 * (it is left unassigned; the kernel may still place it).
 */
int pci_host_assign_resources(struct pci_host *h);

/*
 * pci_device_set_irq - the device asks for its INTx line to be level
 * (1 asserted, 0 not). Thread-safe; no effect without an interrupt pin.
 */
void pci_device_set_irq(struct pci_device *d, int level);

/* ---- snapshots ----------------------------------------------------------- */

/* A function's configuration space as the guest programmed it (snapshots). */
struct pci_device_state {
	uint8_t config[PCI_CFG_SIZE];
};

/* The host bridge: CONFIG_ADDRESS and the bridge function's configuration space. */
struct pci_host_state {
	uint32_t cf8;
	uint32_t reserved;
	struct pci_device_state bridge;
};

/*
 * pci_device_save - copy d's configuration space into s (BARs as
 * programmed, command register, capabilities such as MSI-X's Message
 * Control). Takes the host lock when d is on a host.
 */
void pci_device_save(struct pci_device *d, struct pci_device_state *s);

/*
 * pci_device_load - give d the configuration space saved in s: only the
 * bits a guest could have written (write mask and write-1-to-clear bits)
 * are taken from s, the rest (ids, BAR types, capability layout) stays
 * d's own. Then INTx disable follows the command register, BARs are
 * mapped where s places them (bar_map hooks run) and MSI-X's enable and
 * function mask follow Message Control. The device's config_write hook is
 * not called. d must be on a host. Returns 0, or -EINVAL when d is not.
 */
int pci_device_load(struct pci_device *d, const struct pci_device_state *s);

/* pci_host_save - CONFIG_ADDRESS and the host bridge's configuration space. */
void pci_host_save(struct pci_host *h, struct pci_host_state *s);

/* pci_host_load - restore what pci_host_save() saved (under the same rules as pci_device_load). */
void pci_host_load(struct pci_host *h, const struct pci_host_state *s);

/* pci_slot_gsi - GSI of INTx pin (0 = INTA .. 3 = INTD) of slot. */
static inline uint32_t pci_slot_gsi(unsigned slot, unsigned pin)
{
	return LAYOUT_GSI_PCI_BASE + (slot + pin) % 8;
}

/*
 * pci_acpi_dsdt - append Device (PCI0) to the DSDT's \_SB scope: PNP0A08
 * with _CID PNP0A03, _SEG/_BBN/_UID 0; _CRS with buses 0-255, the config
 * ports 0xcf8-0xcff (consumed), the I/O window, the 32-bit MMIO window and
 * (when l has one) the 64-bit window; _PRT with INTA-INTD of slots 0-31 to
 * their GSIs. Also a PNP0C02 device reserving the ECAM area (ACPI
 * "motherboard resources", where kernels look for it). Errors stay in t.
 */
void pci_acpi_dsdt(struct aml *t, const struct machine_layout *l);

/* pci_acpi_dsdt_hook - pci_acpi_dsdt() as acpi_options.dsdt_sb_hook (opaque: layout). */
int pci_acpi_dsdt_hook(struct aml *t, void *opaque);

/*
 * pci_acpi_options - fill o for acpi_build_ext(): the DSDT hook (with l as
 * its opaque, which must outlive the build) and an MCFG for the ECAM,
 * buses 0-255.
 */
void pci_acpi_options(struct acpi_options *o, const struct machine_layout *l);

#endif
