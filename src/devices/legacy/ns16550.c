/* SPDX-License-Identifier: MIT */
/* NS16550A UART model. See ns16550.h for what the guest can observe. */
#include "devices/legacy/ns16550.h"

#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

/* Register offsets. */
#define REG_RBR_THR 0 /* DLL when LCR.DLAB */
#define REG_IER	    1 /* DLM when LCR.DLAB */
#define REG_IIR_FCR 2
#define REG_LCR	    3
#define REG_MCR	    4
#define REG_LSR	    5
#define REG_MSR	    6
#define REG_SCR	    7

#define IER_RDI	 0x01 /* received data available */
#define IER_THRI 0x02 /* THR empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI	 0x08 /* modem status */
#define IER_MASK 0x0f

#define IIR_NO_INT  0x01
#define IIR_MSI	    0x00
#define IIR_THRI    0x02
#define IIR_RDI	    0x04
#define IIR_RLSI    0x06
#define IIR_TIMEOUT 0x0c
#define IIR_FIFO    0xc0

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_DMA	     0x08
#define FCR_TRIGGER  0xc0

#define LCR_DLAB 0x80

#define MCR_DTR	 0x01
#define MCR_RTS	 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR	 0x01
#define LSR_OE	 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS  0x01
#define MSR_DDSR  0x02
#define MSR_TERI  0x04
#define MSR_DDCD  0x08
#define MSR_DELTA 0x0f
#define MSR_CTS	  0x10
#define MSR_DSR	  0x20
#define MSR_RI	  0x40
#define MSR_DCD	  0x80
#define MSR_IDLE  (MSR_DCD | MSR_DSR | MSR_CTS) /* a connected terminal */

/* Work to do after dropping the lock. */
struct ns16550_deferred {
	uint8_t tx_byte;
	bool tx;
	bool rx_ready;
};

static unsigned rx_capacity(const struct ns16550 *u)
{
	return (u->fcr & FCR_ENABLE) ? NS16550_RX_FIFO_SIZE : 1;
}

static unsigned rx_trigger(const struct ns16550 *u)
{
	static const unsigned levels[4] = {1, 4, 8, 14};

	return levels[(u->fcr & FCR_TRIGGER) >> 6];
}

static uint8_t iir_compute(const struct ns16550 *u)
{
	uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((u->ier & IER_RLSI) && (u->lsr_err & LSR_OE))
		return fifo | IIR_RLSI;
	if ((u->ier & IER_RDI) && u->rx_count) {
		if (fifo && u->rx_count < rx_trigger(u))
			return fifo | IIR_TIMEOUT;
		return fifo | IIR_RDI;
	}
	if ((u->ier & IER_THRI) && u->thr_ipending)
		return fifo | IIR_THRI;
	if ((u->ier & IER_MSI) && (u->msr & MSR_DELTA))
		return fifo | IIR_MSI;
	return fifo | IIR_NO_INT;
}

static void update_irq(struct ns16550 *u)
{
	int level = !(iir_compute(u) & IIR_NO_INT);

	if (level != u->irq_level) {
		u->irq_level = level;
		irq_line_set(&u->irq, level);
	}
}

/*
 * rx_ready is owed after a refused receive, once host input is accepted
 * again (not in loopback) and the receiver is at most half full.
 */
static void check_rx_ready(struct ns16550 *u, struct ns16550_deferred *d)
{
	if (u->rx_blocked && !(u->mcr & MCR_LOOP) && u->rx_count <= rx_capacity(u) / 2) {
		u->rx_blocked = false;
		d->rx_ready = true;
	}
}

static void rx_clear(struct ns16550 *u, struct ns16550_deferred *d)
{
	u->rx_head = 0;
	u->rx_count = 0;
	check_rx_ready(u, d);
}

/* Store one received byte; returns false when the receiver is full. */
static bool rx_push(struct ns16550 *u, uint8_t byte)
{
	if (u->rx_count >= rx_capacity(u))
		return false;
	u->rx_fifo[(u->rx_head + u->rx_count) % NS16550_RX_FIFO_SIZE] = byte;
	u->rx_count++;
	return true;
}

static uint8_t rx_pop(struct ns16550 *u, struct ns16550_deferred *d)
{
	uint8_t byte;

	if (!u->rx_count)
		return 0;
	byte = u->rx_fifo[u->rx_head];
	u->rx_head = (u->rx_head + 1) % NS16550_RX_FIFO_SIZE;
	u->rx_count--;
	check_rx_ready(u, d);
	return byte;
}

/* Modem status inputs as the MCR (loopback) or the outside world drive them. */
static uint8_t msr_lines(uint8_t mcr)
{
	uint8_t lines = 0;

	if (!(mcr & MCR_LOOP))
		return MSR_IDLE;
	if (mcr & MCR_RTS)
		lines |= MSR_CTS;
	if (mcr & MCR_DTR)
		lines |= MSR_DSR;
	if (mcr & MCR_OUT1)
		lines |= MSR_RI;
	if (mcr & MCR_OUT2)
		lines |= MSR_DCD;
	return lines;
}

