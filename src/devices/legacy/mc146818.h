/* SPDX-License-Identifier: MIT */
/*
 * Motorola MC146818 CMOS real-time clock and its 128 bytes of CMOS memory
 * (ports 0x70/0x71, IRQ 8).
 *
 * The VMM registers mc146818_bus_ops for a 2-port range (offset 0 = index
 * port 0x70, offset 1 = data port 0x71).
 *
 * Model choices (what a guest can observe):
 *  - The clock is the host's CLOCK_REALTIME (UTC) plus an offset the guest
 *    sets by writing the time: with register B's SET bit set the time
 *    registers hold what the guest writes, and clearing SET starts the
 *    clock from those values (an invalid date, or a year outside
 *    1900-2199, is a guest error and leaves the clock as it was). A time write with SET clear
 * changes that field at once. The host clock is never changed.
 *  - Register B's DM (binary/BCD) and 24/12-hour bits apply to every time
 *    and alarm register, the century byte (0x32) included. The day of week
 *    (1 = Sunday) is always derived from the date; writes to it are
 *    ignored. Register A's divider bits are stored but the clock always
 *    runs.
 *  - Register A's UIP bit reads 1 during the last 244 us of each second of
 *    a running clock, so a reader that waits for it to clear reads a
 *    consistent time within that window, and it never stays set.
 *  - Register C's flags (PF, AF, UF) are set as the clock passes periodic
 *    ticks, alarm matches and second boundaries, whether enabled or not;
 *    IRQF and the IRQ 8 line follow (flag & enable). Reading C clears it
 *    and lowers the line. Flags are brought up to date on every access; an
 *    interrupt that must arrive without an access needs the VMM's timer:
 *    it arms one for mc146818_next_event() and calls mc146818_timer() when
 *    it expires, and re-reads the deadline whenever timer_changed is called.
 *  - Register D reads 0x80 (valid RAM and time). The index port's bit 7
 *    (NMI disable) is masked off and has no effect.
 *  - CMOS bytes 0x15/0x16 (640 KiB base memory), 0x17/0x18 and 0x30/0x31
 *    (KiB above 1 MiB, at most 65535), 0x34/0x35 (64 KiB units above
 *    16 MiB below 4 GiB) and 0x5b-0x5d (64 KiB units above 4 GiB) hold the
 *    RAM size; 0x2e/0x2f the checksum of 0x10-0x2d. Other bytes read 0
 *    until written.
 *  - Accesses wider than one byte reach only the port at the access's
 *    offset (reads: 0xff above byte 0). Port 0x70 reads as 0xff.
 *  - There is no reset function: the chip is battery-backed, and its time
 *    and memory survive a machine reset.
 *
 * Locking: one mutex per RTC, taken by the bus callbacks and the timer
 * call. The irq_line callback is called with it held and must not call
 * back into the RTC; timer_changed is called without it.
 */
#ifndef HEARTH_DEVICES_LEGACY_MC146818_H
#define HEARTH_DEVICES_LEGACY_MC146818_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/irq.h"

#define MC146818_NR_PORTS  2
#define MC146818_CMOS_SIZE 128

/* Host clock: nanoseconds since the Unix epoch, UTC. */
typedef int64_t (*mc146818_clock_fn)(void *opaque);

/* Tells the VMM that mc146818_next_event() may have changed. */
typedef void (*mc146818_timer_changed_fn)(void *opaque);

struct mc146818 {
	pthread_mutex_t lock;
	struct irq_line irq;
	mc146818_clock_fn clock;
	void *clock_opaque;
	mc146818_timer_changed_fn timer_changed;
	void *timer_opaque;

	uint8_t index;
	uint8_t cmos[MC146818_CMOS_SIZE]; /* time registers: valid while SET */
	int64_t offset_ns;		  /* guest time = host clock + offset */
	int64_t last_ns;		  /* guest time flags were computed up to */
	uint8_t reg_c;
	int irq_level;
};

/* Plain snapshot of an RTC's state (mc146818_save/_load). */
#define MC146818_STATE_VERSION 1
struct mc146818_state {
	uint32_t version;
	uint8_t index;
	uint8_t reg_c;
	uint8_t cmos[MC146818_CMOS_SIZE];
	int64_t offset_ns;
};

/* Bus callbacks for the 2-port range; opaque is the struct mc146818. */
extern const struct bus_device_ops mc146818_bus_ops;

/*
 * mc146818_init - initialize rtc: clock running from the host's
 * CLOCK_REALTIME, BCD and 24-hour mode, no interrupts enabled, CMOS memory
 * filled with the RAM sizes (ram_below_4g and ram_above_4g bytes of guest
 * RAM). irq is the IRQ 8 line. Cannot fail.
 */
void mc146818_init(struct mc146818 *rtc, struct irq_line irq, uint64_t ram_below_4g,
		   uint64_t ram_above_4g);

/* mc146818_destroy - release rtc's resources (its mutex). */
void mc146818_destroy(struct mc146818 *rtc);

/*
 * mc146818_set_clock - read the host time from clock(opaque) instead of
 * CLOCK_REALTIME (tests; a VM clock). Call before the guest runs.
 */
void mc146818_set_clock(struct mc146818 *rtc, mc146818_clock_fn clock, void *opaque);

/*
 * mc146818_set_timer_changed - fn(opaque) is called (without the RTC's
 * lock, from the thread that caused it) after the guest changed what
 * mc146818_next_event() returns.
 */
void mc146818_set_timer_changed(struct mc146818 *rtc, mc146818_timer_changed_fn fn, void *opaque);

/*
 * mc146818_next_event - host-clock time (ns, the clock's epoch: absolute
 * CLOCK_REALTIME by default) at which an enabled interrupt is next due, or
 * -1 when none is (nothing enabled, or the line is already up until the
 * guest reads register C). Alarm interrupts are checked once a second.
 */
int64_t mc146818_next_event(struct mc146818 *rtc);

/* mc146818_timer - bring the flags up to date (the VMM's timer expired). */
void mc146818_timer(struct mc146818 *rtc);

/* mc146818_save - copy the state into *st. */
void mc146818_save(struct mc146818 *rtc, struct mc146818_state *st);

/*
 * mc146818_load - replace the state with *st. The guest clock keeps the
 * saved offset from the host clock. Returns 0, or -EINVAL for a wrong
 * version or an out-of-range field (state unchanged).
 */
int mc146818_load(struct mc146818 *rtc, const struct mc146818_state *st);

#endif
