/* SPDX-License-Identifier: MIT */
/* The PCI host bridge, configuration space, BARs and INTx (see pci.h). */
#include "devices/pci/pci.h"

#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "devices/legacy/cf9_reset.h"
#include "devices/pci/msix.h"

#define CFG_ENABLE     0x80000000u
#define CFG_ADDR_WMASK 0x80fffffcu /* enable, bus, device, function, register */
#define STATUS_W1C     0xf900u	   /* parity, SERR, aborts, master data parity */
#define COMMAND_WRITABLE                                                                           \
	(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |           \
	 PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)

static void le_put(uint8_t *p, uint64_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le_get(const uint8_t *p, unsigned len)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ---- devices: building ------------------------------------------------------ */

void pci_device_set_wmask(struct pci_device *d, unsigned off, const void *mask, size_t len)
{
	if (off > PCI_CFG_SIZE || len > PCI_CFG_SIZE - off)
		return;
	memcpy(d->wmask + off, mask, len);
}

void pci_device_set_w1cmask(struct pci_device *d, unsigned off, const void *mask, size_t len)
{
	if (off > PCI_CFG_SIZE || len > PCI_CFG_SIZE - off)
		return;
	memcpy(d->w1cmask + off, mask, len);
}

static void set_wmask16(struct pci_device *d, unsigned off, uint16_t mask)
{
	le_put(d->wmask + off, mask, 2);
}

static void set_wmask32(struct pci_device *d, unsigned off, uint32_t mask)
{
	le_put(d->wmask + off, mask, 4);
}

void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision, const struct pci_device_ops *ops,
		     void *opaque)
{
	memset(d, 0, sizeof(*d));
	d->name = name;
	d->ops = ops;
	d->opaque = opaque;
	d->slot = -1;
	d->cap_end = PCI_CAP_START;
	d->ext_cap_end = PCI_EXT_CAP_START;
	pci_cfg_set16(d, PCI_VENDOR_ID, vendor);
	pci_cfg_set16(d, PCI_DEVICE_ID, device);
	pci_cfg_set32(d, PCI_CLASS_REVISION, (class_code & 0xffffff) << 8 | revision);
	pci_cfg_set8(d, PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL);
	set_wmask16(d, PCI_COMMAND, COMMAND_WRITABLE);
	le_put(d->w1cmask + PCI_STATUS, STATUS_W1C, 2);
	d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
}

void pci_device_set_subsystem(struct pci_device *d, uint16_t vendor, uint16_t id)
{
	pci_cfg_set16(d, PCI_SUBSYSTEM_VENDOR_ID, vendor);
	pci_cfg_set16(d, PCI_SUBSYSTEM_ID, id);
}