static void msr_set_lines(struct ns16550 *u, uint8_t lines)
{
	uint8_t old = u->msr & ~MSR_DELTA;
	uint8_t changed = old ^ lines;
	uint8_t delta = u->msr & MSR_DELTA;

	if (changed & MSR_CTS)
		delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		delta |= MSR_DDSR;
	if ((old & MSR_RI) && !(lines & MSR_RI)) /* trailing edge only */
		delta |= MSR_TERI;
	if (changed & MSR_DCD)
		delta |= MSR_DDCD;
	u->msr = lines | delta;
}

static void write_fcr(struct ns16550 *u, uint8_t val, struct ns16550_deferred *d)
{
	uint8_t old = u->fcr;

	/* FIFO control bits take effect only together with the enable bit. */
	u->fcr = (val & FCR_ENABLE) ? (val & (FCR_ENABLE | FCR_DMA | FCR_TRIGGER)) : 0;
	if ((old ^ u->fcr) & FCR_ENABLE)
		rx_clear(u, d);
	else if ((u->fcr & FCR_ENABLE) && (val & FCR_CLEAR_RX))
		rx_clear(u, d);
	/* The transmitter holds nothing to clear (FCR_CLEAR_TX is a no-op). */
}

static void write_ier(struct ns16550 *u, uint8_t val)
{
	uint8_t changed = (u->ier ^ val) & IER_MASK;

	u->ier = val & IER_MASK;
	if (changed & IER_THRI)
		/* Enabling it with THR empty (always, here) makes it pending. */
		u->thr_ipending = !!(u->ier & IER_THRI);
}

static void write_thr(struct ns16550 *u, uint8_t val, struct ns16550_deferred *d)
{
	if (u->mcr & MCR_LOOP) {
		if (!rx_push(u, val)) {
			if (!(u->fcr & FCR_ENABLE))
				/* 16450 mode: the new byte overwrites RBR. */
				u->rx_fifo[u->rx_head] = val;
			u->lsr_err |= LSR_OE;
			u->stats.overruns++;
		}
	} else {
		d->tx = true;
		d->tx_byte = val;
		u->stats.tx_bytes++;
	}
	/* The byte left THR at once: THR is empty again. */
	u->thr_ipending = true;
}

static void write_mcr(struct ns16550 *u, uint8_t val, struct ns16550_deferred *d)
{
	u->mcr = val & MCR_MASK;
	msr_set_lines(u, msr_lines(u->mcr));
	check_rx_ready(u, d);
}

static uint8_t reg_read(struct ns16550 *u, unsigned reg, struct ns16550_deferred *d)
{
	uint8_t val;

	switch (reg) {
	case REG_RBR_THR:
		if (u->lcr & LCR_DLAB)
			return u->dll;
		if (u->rx_count)
			u->stats.rx_bytes++;
		return rx_pop(u, d);
	case REG_IER:
		if (u->lcr & LCR_DLAB)
			return u->dlm;
		return u->ier;
	case REG_IIR_FCR:
		val = iir_compute(u);
		/* Reading IIR acknowledges a THR-empty interrupt it reports. */
		if ((val & 0x0f) == IIR_THRI)
			u->thr_ipending = false;
		return val;
	case REG_LCR:
		return u->lcr;
	case REG_MCR:
		return u->mcr;
	case REG_LSR:
		val = LSR_THRE | LSR_TEMT | u->lsr_err;
		if (u->rx_count)
			val |= LSR_DR;
		u->lsr_err = 0;
		return val;
	case REG_MSR:
		val = u->msr;
		u->msr &= ~MSR_DELTA;
		return val;
	case REG_SCR:
		return u->scr;
	default:
		return 0xff;
	}
}

static void reg_write(struct ns16550 *u, unsigned reg, uint8_t val, struct ns16550_deferred *d)
{
	switch (reg) {
	case REG_RBR_THR:
		if (u->lcr & LCR_DLAB)
			u->dll = val;
		else
			write_thr(u, val, d);
		break;
	case REG_IER:
		if (u->lcr & LCR_DLAB)
			u->dlm = val;
		else
			write_ier(u, val);
		break;
	case REG_IIR_FCR:
		write_fcr(u, val, d);
		break;
	case REG_LCR:
		u->lcr = val;
		break;
	case REG_MCR:
		write_mcr(u, val, d);
		break;
	case REG_LSR:
	case REG_MSR:
		/* Read-only on a 16550A (factory test use): ignored. */
		break;
	case REG_SCR:
		u->scr = val;
		break;
	default:
		break;
	}
}

static void run_deferred(struct ns16550 *u, const struct ns16550_deferred *d)
{
	if (d->tx && u->tx)
		u->tx(u->opaque, &d->tx_byte, 1);
	if (d->rx_ready && u->rx_ready)
		u->rx_ready(u->opaque);
}

static void ns16550_bus_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct ns16550 *u = opaque;
	struct ns16550_deferred d = {0};

	if (!len)
		return;
	memset(data, 0xff, len);
	if (offset >= NS16550_NR_PORTS)
		return;
	pthread_mutex_lock(&u->lock);
	data[0] = reg_read(u, (unsigned)offset, &d);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	run_deferred(u, &d);
}

