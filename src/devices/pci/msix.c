/* SPDX-License-Identifier: MIT */
/* MSI-X capability, vector table and PBA (see msix.h). */
#include "devices/pci/msix.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define ENTRY_WORDS 4

static bool vec_masked(const struct msix *m, unsigned i)
{
	return !m->enabled || m->masked_all || (m->vec[i].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static uint64_t vec_addr(const struct msix_vector *v)
{
	return (uint64_t)v->addr_hi << 32 | v->addr_lo;
}

static bool pba_test(const struct msix *m, unsigned i)
{
	return (m->pba[i / 64] >> (i % 64)) & 1;
}

static void pba_set(struct msix *m, unsigned i, bool on)
{
	if (on)
		m->pba[i / 64] |= 1ULL << (i % 64);
	else
		m->pba[i / 64] &= ~(1ULL << (i % 64));
}

static uint64_t table_len(const struct msix *m)
{
	return (uint64_t)m->nvec * PCI_MSIX_ENTRY_SIZE;
}

static uint64_t pba_len(const struct msix *m)
{
	return (m->nvec + 63) / 64 * 8ULL;
}

static bool region_in_bar(const struct pci_device *d, unsigned bar, uint64_t off, uint64_t len)
{
	const struct pci_bar *b;

	if (bar >= PCI_NUM_BARS)
		return false;
	b = &d->bars[bar];
	if (b->type != PCI_BAR_MEM32 && b->type != PCI_BAR_MEM64)
		return false;
	return off <= b->size && len <= b->size - off;
}

int msix_init(struct msix *m, struct pci_device *d, struct irq_routing *routes, unsigned nvec,
	      unsigned table_bar, uint32_t table_off, unsigned pba_bar, uint32_t pba_off)
{
	uint8_t cap[MSIX_CAP_LEN];
	uint16_t wmask = PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL;
	int off, ret;
	unsigned i;

	memset(m, 0, sizeof(*m));
	if (!d || !routes || d->msix || nvec == 0 || nvec > MSIX_MAX_VECTORS || (table_off & 7) ||
	    (pba_off & 7))
		return -EINVAL;
	m->nvec = nvec;
	if (!region_in_bar(d, table_bar, table_off, table_len(m)) ||
	    !region_in_bar(d, pba_bar, pba_off, pba_len(m)))
		return -EINVAL;
	if (table_bar == pba_bar && table_off < pba_off + pba_len(m) &&
	    pba_off < table_off + table_len(m))
		return -EINVAL;

	m->dev = d;
	m->routing = routes;
	m->table_bar = table_bar;
	m->table_off = table_off;
	m->pba_bar = pba_bar;
	m->pba_off = pba_off;
	m->vec = calloc(nvec, sizeof(*m->vec));
	m->pba = calloc((nvec + 63) / 64, sizeof(uint64_t));
	if (!m->vec || !m->pba) {
		ret = -ENOMEM;
		goto free_arrays;
	}
	for (i = 0; i < nvec; i++) {
		m->vec[i].efd = -1;
		m->vec[i].gsi = -1;
		m->vec[i].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
	}
	for (i = 0; i < nvec; i++) {
		m->vec[i].efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (m->vec[i].efd < 0) {
			ret = -errno;
			goto close_eventfds;
		}
	}

	memset(cap, 0, sizeof(cap));
	cap[0] = PCI_CAP_ID_MSIX;
	cap[PCI_MSIX_FLAGS] = (uint8_t)(nvec - 1);
	cap[PCI_MSIX_FLAGS + 1] = (uint8_t)((nvec - 1) >> 8);
	for (i = 0; i < 4; i++) {
		cap[PCI_MSIX_TABLE + i] = (uint8_t)((table_off | table_bar) >> (8 * i));
		cap[PCI_MSIX_PBA + i] = (uint8_t)((pba_off | pba_bar) >> (8 * i));
	}
	off = pci_device_add_cap(d, cap, sizeof(cap));
	if (off < 0) {
		ret = off;
		goto close_eventfds;
	}
	m->cap = (unsigned)off;
	pci_device_set_wmask(d, m->cap + PCI_MSIX_FLAGS,
			     (uint8_t[]){(uint8_t)wmask, (uint8_t)(wmask >> 8)}, 2);
	pthread_mutex_init(&m->lock, NULL);
	d->msix = m;
	return 0;

close_eventfds:
	for (i = 0; i < nvec; i++) {
		if (m->vec[i].efd >= 0)
			close(m->vec[i].efd);
	}
free_arrays:
	free(m->vec);
	free(m->pba);
	memset(m, 0, sizeof(*m));
	return ret;
}

void msix_destroy(struct msix *m)
{
	if (!m->vec)
		return;
	for (unsigned i = 0; i < m->nvec; i++) {
		struct msix_vector *v = &m->vec[i];

		if (v->irqfd)
			irq_routing_irqfd(m->routing, v->efd, (uint32_t)v->gsi, false);
		if (v->gsi >= 0)
			irq_routing_msi_free(m->routing, (uint32_t)v->gsi);
		if (v->efd >= 0)
			close(v->efd);
	}
	if (m->dev && m->dev->msix == m)
		m->dev->msix = NULL;
	free(m->vec);
	free(m->pba);
	pthread_mutex_destroy(&m->lock);
	memset(m, 0, sizeof(*m));
}

/*
 * Make sure vector i's message is what KVM delivers for its eventfd: a GSI,
 * its MSI route, the eventfd bound. Lock held. Returns false when the
 * vector cannot go through its eventfd (invalid message, no GSI left).
 */
static bool vec_route_once(struct msix *m, unsigned i)
{
	struct msix_vector *v = &m->vec[i];
	int r;

	if (!irq_routing_msi_valid(vec_addr(v), v->data)) {
		if (!v->bad_logged) {
			log_guest_error("MSI-X %s vector %u: message address %#llx is not the "
					"local APIC's; its interrupts are dropped",
					m->dev->name ? m->dev->name : "?", i,
					(unsigned long long)vec_addr(v));
			v->bad_logged = true;
		}
		return false;
	}
	v->bad_logged = false;
	if (v->gsi < 0) {
		r = irq_routing_msi_alloc(m->routing);
		if (r < 0)
			return false; /* notifications use KVM_SIGNAL_MSI */
		v->gsi = r;
	}
	r = irq_routing_msi_set(m->routing, (uint32_t)v->gsi, vec_addr(v), v->data);
	if (r) {
		log_error("MSI-X %s vector %u: cannot set the route of GSI %d: %s",
			  m->dev->name ? m->dev->name : "?", i, v->gsi, strerror(-r));
		return false;
	}
	if (!v->irqfd) {
		r = irq_routing_irqfd(m->routing, v->efd, (uint32_t)v->gsi, true);
		if (r) {
			log_error("MSI-X %s vector %u: KVM_IRQFD for GSI %d: %s",
				  m->dev->name ? m->dev->name : "?", i, v->gsi, strerror(-r));
			return false;
		}
		v->irqfd = true;
	}
	return true;
}

static bool vec_route(struct msix *m, unsigned i)
{
	m->vec[i].routed = vec_route_once(m, i);
	return m->vec[i].routed;
}

static void eventfd_kick(int fd)
{
	uint64_t one = 1;
	ssize_t r = write(fd, &one, sizeof(one));

	(void)r; /* only fails when the counter is saturated: already pending */
}

/* Send vector i's message now; lock held, vector unmasked. */
static void vec_fire(struct msix *m, unsigned i)
{
	struct msix_vector *v = &m->vec[i];

	if (v->routed) {
		eventfd_kick(v->efd);
		m->sent++;
	} else if (irq_routing_msi_valid(vec_addr(v), v->data) &&
		   irq_routing_signal_msi(m->routing, vec_addr(v), v->data) >= 0) {
		m->sent++;
	} else {
		m->dropped++;
	}
}

/* Vector i may have become deliverable: route it, send what is pending. Lock held. */
static void vec_unmasked(struct msix *m, unsigned i)
{
	vec_route(m, i);
	if (pba_test(m, i)) {
		pba_set(m, i, false);
		vec_fire(m, i);
	}
}

int msix_notify(struct msix *m, unsigned vector)
{
	struct msix_vector *v;
	int fd = -1;

	if (vector >= m->nvec)
		return -EINVAL;
	v = &m->vec[vector];
	pthread_mutex_lock(&m->lock);
	if (!m->enabled) {
		pthread_mutex_unlock(&m->lock);
		return -ENODEV;
	}
	if (vec_masked(m, vector)) {
		pba_set(m, vector, true);
		m->pended++;
		pthread_mutex_unlock(&m->lock);
		return 1;
	}
	if (v->routed) {
		fd = v->efd;
		m->sent++;
	} else {
		vec_fire(m, vector);
	}
	pthread_mutex_unlock(&m->lock);
	if (fd >= 0)
		eventfd_kick(fd); /* outside the lock: KVM does the rest */
	return 0;
}

int msix_vector_eventfd(struct msix *m, unsigned vector)
{
	return vector < m->nvec ? m->vec[vector].efd : -EINVAL;
}

bool msix_enabled(struct msix *m)
{
	bool on;

	pthread_mutex_lock(&m->lock);
	on = m->enabled;
	pthread_mutex_unlock(&m->lock);
	return on;
}

bool msix_vector_masked(struct msix *m, unsigned vector)
{
	bool masked = true;

	pthread_mutex_lock(&m->lock);
	if (vector < m->nvec)
		masked = vec_masked(m, vector);
	pthread_mutex_unlock(&m->lock);
	return masked;
}

bool msix_pending(struct msix *m, unsigned vector)
{
	bool p = false;

	pthread_mutex_lock(&m->lock);
	if (vector < m->nvec)
		p = pba_test(m, vector);
	pthread_mutex_unlock(&m->lock);
	return p;
}

/* ---- table and PBA ------------------------------------------------------------ */

static void entry_words(const struct msix_vector *v, uint32_t w[ENTRY_WORDS])
{
	w[0] = v->addr_lo;
	w[1] = v->addr_hi;
	w[2] = v->data;
	w[3] = v->ctrl;
}

static uint8_t table_byte(const struct msix *m, uint64_t toff)
{
	uint32_t w[ENTRY_WORDS];

	entry_words(&m->vec[toff / PCI_MSIX_ENTRY_SIZE], w);
	return (uint8_t)(w[(toff % PCI_MSIX_ENTRY_SIZE) / 4] >> (8 * (toff % 4)));
}

static uint8_t pba_byte(const struct msix *m, uint64_t poff)
{
	return (uint8_t)(m->pba[poff / 8] >> (8 * (poff % 8)));
}

/* Does [off, off+len) of bar touch [start, start+rlen) of rbar? */
static bool touches(unsigned bar, uint64_t off, uint32_t len, unsigned rbar, uint64_t start,
		    uint64_t rlen)
{
	return bar == rbar && off < start + rlen && off + len > start;
}

bool msix_bar_read(struct msix *m, unsigned bar, uint64_t off, uint8_t *data, uint32_t len)
{
	bool t = touches(bar, off, len, m->table_bar, m->table_off, table_len(m));
	bool p = touches(bar, off, len, m->pba_bar, m->pba_off, pba_len(m));

	if (!t && !p)
		return false;
	pthread_mutex_lock(&m->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t a = off + i;

		if (t && a >= m->table_off && a - m->table_off < table_len(m))
			data[i] = table_byte(m, a - m->table_off);
		else if (p && a >= m->pba_off && a - m->pba_off < pba_len(m))
			data[i] = pba_byte(m, a - m->pba_off);
		else
			data[i] = 0xff;
	}
	pthread_mutex_unlock(&m->lock);
	return true;
}

/* Entry i gets new contents w (from a guest write). Lock held. */
static void entry_write(struct msix *m, unsigned i, const uint32_t w[ENTRY_WORDS])
{
	struct msix_vector *v = &m->vec[i];
	bool was_masked = vec_masked(m, i);
	bool msg_changed = v->addr_lo != w[0] || v->addr_hi != w[1] || v->data != w[2];

	v->addr_lo = w[0];
	v->addr_hi = w[1];
	v->data = w[2];
	v->ctrl = w[3] & PCI_MSIX_ENTRY_CTRL_MASKBIT; /* bits 31:1 reserved */
	if (vec_masked(m, i))
		return; /* the route catches up when it is unmasked */
	if (was_masked)
		vec_unmasked(m, i);
	else if (msg_changed) /* a message changed while live (allowed, if unwise) */
		vec_route(m, i);
}

bool msix_bar_write(struct msix *m, unsigned bar, uint64_t off, const uint8_t *data, uint32_t len)
{
	bool t = touches(bar, off, len, m->table_bar, m->table_off, table_len(m));
	bool p = touches(bar, off, len, m->pba_bar, m->pba_off, pba_len(m));
	uint32_t i = 0;

	if (!t && !p)
		return false;
	if (!t)
		return true; /* the PBA is read-only */
	pthread_mutex_lock(&m->lock);
	while (i < len) {
		uint64_t a = off + i, toff;
		uint32_t w[ENTRY_WORDS];
		unsigned e;

		if (a < m->table_off || a - m->table_off >= table_len(m)) {
			i++;
			continue;
		}
		/* Merge every byte of this access that falls into entry e. */
		toff = a - m->table_off;
		e = (unsigned)(toff / PCI_MSIX_ENTRY_SIZE);
		entry_words(&m->vec[e], w);
		for (; i < len && a < m->table_off + (e + 1ULL) * PCI_MSIX_ENTRY_SIZE; i++, a++) {
			unsigned b = (unsigned)((a - m->table_off) % PCI_MSIX_ENTRY_SIZE);

			w[b / 4] &= ~(0xffu << (8 * (b % 4)));
			w[b / 4] |= (uint32_t)data[i] << (8 * (b % 4));
		}
		entry_write(m, e, w);
	}
	pthread_mutex_unlock(&m->lock);
	return true;
}

/* ---- Message Control ------------------------------------------------------------ */

void msix_config_written(struct msix *m)
{
	uint16_t ctl = pci_cfg_get16(m->dev, m->cap + PCI_MSIX_FLAGS);
	bool was_open;

	pthread_mutex_lock(&m->lock);
	/* Was the function as a whole letting messages through? */
	was_open = m->enabled && !m->masked_all;
	m->enabled = ctl & PCI_MSIX_FLAGS_ENABLE;
	m->masked_all = ctl & PCI_MSIX_FLAGS_MASKALL;
	if (!was_open && m->enabled && !m->masked_all) {
		for (unsigned i = 0; i < m->nvec; i++) {
			if (!vec_masked(m, i))
				vec_unmasked(m, i);
		}
	}
	pthread_mutex_unlock(&m->lock);
}

void msix_reset(struct msix *m)
{
	uint16_t ctl;

	pthread_mutex_lock(&m->lock);
	m->enabled = false;
	m->masked_all = false;
	for (unsigned i = 0; i < m->nvec; i++) {
		struct msix_vector *v = &m->vec[i];

		v->addr_lo = v->addr_hi = v->data = 0;
		v->ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
		v->bad_logged = false;
		v->routed = false;
	}
	memset(m->pba, 0, (size_t)pba_len(m));
	ctl = pci_cfg_get16(m->dev, m->cap + PCI_MSIX_FLAGS);
	pci_cfg_set16(m->dev, m->cap + PCI_MSIX_FLAGS,
		      ctl & (uint16_t) ~(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL));
	pthread_mutex_unlock(&m->lock);
}

/* ---- snapshots ------------------------------------------------------------------- */

int msix_save(struct msix *m, struct msix_state *s)
{
	memset(s, 0, sizeof(*s));
	if (m->nvec > MSIX_STATE_MAX_VECTORS)
		return -E2BIG;
	pthread_mutex_lock(&m->lock);
	s->nvec = m->nvec;
	for (unsigned i = 0; i < m->nvec; i++) {
		s->vec[i].addr_lo = m->vec[i].addr_lo;
		s->vec[i].addr_hi = m->vec[i].addr_hi;
		s->vec[i].data = m->vec[i].data;
		s->vec[i].ctrl = m->vec[i].ctrl;
	}
	memcpy(s->pba, m->pba, (size_t)pba_len(m));
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int msix_load(struct msix *m, const struct msix_state *s)
{
	if (s->nvec != m->nvec || m->nvec > MSIX_STATE_MAX_VECTORS)
		return -EINVAL;
	for (unsigned i = m->nvec; i < MSIX_STATE_MAX_VECTORS; i++)
		if ((s->pba[i / 64] >> (i % 64)) & 1)
			return -EINVAL;
	pthread_mutex_lock(&m->lock);
	memcpy(m->pba, s->pba, (size_t)pba_len(m));
	for (unsigned i = 0; i < m->nvec; i++) {
		struct msix_vector *v = &m->vec[i];

		v->addr_lo = s->vec[i].addr_lo;
		v->addr_hi = s->vec[i].addr_hi;
		v->data = s->vec[i].data;
		v->ctrl = s->vec[i].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT;
		v->bad_logged = false;
		v->routed = false;
	}
	for (unsigned i = 0; i < m->nvec; i++)
		if (!vec_masked(m, i))
			vec_unmasked(m, i);
	pthread_mutex_unlock(&m->lock);
	return 0;
}