int pci_device_set_intx_pin(struct pci_device *d, unsigned pin)
{
	if (pin > 4)
		return -EINVAL;
	pci_cfg_set8(d, PCI_INTERRUPT_PIN, (uint8_t)pin);
	return 0;
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

int pci_device_set_bar(struct pci_device *d, unsigned idx, enum pci_bar_type type, uint64_t size,
		       bool prefetchable, const struct bus_device_ops *ops, void *opaque)
{
	unsigned reg = PCI_BASE_ADDRESS_0 + 4 * idx;
	struct pci_bar *b;
	uint32_t flags;

	if (idx >= PCI_NUM_BARS || d->host || !is_pow2(size) || !ops)
		return -EINVAL;
	/* The register must be free, and not the upper half of a 64-bit BAR. */
	if (d->bars[idx].type != PCI_BAR_NONE ||
	    (idx > 0 && d->bars[idx - 1].type == PCI_BAR_MEM64))
		return -EINVAL;
	switch (type) {
	case PCI_BAR_IO:
		if (size < 4 || size > 256 || prefetchable)
			return -EINVAL;
		flags = PCI_BASE_ADDRESS_SPACE_IO;
		set_wmask32(d, reg, ~(uint32_t)(size - 1) & ~3u);
		break;
	case PCI_BAR_MEM32:
		if (size < 16 || size > 0x80000000ULL)
			return -EINVAL;
		flags = PCI_BASE_ADDRESS_MEM_TYPE_32;
		set_wmask32(d, reg, ~(uint32_t)(size - 1) & ~0xfu);
		break;
	case PCI_BAR_MEM64:
		if (idx + 1 >= PCI_NUM_BARS || d->bars[idx + 1].type != PCI_BAR_NONE || size < 16 ||
		    size > (1ULL << 62))
			return -EINVAL;
		flags = PCI_BASE_ADDRESS_MEM_TYPE_64;
		set_wmask32(d, reg, (uint32_t) ~(size - 1) & ~0xfu);
		set_wmask32(d, reg + 4, (uint32_t)(~(size - 1) >> 32));
		break;
	case PCI_BAR_NONE:
	default:
		return -EINVAL;
	}
	if (prefetchable)
		flags |= PCI_BASE_ADDRESS_MEM_PREFETCH;
	pci_cfg_set32(d, reg, flags);
	if (type == PCI_BAR_MEM64)
		pci_cfg_set32(d, reg + 4, 0);
	b = &d->bars[idx];
	memset(b, 0, sizeof(*b));
	b->type = type;
	b->prefetchable = prefetchable;
	b->size = size;
	b->ops = ops;
	b->opaque = opaque;
	return 0;
}

/* The address BAR idx holds in config space. */
static uint64_t bar_addr(const struct pci_device *d, unsigned idx)
{
	unsigned reg = PCI_BASE_ADDRESS_0 + 4 * idx;

	switch (d->bars[idx].type) {
	case PCI_BAR_IO:
		return pci_cfg_get32(d, reg) & ~3u;
	case PCI_BAR_MEM32:
		return pci_cfg_get32(d, reg) & ~0xfu;
	case PCI_BAR_MEM64:
		return (pci_cfg_get32(d, reg) & ~0xfu) | (uint64_t)pci_cfg_get32(d, reg + 4) << 32;
	case PCI_BAR_NONE:
	default:
		return 0;
	}
}

static void bar_set_addr(struct pci_device *d, unsigned idx, uint64_t addr)
{
	unsigned reg = PCI_BASE_ADDRESS_0 + 4 * idx;
	uint32_t low = pci_cfg_get32(d, reg);

	pci_cfg_set32(d, reg,
		      (low & (d->bars[idx].type == PCI_BAR_IO ? 3u : 0xfu)) | (uint32_t)addr);
	if (d->bars[idx].type == PCI_BAR_MEM64)
		pci_cfg_set32(d, reg + 4, (uint32_t)(addr >> 32));
}

uint64_t pci_device_bar_address(struct pci_device *d, unsigned idx)
{
	uint64_t addr;

	if (idx >= PCI_NUM_BARS)
		return 0;
	if (d->host)
		pthread_mutex_lock(&d->host->lock);
	addr = bar_addr(d, idx);
	if (d->host)
		pthread_mutex_unlock(&d->host->lock);
	return addr;
}

bool pci_device_bar_mapped(struct pci_device *d, unsigned idx, uint64_t *addr)
{
	bool mapped;

	if (idx >= PCI_NUM_BARS || !d->host)
		return false;
	pthread_mutex_lock(&d->host->lock);
	mapped = d->bars[idx].mapped;
	if (mapped && addr)
		*addr = d->bars[idx].mapped_addr;
	pthread_mutex_unlock(&d->host->lock);
	return mapped;
}

int pci_device_add_cap(struct pci_device *d, const void *cap, size_t len)
{
	unsigned off = ALIGN_UP(d->cap_end, 4u);

	if (!cap || len < 2 || d->host)
		return -EINVAL;
	if (len > PCI_CFG_CONV_SIZE - off)
		return -ENOSPC;
	memcpy(d->config + off, cap, len);
	d->config[off + PCI_CAP_LIST_NEXT] = 0;
	if (d->last_cap)
		d->config[d->last_cap + PCI_CAP_LIST_NEXT] = (uint8_t)off;
	else
		d->config[PCI_CAPABILITY_LIST] = (uint8_t)off;
	pci_cfg_set16(d, PCI_STATUS, pci_cfg_get16(d, PCI_STATUS) | PCI_STATUS_CAP_LIST);
	d->last_cap = off;
	d->cap_end = off + (unsigned)len;
	return (int)off;
}

int pci_device_add_ext_cap(struct pci_device *d, uint16_t id, uint8_t version, const void *body,
			   size_t body_len)
{
	unsigned off = ALIGN_UP(d->ext_cap_end, 4u);
	uint32_t hdr;

	if ((body_len && !body) || version > 0xf || d->host)
		return -EINVAL;
	if (body_len + 4 > PCI_CFG_SIZE - off)
		return -ENOSPC;
	pci_cfg_set32(d, off, (uint32_t)id | (uint32_t)version << 16);
	if (body_len)
		memcpy(d->config + off + 4, body, body_len);
	if (d->last_ext_cap) {
		hdr = pci_cfg_get32(d, d->last_ext_cap);
		pci_cfg_set32(d, d->last_ext_cap, (hdr & 0x000fffffu) | (uint32_t)off << 20);
	}
	d->last_ext_cap = off;
	d->ext_cap_end = off + 4 + (unsigned)body_len;
	return (int)off;
}

/* ---- BAR mapping ------------------------------------------------------------ */

static bool in_window(uint64_t addr, uint64_t size, uint64_t base, uint64_t wsize)
{
	return wsize && addr >= base && addr - base <= wsize && size <= wsize - (addr - base);
}

/* The placement rule of pci.h: is [addr, addr+size) a valid place for this BAR? */
static bool placement_ok(const struct pci_host *h, const struct pci_bar *b, uint64_t addr)
{
	if (addr + b->size < addr)
		return false;
	switch (b->type) {
	case PCI_BAR_IO:
		return in_window(addr, b->size, PCI_IO_WINDOW_START,
				 PCI_IO_WINDOW_END - PCI_IO_WINDOW_START);
	case PCI_BAR_MEM64:
		if (in_window(addr, b->size, h->layout.mmio64_base, h->layout.mmio64_size))
			return true;
		__attribute__((fallthrough));
	case PCI_BAR_MEM32:
		return in_window(addr, b->size, LAYOUT_MMIO32_START, LAYOUT_MMIO32_SIZE);
	case PCI_BAR_NONE:
	default:
		return false;
	}
}

static bool decoding(const struct pci_device *d, const struct pci_bar *b)
{
	uint16_t cmd = pci_cfg_get16(d, PCI_COMMAND);

	return b->type == PCI_BAR_IO ? (cmd & PCI_COMMAND_IO) : (cmd & PCI_COMMAND_MEMORY);
}

static struct bus *bar_bus(const struct pci_host *h, const struct pci_bar *b)
{
	return b->type == PCI_BAR_IO ? h->pio : h->mmio;
}

/* Where BAR idx should be mapped now; false when it should not be. */
static bool bar_wanted(const struct pci_host *h, const struct pci_device *d, unsigned idx,
		       uint64_t *addr)
{
	const struct pci_bar *b = &d->bars[idx];

	if (b->type == PCI_BAR_NONE || !decoding(d, b))
		return false;
	*addr = bar_addr(d, idx);
	return *addr != 0;
}

static void bar_refused(struct pci_device *d, unsigned idx, uint64_t addr, const char *why)
{
	struct pci_bar *b = &d->bars[idx];

	if (b->refused_addr == addr)
		return;
	b->refused_addr = addr;
	log_guest_error("PCI %02x.0 (%s) BAR %u at %#llx+%#llx not mapped: %s", d->slot,
			d->name ? d->name : "?", idx, (unsigned long long)addr,
			(unsigned long long)b->size, why);
}

/* Tell the device that BAR idx was mapped at or unmapped from addr. */
static void bar_map_hook(struct pci_device *d, unsigned idx, uint64_t addr, bool mapped)
{
	if (d->ops && d->ops->bar_map)
		d->ops->bar_map(d, idx, addr, mapped);
}

static void bar_unmap(struct pci_host *h, struct pci_device *d, unsigned idx)
{
	struct pci_bar *b = &d->bars[idx];

	if (!b->mapped)
		return;
	bus_unregister(bar_bus(h, b), b->mapped_addr);
	b->mapped = false;
	bar_map_hook(d, idx, b->mapped_addr, false);
}

/*
 * Bring every BAR's mapping in line with its device's config space: first
 * unmap what moved or lost decoding, then map whatever wants a place and
 * is not mapped (BARs refused for a conflict get their retry here). Host
 * lock held.
 */
static void host_update_bars(struct pci_host *h)
{
	unsigned s, i;
	uint64_t addr;

	for (s = 0; s < PCI_MAX_SLOTS; s++) {
		struct pci_device *d = h->slots[s];

		for (i = 0; d && i < PCI_NUM_BARS; i++) {
			struct pci_bar *b = &d->bars[i];

			if (b->mapped && (!bar_wanted(h, d, i, &addr) || addr != b->mapped_addr))
				bar_unmap(h, d, i);
		}
	}
	for (s = 0; s < PCI_MAX_SLOTS; s++) {
		struct pci_device *d = h->slots[s];

		for (i = 0; d && i < PCI_NUM_BARS; i++) {
			struct pci_bar *b = &d->bars[i];
			int r;

			if (b->mapped || !bar_wanted(h, d, i, &addr))
				continue;
			if (!placement_ok(h, b, addr)) {
				bar_refused(d, i, addr, "outside the windows for BARs");
				continue;
			}
			r = bus_register(bar_bus(h, b), addr, b->size, b->ops, b->opaque);
			if (r == 0) {
				b->mapped = true;
				b->mapped_addr = addr;
				b->refused_addr = 0;
				bar_map_hook(d, i, addr, true);
			} else {
				bar_refused(d, i, addr,
					    r == -EEXIST ? "overlaps another device" : "no memory");
			}
		}
	}
}

/* ---- INTx ------------------------------------------------------------------- */

/* Recompute what d drives onto its GSI; intx_lock held. */
static void intx_update(struct pci_device *d)
{
	struct pci_host *h = d->host;
	uint8_t pin = d->config[PCI_INTERRUPT_PIN];
	bool assert = d->intx_level && !d->intx_disabled && pin >= 1 && pin <= 4;
	uint32_t gsi;

	if (!h || d->slot < 0 || assert == d->intx_asserted)
		return;
	d->intx_asserted = assert;
	gsi = pci_slot_gsi((unsigned)d->slot, pin - 1u);
	if (assert) {
		if (h->intx_count[gsi - LAYOUT_GSI_PCI_BASE]++ == 0)
			irq_line_set(&(struct irq_line){h->intx.set, h->intx.opaque, gsi}, 1);
	} else {
		if (ALWAYS(h->intx_count[gsi - LAYOUT_GSI_PCI_BASE] > 0) &&
		    --h->intx_count[gsi - LAYOUT_GSI_PCI_BASE] == 0)
			irq_line_set(&(struct irq_line){h->intx.set, h->intx.opaque, gsi}, 0);
	}
}

void pci_device_set_irq(struct pci_device *d, int level)
{
	struct pci_host *h = d->host;

	if (!h) {
		d->intx_level = level != 0;
		return;
	}
	pthread_mutex_lock(&h->intx_lock);
	d->intx_level = level != 0;
	intx_update(d);
	pthread_mutex_unlock(&h->intx_lock);
}

/* ---- configuration accesses --------------------------------------------------- */

static struct pci_device *host_dev(struct pci_host *h, unsigned bus, unsigned dev, unsigned fn)
{
	if (bus != 0 || fn != 0 || dev >= PCI_MAX_SLOTS)
		return NULL;
	return h->slots[dev];
}

/* One naturally aligned access (len 1, 2 or 4) inside d's config space. */
static uint32_t cfg_read_aligned(struct pci_host *h, struct pci_device *d, unsigned reg,
				 unsigned len)
{
	uint8_t bytes[4];

	if (d->ops && d->ops->config_read)
		d->ops->config_read(d, reg, len);
	memcpy(bytes, d->config + reg, len);
	/* The status register's interrupt bit shows the device's INTx request. */
	if (reg <= PCI_STATUS && reg + len > PCI_STATUS) {
		pthread_mutex_lock(&h->intx_lock);
		if (d->intx_level)
			bytes[PCI_STATUS - reg] |= PCI_STATUS_INTERRUPT;
		pthread_mutex_unlock(&h->intx_lock);
	}
	return (uint32_t)le_get(bytes, len);
}

static bool overlaps(unsigned reg, unsigned len, unsigned start, unsigned end)
{
	return reg < end && reg + len > start;
}

static void cfg_write_aligned(struct pci_host *h, struct pci_device *d, unsigned reg, unsigned len,
			      uint32_t val)
{
	for (unsigned i = 0; i < len; i++) {
		uint8_t v = (uint8_t)(val >> (8 * i));
		uint8_t wm = d->wmask[reg + i], w1c = d->w1cmask[reg + i];
		uint8_t *c = &d->config[reg + i];

		*c = (uint8_t)((*c & ~wm) | (v & wm));
		*c = (uint8_t)(*c & ~(v & w1c));
	}
	if (overlaps(reg, len, PCI_COMMAND, PCI_COMMAND + 2)) {
		pthread_mutex_lock(&h->intx_lock);
		d->intx_disabled = pci_cfg_get16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
		intx_update(d);
		pthread_mutex_unlock(&h->intx_lock);
	}
	if (overlaps(reg, len, PCI_COMMAND, PCI_COMMAND + 2) ||
	    overlaps(reg, len, PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_5 + 4))
		host_update_bars(h);
	if (d->msix && overlaps(reg, len, d->msix->cap, d->msix->cap + 4))
		msix_config_written(d->msix);
	if (d->ops && d->ops->config_write)
		d->ops->config_write(d, reg, len);
}

/* An access of len 1-4 bytes at reg of function bus:dev.fn; host lock held. */
static uint32_t cfg_read(struct pci_host *h, unsigned bus, unsigned dev, unsigned fn, unsigned reg,
			 unsigned len)
{
	struct pci_device *d = host_dev(h, bus, dev, fn);
	uint32_t val = 0;

	if (!d || reg >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - reg)
		return (uint32_t)(0xffffffffULL >> (32 - 8 * len));
	if ((len == 1 || len == 2 || len == 4) && (reg & (len - 1)) == 0)
		return cfg_read_aligned(h, d, reg, len);
	for (unsigned i = 0; i < len; i++)
		val |= cfg_read_aligned(h, d, reg + i, 1) << (8 * i);
	return val;
}

static void cfg_write(struct pci_host *h, unsigned bus, unsigned dev, unsigned fn, unsigned reg,
		      unsigned len, uint32_t val)
{
	struct pci_device *d = host_dev(h, bus, dev, fn);

	if (!d || reg >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - reg)
		return;
	if ((len == 1 || len == 2 || len == 4) && (reg & (len - 1)) == 0) {
		cfg_write_aligned(h, d, reg, len, val);
		return;
	}
	for (unsigned i = 0; i < len; i++)
		cfg_write_aligned(h, d, reg + i, 1, (val >> (8 * i)) & 0xff);
}

/* ECAM: 1 MiB per bus, 32 KiB per device, 4 KiB per function. */
static void ecam_decode(uint64_t off, unsigned *bus, unsigned *dev, unsigned *fn, unsigned *reg)
{
	*bus = (unsigned)(off >> 20) & 0xff;
	*dev = (unsigned)(off >> 15) & 0x1f;
	*fn = (unsigned)(off >> 12) & 0x7;
	*reg = (unsigned)off & 0xfff;
}

static void ecam_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct pci_host *h = opaque;
	unsigned bus, dev, fn, reg;

	pthread_mutex_lock(&h->lock);
	/* An 8-byte access is two dword accesses (it never crosses a function). */
	for (uint32_t done = 0; done < len; done += 4) {
		unsigned n = MIN(len - done, 4u);

		ecam_decode(off + done, &bus, &dev, &fn, &reg);
		if (reg + n > PCI_CFG_SIZE) {
			memset(data + done, 0xff, len - done);
			break;
		}
		le_put(data + done, cfg_read(h, bus, dev, fn, reg, n), n);
	}
	pthread_mutex_unlock(&h->lock);
}

