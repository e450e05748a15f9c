/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: PCI configuration space (devices/pci/pci.c, msix.c) through
 * the host bridge's ECAM and ports 0xcf8-0xcff, and a virtio-pci device's
 * BAR (devices/virtio/virtio_pci.c) on the MMIO bus, with a real device
 * behind it (virtio-rng, virtio-net on a socketpair, virtio-blk on a
 * temporary image) and a fake KVM (GSI routing, irqfds, ioeventfds).
 *
 * Input:
 *   u8 device (% 3); bit 2: ioeventfds for the notify addresses (a guest
 *      write there then signals the eventfd, as KVM does); bit 3: firmware
 *      assigns the BARs first
 *   then operations (u8 % NR_OPS) until the input ends:
 *     an ECAM access (slot, register up to a little past a function's
 *       4 KiB, size 1/2/4/8, read or write);
 *     a port access (CONFIG_ADDRESS, CONFIG_DATA at any byte, 0xcf9 ...);
 *     a BAR access at the address the BAR is programmed to;
 *     an access through the PCI_CFG capability's window;
 *     a driver's initialization (BAR placed and decoding on, MSI-X on or
 *       off, features from the input, every queue on fixed rings);
 *     a chain on one of those queues and its notification;
 *     a write into guest memory; an event-loop turn; a frame from the host;
 *     a change of the device's configuration; an MSI-X vector reprogrammed,
 *     or MSI-X switched or masked as a whole.
 *
 * Checks: INTx follows the ISR while MSI-X is off and the device's line is
 * what the host drives onto its GSI; reads of absent functions are all
 * ones; after the device is removed no ioeventfd stays bound, no irqfd
 * stays assigned and every MSI route is gone.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "core/bus.h"
#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "core/irq_routing.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_pci.h"
#include "fuzz_devices.h"
#include "fuzz_util.h"

#define RAM_SIZE    0x100000ULL
#define RING_BASE   0x1000ULL
#define RING_STRIDE 0x3000ULL
#define DATA_BASE   0x20000ULL
#define DATA_SIZE   (RAM_SIZE - DATA_BASE)
#define MAX_Q	    3
#define BAR_PLACE   0xc0100000ULL /* where the driver macro puts the BAR */
#define MAX_BIND    64

enum op {
	OP_ECAM_READ,
	OP_ECAM_WRITE,
	OP_PORT,
	OP_BAR_READ,
	OP_BAR_WRITE,
	OP_BAR_WRITE2,
	OP_CFG_WINDOW,
	OP_INIT,
	OP_CHAIN,
	OP_POKE,
	OP_LOOP,
	OP_FRAME,
	OP_CONFIG_CHANGED,
	OP_MSIX,
	NR_OPS
};

static const char *const op_names[NR_OPS] = {
    "ecam-read", "ecam-write", "port", "bar-read", "bar-write", "bar-write",	  "cfg-window",
    "init",	 "chain",      "poke", "loop",	   "frame",	"config-changed", "msix"};

struct ioev {
	uint64_t addr;
	int fd;
	bool bound;
};

struct fx {
	struct irq_routing rt;
	uint32_t routes_at_start;
	int irqfds; /* assigned and not deassigned */
	struct bus pio, mmio;
	struct machine_layout l;
	struct pci_host h;
	int gsi_level[8]; /* what the host drives onto the PCI GSIs */
	struct event_loop loop;
	struct guest_memory gm;
	struct fuzz_device d;
	struct virtio_pci vp;
	int slot;
	struct ioev ioev[MAX_BIND];
	int nioev;
	struct fuzz_dq q[MAX_Q];
	bool rings;
};

/* ---- fake KVM ------------------------------------------------------------------------- */

static int fake_set_routing(void *opaque, const struct kvm_irq_routing *t)
{
	(void)opaque;
	FUZZ_CHECK(t->nr <= 4096);
	return 0;
}