static void ns16550_bus_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct ns16550 *u = opaque;
	struct ns16550_deferred d = {0};

	if (!len || offset >= NS16550_NR_PORTS)
		return;
	pthread_mutex_lock(&u->lock);
	reg_write(u, (unsigned)offset, data[0], &d);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	run_deferred(u, &d);
}

const struct bus_device_ops ns16550_bus_ops = {
    .name = "ns16550",
    .read = ns16550_bus_read,
    .write = ns16550_bus_write,
};

static void power_on_state(struct ns16550 *u)
{
	u->dll = 0x0c; /* 9600 baud, as firmware leaves it */
	u->dlm = 0;
	u->ier = 0;
	u->fcr = 0;
	u->lcr = 0x03; /* 8N1 */
	u->mcr = 0;
	u->lsr_err = 0;
	u->msr = MSR_IDLE;
	u->scr = 0;
	u->thr_ipending = false;
	u->rx_head = 0;
	u->rx_count = 0;
}

void ns16550_init(struct ns16550 *u, struct irq_line irq, ns16550_tx_fn tx, void *opaque)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->lock, NULL);
	u->irq = irq;
	u->tx = tx;
	u->opaque = opaque;
	u->irq_level = -1;
	power_on_state(u);
}

void ns16550_set_rx_ready(struct ns16550 *u, ns16550_rx_ready_fn rx_ready)
{
	pthread_mutex_lock(&u->lock);
	u->rx_ready = rx_ready;
	pthread_mutex_unlock(&u->lock);
}

void ns16550_destroy(struct ns16550 *u)
{
	pthread_mutex_destroy(&u->lock);
}

void ns16550_reset(struct ns16550 *u)
{
	struct ns16550_deferred d = {0};

	pthread_mutex_lock(&u->lock);
	power_on_state(u);
	check_rx_ready(u, &d);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	run_deferred(u, &d);
}

size_t ns16550_receive(struct ns16550 *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	if (!(u->mcr & MCR_LOOP)) {
		while (n < len && rx_push(u, buf[n]))
			n++;
	}
	if (n < len)
		u->rx_blocked = true;
	u->stats.in_bytes += n;
	u->stats.refused += len - n;
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

void ns16550_get_stats(struct ns16550 *u, struct ns16550_stats *out)
{
	pthread_mutex_lock(&u->lock);
	*out = u->stats;
	pthread_mutex_unlock(&u->lock);
}

size_t ns16550_rx_space(struct ns16550 *u)
{
	size_t space = 0;

	pthread_mutex_lock(&u->lock);
	if (!(u->mcr & MCR_LOOP))
		space = rx_capacity(u) - u->rx_count;
	pthread_mutex_unlock(&u->lock);
	return space;
}

void ns16550_save(struct ns16550 *u, struct ns16550_state *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&u->lock);
	st->version = NS16550_STATE_VERSION;
	st->dll = u->dll;
	st->dlm = u->dlm;
	st->ier = u->ier;
	st->fcr = u->fcr;
	st->lcr = u->lcr;
	st->mcr = u->mcr;
	st->lsr_err = u->lsr_err;
	st->msr = u->msr;
	st->scr = u->scr;
	st->thr_ipending = u->thr_ipending;
	st->rx_count = (uint8_t)u->rx_count;
	for (unsigned i = 0; i < u->rx_count; i++)
		st->rx_fifo[i] = u->rx_fifo[(u->rx_head + i) % NS16550_RX_FIFO_SIZE];
	pthread_mutex_unlock(&u->lock);
}

int ns16550_load(struct ns16550 *u, const struct ns16550_state *st)
{
	unsigned cap;

	if (st->version != NS16550_STATE_VERSION)
		return -EINVAL;
	if ((st->ier & ~IER_MASK) || (st->mcr & ~MCR_MASK) ||
	    (st->fcr & ~(FCR_ENABLE | FCR_DMA | FCR_TRIGGER)) || (st->lsr_err & ~LSR_OE) ||
	    st->thr_ipending > 1)
		return -EINVAL;
	if ((st->mcr & MCR_LOOP) ? (st->msr & ~MSR_DELTA) != msr_lines(st->mcr)
				 : (st->msr & ~MSR_DELTA) != MSR_IDLE)
		return -EINVAL;
	cap = (st->fcr & FCR_ENABLE) ? NS16550_RX_FIFO_SIZE : 1;
	if (st->rx_count > cap)
		return -EINVAL;

	pthread_mutex_lock(&u->lock);
	u->dll = st->dll;
	u->dlm = st->dlm;
	u->ier = st->ier;
	u->fcr = st->fcr;
	u->lcr = st->lcr;
	u->mcr = st->mcr;
	u->lsr_err = st->lsr_err;
	u->msr = st->msr;
	u->scr = st->scr;
	u->thr_ipending = st->thr_ipending;
	u->rx_head = 0;
	u->rx_count = st->rx_count;
	memcpy(u->rx_fifo, st->rx_fifo, st->rx_count);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return 0;
}