static void ecam_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct pci_host *h = opaque;
	unsigned bus, dev, fn, reg;

	pthread_mutex_lock(&h->lock);
	for (uint32_t done = 0; done < len; done += 4) {
		unsigned n = MIN(len - done, 4u);

		ecam_decode(off + done, &bus, &dev, &fn, &reg);
		if (reg + n > PCI_CFG_SIZE) {
			log_guest_error("PCI ECAM write at %#llx len %u crosses a function",
					(unsigned long long)off, len);
			break;
		}
		cfg_write(h, bus, dev, fn, reg, n, (uint32_t)le_get(data + done, n));
	}
	pthread_mutex_unlock(&h->lock);
}

static const struct bus_device_ops ecam_ops = {
    .name = "pci-ecam",
    .read = ecam_read,
    .write = ecam_write,
};

/* Decode CONFIG_ADDRESS for a data port access at byte off (0-3) of 0xcfc. */
static bool cf8_decode(uint32_t cf8, unsigned off, unsigned *bus, unsigned *dev, unsigned *fn,
		       unsigned *reg)
{
	if (!(cf8 & CFG_ENABLE))
		return false;
	*bus = (cf8 >> 16) & 0xff;
	*dev = (cf8 >> 11) & 0x1f;
	*fn = (cf8 >> 8) & 0x7;
	*reg = (cf8 & 0xfc) + off;
	return true;
}