static int fake_irqfd(void *opaque, const struct kvm_irqfd *req)
{
	struct fx *f = opaque;

	if (req->flags & KVM_IRQFD_FLAG_DEASSIGN)
		f->irqfds--;
	else
		f->irqfds++;
	FUZZ_CHECK(f->irqfds >= 0);
	return 0;
}

static int fake_signal_msi(void *opaque, const struct kvm_msi *msi)
{
	(void)opaque;
	(void)msi;
	return 1;
}

static const struct irq_routing_ops fake_ops = {fake_set_routing, fake_irqfd, fake_signal_msi};

/* KVM keeps one ioeventfd per address (no data match here). */
static int fake_ioeventfd(void *opaque, uint64_t addr, int fd, bool assign)
{
	struct fx *f = opaque;

	for (int i = 0; i < f->nioev; i++) {
		struct ioev *b = &f->ioev[i];

		if (!b->bound || b->addr != addr)
			continue;
		if (assign)
			return -EEXIST;
		if (b->fd != fd)
			return -ENOENT;
		b->bound = false;
		return 0;
	}
	if (!assign)
		return -ENOENT;
	for (int i = 0; i < f->nioev; i++) {
		if (!f->ioev[i].bound) {
			f->ioev[i] = (struct ioev){addr, fd, true};
			return 0;
		}
	}
	FUZZ_CHECK(f->nioev < MAX_BIND);
	f->ioev[f->nioev++] = (struct ioev){addr, fd, true};
	return 0;
}

static void intx_set(void *opaque, uint32_t gsi, int level)
{
	struct fx *f = opaque;

	FUZZ_CHECK(gsi >= LAYOUT_GSI_PCI_BASE && gsi < LAYOUT_GSI_PCI_BASE + 8);
	FUZZ_CHECK(level == 0 || level == 1);
	FUZZ_CHECK(f->gsi_level[gsi - LAYOUT_GSI_PCI_BASE] != level); /* only changes are sent */
	f->gsi_level[gsi - LAYOUT_GSI_PCI_BASE] = level;
}

/* ---- guest accesses ---------------------------------------------------------------------- */

