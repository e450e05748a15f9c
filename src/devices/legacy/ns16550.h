/* SPDX-License-Identifier: MIT */
/*
 * NS16550A UART (the PC's COM ports; hearth has COM1 at 0x3f8, IRQ 4).
 *
 * A pure device model: the VMM registers ns16550_bus_ops for an 8-port range
 * (offsets 0..7 relative to the base), wires the interrupt line, and moves
 * bytes in and out through ns16550_receive() and the tx callback.
 *
 * Model choices (what a guest can observe):
 *  - Transmission is instantaneous: THR and the transmitter are always empty
 *    (LSR.THRE and LSR.TEMT read 1), so every THR write is followed at once by
 *    a THR-empty interrupt when IER.ETBEI is set. The THR-empty interrupt
 *    also becomes pending when a write to IER sets ETBEI (it was clear), and
 *    is acknowledged by an IIR read that reports it, a THR write (which then
 *    re-arms it, the byte having gone), or clearing ETBEI.
 *  - The receiver holds up to NS16550_RX_FIFO_SIZE (64) bytes in FIFO mode,
 *    one byte (RBR) in 16450 mode (FCR bit 0 clear). The guest still sees a
 *    16550A (16-byte FIFO in its identification); the deeper buffer only
 *    means fewer host round trips.
 *  - The character-timeout interrupt has no timer: whenever the FIFO holds
 *    data below the trigger level the IIR reports a timeout (0xcc) at once.
 *  - Outside loopback mode the modem lines read as a connected terminal
 *    (DCD, DSR, CTS set). In loopback mode (MCR bit 4) transmitted bytes are
 *    received and MSR reflects MCR (CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2);
 *    a byte looped into a full receiver sets LSR.OE and is lost.
 *  - The interrupt line is not gated by MCR.OUT2: its level is "IIR reports
 *    a pending interrupt".
 *  - Register accesses wider than one byte reach only the register at the
 *    access's offset: a read returns that register in byte 0 and 0xff in the
 *    other bytes; a write uses byte 0 and ignores the others.
 *
 * Locking: each UART has its own mutex, taken by the bus callbacks (vCPU
 * threads) and by the host-side calls (event-loop thread). The irq_line
 * callback is called with that mutex held (so that level changes are never
 * reordered) and must not call back into the UART. The tx and rx_ready
 * callbacks are called without the mutex held, from the thread whose access
 * caused them (a vCPU thread), in the order of the guest's THR writes.
 */
#ifndef HEARTH_DEVICES_LEGACY_NS16550_H
#define HEARTH_DEVICES_LEGACY_NS16550_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/irq.h"

#define NS16550_NR_PORTS     8
#define NS16550_RX_FIFO_SIZE 64

/* Called with bytes the guest transmitted (outside loopback mode). */
typedef void (*ns16550_tx_fn)(void *opaque, const uint8_t *buf, size_t len);

/*
 * Called when receive space frees up after ns16550_receive() refused bytes:
 * once the guest has drained the receiver to half its capacity or less, or
 * the FIFO was cleared, or loopback mode ended (never while in loopback).
 * The caller then retries.
 */
typedef void (*ns16550_rx_ready_fn)(void *opaque);

/* What a UART counted since it was created (ns16550_get_stats). */
struct ns16550_stats {
	uint64_t tx_bytes; /* written by the guest to THR and sent out */
	uint64_t rx_bytes; /* read by the guest from RBR */
	uint64_t in_bytes; /* taken from the host side (ns16550_receive) */
	uint64_t overruns; /* bytes lost to a full receiver (loopback) */
	uint64_t refused;  /* host bytes refused for lack of room (offered again later) */
};

struct ns16550 {
	pthread_mutex_t lock;
	struct ns16550_stats stats;
	struct irq_line irq;
	ns16550_tx_fn tx;
	ns16550_rx_ready_fn rx_ready;
	void *opaque;

	uint8_t dll, dlm; /* divisor latch */
	uint8_t ier;
	uint8_t fcr; /* FIFO enable, DMA mode and trigger bits as written */
	uint8_t lcr;
	uint8_t mcr;
	uint8_t lsr_err; /* sticky LSR error bits (OE) until LSR is read */
	uint8_t msr;	 /* modem status incl. delta bits */
	uint8_t scr;
	bool thr_ipending; /* THR-empty interrupt pending */

	uint8_t rx_fifo[NS16550_RX_FIFO_SIZE];
	unsigned rx_head;
	unsigned rx_count;
	bool rx_blocked; /* ns16550_receive() refused bytes; rx_ready owed */

	int irq_level; /* last level driven on irq, -1 before the first */
};

/* Plain snapshot of a UART's guest-visible state (ns16550_save/_load). */
#define NS16550_STATE_VERSION 1
struct ns16550_state {
	uint32_t version;
	uint8_t dll, dlm, ier, fcr, lcr, mcr, lsr_err, msr, scr;
	uint8_t thr_ipending;
	uint8_t rx_count;
	uint8_t rx_fifo[NS16550_RX_FIFO_SIZE]; /* oldest byte first */
};

/* Bus callbacks for the UART's 8-port range; opaque is the struct ns16550. */
extern const struct bus_device_ops ns16550_bus_ops;

/*
 * ns16550_init - initialize u in its power-on state: FIFOs off, no
 * interrupts enabled, modem lines of a connected terminal. irq is the line
 * it drives; tx receives transmitted bytes (may be NULL: output dropped);
 * opaque is passed to tx and rx_ready. Cannot fail.
 */
void ns16550_init(struct ns16550 *u, struct irq_line irq, ns16550_tx_fn tx, void *opaque);

/* ns16550_set_rx_ready - set (or clear with NULL) the rx_ready callback. */
void ns16550_set_rx_ready(struct ns16550 *u, ns16550_rx_ready_fn rx_ready);

/* ns16550_destroy - release u's resources (its mutex). */
void ns16550_destroy(struct ns16550 *u);

/*
 * ns16550_reset - return to the power-on state (machine reset); received
 * bytes are discarded. An owed rx_ready is delivered.
 */
void ns16550_reset(struct ns16550 *u);

/*
 * ns16550_receive - offer len bytes from the host side (console input).
 * Returns how many were accepted (0..len): bytes beyond the receiver's free
 * space, and all bytes while in loopback mode, are refused; rx_ready is
 * called later when space frees up. Raises the interrupt as the guest
 * configured it.
 */
size_t ns16550_receive(struct ns16550 *u, const uint8_t *buf, size_t len);

/* ns16550_get_stats - copy u's counters (takes its lock). */
void ns16550_get_stats(struct ns16550 *u, struct ns16550_stats *out);

/* ns16550_rx_space - how many bytes ns16550_receive() would accept now. */
size_t ns16550_rx_space(struct ns16550 *u);

/* ns16550_save - copy the guest-visible state into *st. */
void ns16550_save(struct ns16550 *u, struct ns16550_state *st);

/*
 * ns16550_load - replace the state with *st (from ns16550_save, possibly
 * of another process) and drive the interrupt line accordingly. Returns 0,
 * or -EINVAL for a wrong version or an out-of-range field (state unchanged).
 */
int ns16550_load(struct ns16550 *u, const struct ns16550_state *st);

#endif