static void cfg_port_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct pci_host *h = opaque;
	unsigned bus, dev, fn, reg;

	memset(data, 0xff, len);
	if (off == 0 && len == 4) {
		pthread_mutex_lock(&h->lock);
		le_put(data, h->cf8, 4);
		pthread_mutex_unlock(&h->lock);
	} else if (off == LAYOUT_PORT_RESET - PCI_CFG_PORT_BASE && len == 1) {
		if (h->cf9)
			data[0] = cf9_reset_read(h->cf9);
	} else if (off >= 4 && len <= 4) {
		pthread_mutex_lock(&h->lock);
		if (cf8_decode(h->cf8, (unsigned)off - 4, &bus, &dev, &fn, &reg))
			le_put(data, cfg_read(h, bus, dev, fn, reg, len), len);
		pthread_mutex_unlock(&h->lock);
	}
}

static void cfg_port_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct pci_host *h = opaque;
	unsigned bus, dev, fn, reg;

	if (off == 0 && len == 4) {
		pthread_mutex_lock(&h->lock);
		h->cf8 = (uint32_t)le_get(data, 4) & CFG_ADDR_WMASK;
		pthread_mutex_unlock(&h->lock);
	} else if (off == LAYOUT_PORT_RESET - PCI_CFG_PORT_BASE && len == 1) {
		if (h->cf9)
			cf9_reset_write(h->cf9, data[0]);
	} else if (off >= 4 && len <= 4) {
		pthread_mutex_lock(&h->lock);
		if (cf8_decode(h->cf8, (unsigned)off - 4, &bus, &dev, &fn, &reg))
			cfg_write(h, bus, dev, fn, reg, len, (uint32_t)le_get(data, len));
		pthread_mutex_unlock(&h->lock);
	}
	/* Anything else (bytes at 0xcf8/0xcfa/0xcfb, words) reaches nothing. */
}