static void put(uint8_t *p, uint64_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get(const uint8_t *p, unsigned len)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* A guest MMIO write: an ioeventfd catches it (as KVM would), else it exits to the bus. */
static void mmio_write(struct fx *f, uint64_t addr, uint64_t v, unsigned len)
{
	uint8_t d[8];

	for (int i = 0; i < f->nioev; i++) {
		if (f->ioev[i].bound && f->ioev[i].addr == addr) {
			uint64_t one = 1;

			FUZZ_CHECK(write(f->ioev[i].fd, &one, sizeof(one)) == sizeof(one));
			return;
		}
	}
	put(d, v, len);
	bus_write(&f->mmio, addr, d, len);
}

static uint64_t mmio_read(struct fx *f, uint64_t addr, unsigned len)
{
	uint8_t d[8];

	bus_read(&f->mmio, addr, d, len);
	return get(d, len);
}

static uint64_t ecam(unsigned slot, unsigned reg)
{
	return LAYOUT_ECAM_BASE + ((uint64_t)slot << 15) + reg;
}

static uint32_t cfg_read(struct fx *f, unsigned reg, unsigned len)
{
	return (uint32_t)mmio_read(f, ecam((unsigned)f->slot, reg), len);
}

static void cfg_write(struct fx *f, unsigned reg, unsigned len, uint32_t v)
{
	mmio_write(f, ecam((unsigned)f->slot, reg), v, len);
}

/* Where BAR 4 is programmed in config space (mapped or not). */
static uint64_t bar_addr(struct fx *f)
{
	return (pci_cfg_get32(&f->vp.pci, PCI_BASE_ADDRESS_4) & ~0xfULL) |
	       (uint64_t)pci_cfg_get32(&f->vp.pci, PCI_BASE_ADDRESS_5) << 32;
}

static uint64_t value(struct fuzz_in *in)
{
	uint8_t sel = fi_u8(in);

	switch (sel >> 6) {
	case 0:
		return sel;
	case 1:
		return fi_u16(in);
	case 2:
		return fi_u32(in);
	default:
		return fi_u64(in);
	}
}

static unsigned size_of(uint8_t sel)
{
	static const unsigned sizes[] = {4, 1, 2, 8};

	return sizes[sel % 4];
}

static void op_ecam(struct fx *f, struct fuzz_in *in, bool write)
{
	uint8_t s = fi_u8(in);
	unsigned slot = s & 0x80 ? s % 32 : s % 4; /* mostly the bridge, the device, empty ones */
	unsigned fn = s & 0x40 ? 1 : 0, bus = s & 0x20 ? 1 : 0;
	unsigned reg = fi_u16(in) % (PCI_CFG_SIZE + 8);
	unsigned len = size_of(fi_u8(in));
	uint64_t addr = ecam(slot, reg) + ((uint64_t)fn << 12) + ((uint64_t)bus << 20);

	if (addr + len > LAYOUT_ECAM_BASE + LAYOUT_ECAM_SIZE)
		return;
	if (write) {
		mmio_write(f, addr, value(in), len);
		return;
	}
	if (fn == 0 && bus == 0 && reg + len <= PCI_CFG_SIZE && slot >= 2) {
		/* Nothing lives there: all ones. */
		FUZZ_CHECK(mmio_read(f, addr, len) == (len == 8 ? ~0ULL : (1ULL << (8 * len)) - 1));
		return;
	}
	mmio_read(f, addr, len);
}

static void op_port(struct fx *f, struct fuzz_in *in)
{
	uint8_t s = fi_u8(in);
	unsigned off = s % PCI_CFG_PORT_LEN, len = size_of(s >> 3);
	uint8_t d[8];

	if (s & 0x80) {
		/* CONFIG_ADDRESS with a register of the device or the bridge. */
		uint32_t a = 0x80000000u | (uint32_t)(fi_u8(in) % 2 ? f->slot : 0) << 11 |
			     (fi_u8(in) & 0xfc);

		put(d, a, 4);
		bus_write(&f->pio, PCI_CFG_PORT_BASE, d, 4);
		return;
	}
	if (len == 8)
		len = 4;
	if (off + len > PCI_CFG_PORT_LEN)
		return;
	if (s & 0x40) {
		put(d, value(in), len);
		bus_write(&f->pio, PCI_CFG_PORT_BASE + off, d, len);
	} else {
		bus_read(&f->pio, PCI_CFG_PORT_BASE + off, d, len);
	}
}

static void op_bar(struct fx *f, struct fuzz_in *in, bool write)
{
	uint64_t off = fi_u16(in) % (VIRTIO_PCI_BAR_SIZE + 0x100);
	unsigned len = size_of(fi_u8(in));
	uint64_t base = bar_addr(f);

	if (!base)
		base = BAR_PLACE;
	if (write)
		mmio_write(f, base + off, value(in), len);
	else
		mmio_read(f, base + off, len);
}

/* The PCI_CFG capability: name a window (bar, offset, length), then touch pci_cfg_data. */
static void op_cfg_window(struct fx *f, struct fuzz_in *in)
{
	static const uint32_t lens[] = {1, 2, 4, 3};
	static const unsigned data_lens[] = {4, 1, 2, 4};
	unsigned cap = f->vp.cfg_cap;
	uint8_t s = fi_u8(in);
	uint32_t off = fi_u16(in) % (VIRTIO_PCI_BAR_SIZE + 8);

	cfg_write(f, cap + VIRTIO_PCI_CAP_BAR, 1, s & 0x80 ? s % 8 : VIRTIO_PCI_BAR);
	cfg_write(f, cap + VIRTIO_PCI_CAP_OFFSET, 4, off);
	cfg_write(f, cap + VIRTIO_PCI_CAP_LENGTH, 4, lens[s % 4]);
	if (s & 0x40)
		cfg_write(f, cap + VIRTIO_PCI_CFG_CAP_DATA, data_lens[(s >> 2) % 4],
			  (uint32_t)value(in));
	else
		cfg_read(f, cap + VIRTIO_PCI_CFG_CAP_DATA, data_lens[(s >> 2) % 4]);
}

static void common_write(struct fx *f, unsigned reg, unsigned len, uint64_t v)
{
	mmio_write(f, bar_addr(f) + VIRTIO_PCI_COMMON_OFF + reg, v, len);
}

static uint64_t common_read(struct fx *f, unsigned reg, unsigned len)
{
	return mmio_read(f, bar_addr(f) + VIRTIO_PCI_COMMON_OFF + reg, len);
}

/* Program MSI-X table entry v: a local-APIC message (or an invalid one), masked or not. */
static void msix_entry(struct fx *f, unsigned v, bool invalid, bool masked)
{
	uint64_t e = bar_addr(f) + VIRTIO_PCI_MSIX_TABLE + v * 16ULL;

	mmio_write(f, e + PCI_MSIX_ENTRY_LOWER_ADDR, invalid ? 0xfed00000 : 0xfee00000, 4);
	mmio_write(f, e + PCI_MSIX_ENTRY_UPPER_ADDR, 0, 4);
	mmio_write(f, e + PCI_MSIX_ENTRY_DATA, 0x40 + v, 4);
	mmio_write(f, e + PCI_MSIX_ENTRY_VECTOR_CTRL, masked, 4);
}

/* The driver reprograms one vector, or masks/unmasks the function or MSI-X as a whole. */
static void op_msix(struct fx *f, struct fuzz_in *in)
{
	uint8_t s = fi_u8(in);

	if (s & 0x80) {
		uint16_t ctl = 0;

		if (s & 1)
			ctl |= PCI_MSIX_FLAGS_ENABLE;
		if (s & 2)
			ctl |= PCI_MSIX_FLAGS_MASKALL;
		cfg_write(f, f->vp.msix.cap + PCI_MSIX_FLAGS, 2, ctl);
		return;
	}
	msix_entry(f, (s >> 2) % (f->vp.msix.nvec + 1), s & 1, s & 2);
}

/* What firmware and Linux's virtio_pci driver do, from BAR placement to DRIVER_OK. */
static void op_init(struct fx *f, struct fuzz_in *in)
{
	uint8_t s = fi_u8(in), st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	uint32_t accept[2], qsize = 1u << (fi_u8(in) % 9);
	bool msix = s & 1;
	unsigned nq, nvec = f->vp.msix.nvec;

	accept[0] = fi_u32(in);
	accept[1] = fi_u32(in) | 1; /* VERSION_1 */
	if (!bar_addr(f) || (s & 2)) {
		cfg_write(f, PCI_BASE_ADDRESS_4, 4, (uint32_t)BAR_PLACE);
		cfg_write(f, PCI_BASE_ADDRESS_5, 4, 0);
	}
	cfg_write(f, PCI_COMMAND, 2,
		  PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | (msix ? PCI_COMMAND_INTX_DISABLE : 0));
	if (msix) {
		/* Bit 2: vectors start masked; 3: function masked; 4: odd vectors' messages
		 * invalid; 5: MSI-X left disabled (vectors are still assigned). */
		for (unsigned v = 0; v < nvec; v++)
			msix_entry(f, v, s & 0x10 && v & 1, s & 4);
		if (!(s & 0x20))
			cfg_write(f, f->vp.msix.cap + PCI_MSIX_FLAGS, 2,
				  PCI_MSIX_FLAGS_ENABLE | (s & 8 ? PCI_MSIX_FLAGS_MASKALL : 0));
	}
	common_write(f, VIRTIO_PCI_COMMON_STATUS, 1, 0);
	common_write(f, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	common_write(f, VIRTIO_PCI_COMMON_STATUS, 1, st);
	for (uint32_t sel = 0; sel < 2; sel++) {
		uint32_t have;

		common_write(f, VIRTIO_PCI_COMMON_DFSELECT, 4, sel);
		have = (uint32_t)common_read(f, VIRTIO_PCI_COMMON_DF, 4);
		common_write(f, VIRTIO_PCI_COMMON_GFSELECT, 4, sel);
		common_write(f, VIRTIO_PCI_COMMON_GF, 4, have & accept[sel]);
	}
	st |= VIRTIO_STATUS_FEATURES_OK;
	common_write(f, VIRTIO_PCI_COMMON_STATUS, 1, st);
	if (!(common_read(f, VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK))
		return;
	if (msix)
		common_write(f, VIRTIO_PCI_COMMON_MSIX, 2, 0);
	nq = f->d.dev->num_queues < MAX_Q ? f->d.dev->num_queues : MAX_Q;
	for (unsigned i = 0; i < nq; i++) {
		struct fuzz_dq *d = &f->q[i];
		uint32_t max;

		common_write(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, i);
		max = (uint32_t)common_read(f, VIRTIO_PCI_COMMON_Q_SIZE, 2);
		fuzz_dq_init(d, &f->gm, (uint16_t)(qsize < max ? qsize : max),
			     RING_BASE + i * RING_STRIDE, 0);
		d->tainted = true; /* other operations may move the rings under the driver */
		common_write(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, d->ring.size);
		if (msix)
			common_write(f, VIRTIO_PCI_COMMON_Q_MSIX, 2, (i + 1) % (nvec + 1));
		common_write(f, VIRTIO_PCI_COMMON_Q_DESCLO, 8, d->ring.desc);
		common_write(f, VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)d->ring.avail);
		common_write(f, VIRTIO_PCI_COMMON_Q_AVAILHI, 4, 0);
		common_write(f, VIRTIO_PCI_COMMON_Q_USEDLO, 8, d->ring.used);
		common_write(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	}
	common_write(f, VIRTIO_PCI_COMMON_STATUS, 1, st | VIRTIO_STATUS_DRIVER_OK);
	f->rings = true;
}

static void op_chain(struct fx *f, struct fuzz_in *in)
{
	static const uint32_t lens[] = {1, 12, 16, 17, 512, 1514, 4096, 65536};
	unsigned q = fi_u8(in) % MAX_Q, n = 1 + fi_u8(in) % 4;
	struct fuzz_seg s[4];
	uint8_t content[32];

	if (!f->rings || q >= f->d.dev->num_queues)
		return;
	for (unsigned i = 0; i < n; i++) {
		uint8_t sel = fi_u8(in);

		s[i].gpa = DATA_BASE + (fi_u16(in) * 16ULL) % DATA_SIZE;
		s[i].len = lens[sel % 8];
		s[i].write = sel & 0x80;
		if (!s[i].write) {
			fi_bytes(in, content, sizeof(content));
			gm_write(&f->gm, s[i].gpa, content,
				 s[i].len < sizeof(content) ? s[i].len : sizeof(content));
		}
	}
	fuzz_ring_add(&f->q[q].ring, s, n, 0);
	mmio_write(f, bar_addr(f) + VIRTIO_PCI_NOTIFY_OFF + q * VIRTIO_PCI_NOTIFY_MULT, q, 2);
}

static void op_poke(struct fx *f, struct fuzz_in *in)
{
	uint8_t buf[256];
	uint64_t gpa = fi_u32(in) % RAM_SIZE;
	uint8_t len = fi_u8(in);

	fi_bytes(in, buf, len);
	gm_write(&f->gm, gpa, buf, len);
}

/* INTx follows the ISR while MSI-X is off, and the host drives the device's line. */
static void check_intx(struct fx *f)
{
	struct pci_device *p = &f->vp.pci;
	unsigned gsi = pci_slot_gsi((unsigned)f->slot, 0);

	FUZZ_CHECK(p->intx_level == (f->vp.isr && !msix_enabled(&f->vp.msix)));
	FUZZ_CHECK(p->intx_asserted == (p->intx_level && !p->intx_disabled));
	FUZZ_CHECK(f->gsi_level[gsi - LAYOUT_GSI_PCI_BASE] == p->intx_asserted);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gm_range range = {0, RAM_SIZE};
	struct fuzz_in in = {data, size};
	unsigned steps = 0;
	char err[128];
	struct fx *f;
	uint8_t sel;

	fuzz_quiet();
	f = calloc(1, sizeof(*f));
	FUZZ_CHECK(f != NULL);
	FUZZ_CHECK(irq_routing_init(&f->rt, &fake_ops, f, 1024) == 0);
	f->routes_at_start = irq_routing_count(&f->rt);
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	FUZZ_CHECK(layout_compute(&f->l, 256ULL << 20, 1, 40, err, sizeof(err)) == 0);
	FUZZ_CHECK(pci_host_init(&f->h, &f->pio, &f->mmio, &f->l,
				 (struct irq_line){.set = intx_set, .opaque = f}, NULL) == 0);
	FUZZ_CHECK(event_loop_init(&f->loop) == 0);
	FUZZ_CHECK(fuzz_gm_create(&f->gm, &range, 1) == 0);
	sel = fi_u8(&in);
	fuzz_device_create(&f->d, (enum fuzz_dev_kind)(sel % FUZZ_DEV_NR), &f->gm, &f->loop);
	f->slot =
	    virtio_pci_init(&f->vp, f->d.dev, &f->h, &f->rt, sel & 4 ? fake_ioeventfd : NULL, f);
	FUZZ_CHECK(f->slot == 1);
	if (sel & 8)
		FUZZ_CHECK(pci_host_assign_resources(&f->h) == 0);

	while (!fi_empty(&in) && steps++ < 1024) {
		enum op op = (enum op)(fi_u8(&in) % NR_OPS);

		FUZZ_TRACE("op %s\n", op_names[op]);
		switch (op) {
		case OP_ECAM_READ:
			op_ecam(f, &in, false);
			break;
		case OP_ECAM_WRITE:
			op_ecam(f, &in, true);
			break;
		case OP_PORT:
			op_port(f, &in);
			break;
		case OP_BAR_READ:
			op_bar(f, &in, false);
			break;
		case OP_BAR_WRITE:
		case OP_BAR_WRITE2:
			op_bar(f, &in, true);
			break;
		case OP_CFG_WINDOW:
			op_cfg_window(f, &in);
			break;
		case OP_INIT:
			op_init(f, &in);
			break;
		case OP_CHAIN:
			op_chain(f, &in);
			break;
		case OP_POKE:
			op_poke(f, &in);
			break;
		case OP_LOOP:
			fuzz_device_settle(&f->d);
			event_loop_run_once(&f->loop, 0);
			fuzz_device_settle(&f->d);
			break;
		case OP_FRAME:
			fuzz_device_frame(&f->d, fi_u16(&in));
			break;
		case OP_MSIX:
			op_msix(f, &in);
			break;
		case OP_CONFIG_CHANGED:
			/* The device's configuration changed (a disk resized, a link went down). */
			virtio_device_lock(f->d.dev);
			virtio_config_changed(f->d.dev);
			virtio_device_unlock(f->d.dev);
			break;
		case NR_OPS:
		default:
			break;
		}
		check_intx(f);
	}
	fuzz_device_settle(&f->d);
	virtio_pci_destroy(&f->vp);
	for (int i = 0; i < f->nioev; i++)
		FUZZ_CHECK(!f->ioev[i].bound);
	FUZZ_CHECK(f->irqfds == 0);
	FUZZ_CHECK(irq_routing_count(&f->rt) == f->routes_at_start);
	fuzz_device_destroy(&f->d);
	fuzz_gm_destroy(&f->gm);
	event_loop_destroy(&f->loop);
	pci_host_destroy(&f->h);
	irq_routing_destroy(&f->rt);
	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
	free(f);
	return 0;
}