static const struct bus_device_ops cfg_port_ops = {
    .name = "pci-config",
    .read = cfg_port_read,
    .write = cfg_port_write,
};

/* ---- the host ------------------------------------------------------------------ */

int pci_host_init(struct pci_host *h, struct bus *pio, struct bus *mmio,
		  const struct machine_layout *l, struct irq_line intx, struct cf9_reset *cf9)
{
	int r;

	memset(h, 0, sizeof(*h));
	h->pio = pio;
	h->mmio = mmio;
	h->layout = *l;
	h->intx = intx;
	h->cf9 = cf9;
	pci_device_init(&h->bridge, "host-bridge", PCI_HOST_VENDOR_ID, PCI_HOST_DEVICE_ID,
			PCI_HOST_CLASS, 0, NULL, NULL);
	h->bridge.host = h;
	h->bridge.slot = 0;
	h->slots[0] = &h->bridge;

	r = bus_register(mmio, LAYOUT_ECAM_BASE, LAYOUT_ECAM_SIZE, &ecam_ops, h);
	if (r)
		return r;
	r = bus_register(pio, PCI_CFG_PORT_BASE, PCI_CFG_PORT_LEN, &cfg_port_ops, h);
	if (r) {
		bus_unregister(mmio, LAYOUT_ECAM_BASE);
		return r;
	}
	h->mmio_registered = h->pio_registered = true;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->intx_lock, NULL);
	return 0;
}

void pci_host_destroy(struct pci_host *h)
{
	if (!h->pio_registered)
		return;
	for (unsigned s = 1; s < PCI_MAX_SLOTS; s++) {
		if (h->slots[s])
			pci_remove_device(h, h->slots[s]);
	}
	bus_unregister(h->pio, PCI_CFG_PORT_BASE);
	bus_unregister(h->mmio, LAYOUT_ECAM_BASE);
	h->pio_registered = h->mmio_registered = false;
	pthread_mutex_destroy(&h->intx_lock);
	pthread_mutex_destroy(&h->lock);
}

int pci_add_device_at(struct pci_host *h, struct pci_device *d, unsigned slot)
{
	int r = (int)slot;

	if (slot == 0 || slot >= PCI_MAX_SLOTS || d->host)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	if (h->slots[slot]) {
		r = -EBUSY;
	} else {
		d->host = h;
		d->slot = (int)slot;
		h->slots[slot] = d;
		pthread_mutex_lock(&h->intx_lock);
		intx_update(d); /* a level asked for before the device was added */
		pthread_mutex_unlock(&h->intx_lock);
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

int pci_add_device(struct pci_host *h, struct pci_device *d)
{
	for (unsigned slot = 1; slot < PCI_MAX_SLOTS; slot++) {
		int r = pci_add_device_at(h, d, slot);

		if (r != -EBUSY)
			return r;
	}
	return -ENOSPC;
}

void pci_remove_device(struct pci_host *h, struct pci_device *d)
{
	if (d->host != h || d->slot <= 0)
		return;
	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		bar_unmap(h, d, i);
	pthread_mutex_lock(&h->intx_lock);
	d->intx_level = false;
	intx_update(d);
	pthread_mutex_unlock(&h->intx_lock);
	h->slots[d->slot] = NULL;
	d->slot = -1;
	d->host = NULL;
	host_update_bars(h); /* BARs it kept out may fit now */
	pthread_mutex_unlock(&h->lock);
}

/* Bump allocator for one window. */
struct window {
	uint64_t next, end;
};

static bool window_alloc(struct window *w, uint64_t size, uint64_t *addr)
{
	uint64_t a = ALIGN_UP(w->next, size);

	if (a < w->next || a > w->end || size > w->end - a)
		return false;
	*addr = a;
	w->next = a + size;
	return true;
}

int pci_host_assign_resources(struct pci_host *h)
{
	struct window io = {PCI_IO_WINDOW_START, PCI_IO_WINDOW_END};
	struct window m32 = {LAYOUT_MMIO32_START, LAYOUT_MMIO32_START + LAYOUT_MMIO32_SIZE};
	struct window m64 = {h->layout.mmio64_base, h->layout.mmio64_base + h->layout.mmio64_size};
	int ret = 0;

	pthread_mutex_lock(&h->lock);
	for (unsigned s = 1; s < PCI_MAX_SLOTS; s++) {
		struct pci_device *d = h->slots[s];
		uint16_t cmd;

		if (!d)
			continue;
		cmd = pci_cfg_get16(d, PCI_COMMAND);
		for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
			struct pci_bar *b = &d->bars[i];
			uint64_t addr = 0;
			bool ok;

			if (b->type == PCI_BAR_NONE || bar_addr(d, i) != 0)
				continue;
			if (b->type == PCI_BAR_IO)
				ok = window_alloc(&io, b->size, &addr);
			else if (b->type == PCI_BAR_MEM64 && h->layout.mmio64_size)
				ok = window_alloc(&m64, b->size, &addr) ||
				     window_alloc(&m32, b->size, &addr);
			else
				ok = window_alloc(&m32, b->size, &addr);
			if (!ok) {
				log_warn("PCI %02x.0 (%s): no room for BAR %u (%#llx bytes)", s,
					 d->name ? d->name : "?", i, (unsigned long long)b->size);
				ret = -ENOSPC;
				continue;
			}
			bar_set_addr(d, i, addr);
			cmd |= b->type == PCI_BAR_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
		}
		pci_cfg_set16(d, PCI_COMMAND, cmd);
		if (d->config[PCI_INTERRUPT_PIN] >= 1 && d->config[PCI_INTERRUPT_PIN] <= 4)
			d->config[PCI_INTERRUPT_LINE] =
			    (uint8_t)pci_slot_gsi(s, d->config[PCI_INTERRUPT_PIN] - 1u);
	}
	host_update_bars(h);
	pthread_mutex_unlock(&h->lock);
	return ret;
}

/* ---- snapshots ----------------------------------------------------------------- */

void pci_device_save(struct pci_device *d, struct pci_device_state *s)
{
	if (d->host)
		pthread_mutex_lock(&d->host->lock);
	memcpy(s->config, d->config, sizeof(s->config));
	if (d->host)
		pthread_mutex_unlock(&d->host->lock);
}

/* Take the guest-writable bits of s into d's config space; host lock held. */
static void cfg_take(struct pci_device *d, const struct pci_device_state *s)
{
	for (unsigned i = 0; i < PCI_CFG_SIZE; i++) {
		uint8_t m = d->wmask[i] | d->w1cmask[i];

		d->config[i] = (uint8_t)((d->config[i] & ~m) | (s->config[i] & m));
	}
}

int pci_device_load(struct pci_device *d, const struct pci_device_state *s)
{
	struct pci_host *h = d->host;

	if (!h)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	cfg_take(d, s);
	pthread_mutex_lock(&h->intx_lock);
	d->intx_disabled = pci_cfg_get16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
	intx_update(d);
	pthread_mutex_unlock(&h->intx_lock);
	host_update_bars(h);
	if (d->msix)
		msix_config_written(d->msix);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

void pci_host_save(struct pci_host *h, struct pci_host_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&h->lock);
	s->cf8 = h->cf8;
	pthread_mutex_unlock(&h->lock);
	pci_device_save(&h->bridge, &s->bridge);
}

void pci_host_load(struct pci_host *h, const struct pci_host_state *s)
{
	pthread_mutex_lock(&h->lock);
	h->cf8 = s->cf8 & CFG_ADDR_WMASK;
	pthread_mutex_unlock(&h->lock);
	pci_device_load(&h->bridge, &s->bridge);
}
