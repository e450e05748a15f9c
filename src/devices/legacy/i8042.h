/* SPDX-License-Identifier: MIT */
/*
 * Intel 8042 PS/2 controller with a keyboard (IRQ 1) and an AUX port
 * (IRQ 12) that has no mouse attached.
 *
 * The VMM registers i8042_data_bus_ops at 0x60 and i8042_cmd_bus_ops at
 * 0x64, both one port long (offset 0), with the same struct i8042.
 *
 * Model choices (what a guest can observe):
 *  - Initial command byte 0x45 (keyboard interrupt, system flag,
 *    translation on) as firmware leaves it; status 0x14 (system flag,
 *    keyboard not inhibited).
 *  - The keyboard is a set-2 MF2 keyboard (ID 0xab 0x83). Scancode sets 1
 *    and 2 are supported; a request for set 3 is refused with 0xfe.
 *    With the command byte's translation bit set, every byte the keyboard
 *    sends is translated by the controller to set 1, as real 8042s do
 *    (so the ID reads 0xab 0x41).
 *  - The AUX port has no device: bytes sent to it (0xd4) are answered with
 *    0xfe and the status register's time-out bit, which makes guest mouse
 *    drivers give up at once. The AUX loopback (0xd3) and the AUX interface
 *    test (0xa9) work, with IRQ 12, so guests' probes pass without waiting.
 *  - The output buffer holds one byte (status OBF). Controller replies take
 *    it at once (a keyboard byte they displace is delivered right after);
 *    keyboard bytes wait in the keyboard while the output buffer is full or
 *    the keyboard interface is disabled (command byte bit 4). The keyboard
 *    holds I8042_KBD_BUFFER (16) bytes counting the one in the output
 *    buffer, as a real one does: Linux's probe flushes at most 16 bytes.
 *  - IRQ 1 (12) is asserted while the output buffer holds a keyboard (AUX)
 *    byte and the command byte enables that interrupt. It drops when the
 *    guest reads port 0x60 and rises again with the next byte, so an
 *    edge-triggered line sees one edge per byte. Controller replies count
 *    as keyboard bytes, except AUX loopback and AUX transfer replies.
 *  - Accesses wider than one byte: reads return the register in byte 0 and
 *    0xff above; writes use byte 0.
 *
 * Locking: one mutex per controller, taken by the bus callbacks (vCPU
 * threads) and i8042_inject_*() (any thread). The irq_line callbacks are
 * called with the mutex held and must not call back into the controller;
 * the reset callback is called without it.
 */
#ifndef HEARTH_DEVICES_LEGACY_I8042_H
#define HEARTH_DEVICES_LEGACY_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/irq.h"

/* Bytes the keyboard holds, the one in the controller's output buffer included. */
#define I8042_KBD_BUFFER 16

/* Called when the guest pulses the CPU reset line. */
typedef void (*i8042_reset_fn)(void *opaque);

struct i8042_queue {
	uint8_t buf[I8042_KBD_BUFFER];
	unsigned head, count;
};

/* What a controller counted since it was created (i8042_get_stats). */
struct i8042_stats {
	uint64_t data_reads, data_writes; /* port 0x60 */
	uint64_t cmd_reads, cmd_writes;	  /* port 0x64 (status reads, commands) */
	uint64_t resets;		  /* CPU reset pulses */
	uint64_t keys_injected;		  /* scan-code bytes put in by the host */
};

struct i8042 {
	pthread_mutex_t lock;
	struct i8042_stats stats;
	struct irq_line kbd_irq;
	struct irq_line aux_irq;
	i8042_reset_fn reset;
	void *opaque;

	/* controller */
	uint8_t ram[32];     /* internal RAM; ram[0] is the command byte */
	bool sys_flag;	     /* status bit 2 */
	bool last_was_cmd;   /* status bit 3: last write went to port 0x64 */
	uint8_t outport;     /* output port (bit 0 reset, bit 1 A20) */
	uint8_t pending_cmd; /* controller command awaiting a data byte, or 0 */
	bool obf;	     /* output buffer full */
	uint8_t obuf;
	bool obuf_aux;	   /* the byte came from (or for) the AUX side */
	bool obuf_ctrl;	   /* the controller produced it (not the keyboard) */
	bool obuf_timeout; /* status bit 6 while this byte is in the buffer */
	bool held;	   /* a keyboard byte displaced by a controller reply */
	uint8_t held_byte;
	bool xlate_break; /* saw 0xf0 while translating: next byte | 0x80 */

	/* keyboard */
	struct i8042_queue kbd_queue;
	bool kbd_scanning;
	uint8_t kbd_set;
	uint8_t kbd_leds;
	uint8_t kbd_typematic;
	uint8_t kbd_pending_cmd; /* keyboard command awaiting its parameter, or 0 */
	uint8_t kbd_last;	 /* last byte sent, for 0xfe (resend) */
	bool kbd_break;		 /* set-1 conversion saw 0xf0 */

	int kbd_level, aux_level; /* last levels driven, -1 before the first */
};

/* Plain snapshot of a controller's and keyboard's state (i8042_save/_load). */
#define I8042_STATE_VERSION 1
struct i8042_state {
	uint32_t version;
	uint8_t ram[32];
	uint8_t sys_flag, last_was_cmd, outport, pending_cmd;
	uint8_t obf, obuf, obuf_aux, obuf_ctrl, obuf_timeout, held, held_byte, xlate_break;
	uint8_t kbd_scanning, kbd_set, kbd_leds, kbd_typematic, kbd_pending_cmd, kbd_last;
	uint8_t kbd_break;
	uint8_t kbd_count;
	uint8_t kbd_queue[I8042_KBD_BUFFER]; /* oldest byte first */
};

/* Bus callbacks for the data port (0x60) and command/status port (0x64). */
extern const struct bus_device_ops i8042_data_bus_ops;
extern const struct bus_device_ops i8042_cmd_bus_ops;

/*
 * i8042_init - initialize k in its power-on state. kbd_irq and aux_irq are
 * the IRQ 1 and IRQ 12 lines; reset is called (with opaque) when the guest
 * pulses the reset line (0xfe or 0xf0-0xfe with bit 0 clear on port 0x64,
 * or an output-port write via 0xd1 that clears bit 0). reset may be NULL.
 */
void i8042_init(struct i8042 *k, struct irq_line kbd_irq, struct irq_line aux_irq,
		i8042_reset_fn reset, void *opaque);

/* i8042_destroy - release k's resources (its mutex). */
void i8042_destroy(struct i8042 *k);

/* i8042_reset - return controller and keyboard to the power-on state. */
void i8042_reset(struct i8042 *k);

/* i8042_get_stats - copy k's counters (takes its lock). */
void i8042_get_stats(struct i8042 *k, struct i8042_stats *out);

/* i8042_save - copy the controller's and keyboard's state into *st. */
void i8042_save(struct i8042 *k, struct i8042_state *st);

/*
 * i8042_load - replace the state with *st and drive both interrupt lines
 * to match. Returns 0, or -EINVAL for a wrong version or an inconsistent
 * field (state unchanged).
 */
int i8042_load(struct i8042 *k, const struct i8042_state *st);

/*
 * i8042_inject_scancodes - the keyboard sends n set-2 scancode bytes (make
 * codes, 0xe0 prefixes, 0xf0 break prefixes), as if keys were pressed.
 * They are dropped while the guest has disabled scanning (0xf5). The
 * keyboard converts them to set 1 when the guest selected set 1 (0xf0
 * 0x01); the controller translates them to set 1 when its command byte's
 * translation bit is set. Returns how many bytes were taken; the rest did
 * not fit the keyboard's buffer and are dropped (a full keyboard drops
 * keys).
 */
size_t i8042_inject_scancodes(struct i8042 *k, const uint8_t *codes, size_t n);

/*
 * i8042_send_ctrl_alt_del - press and release Ctrl-Alt-Del (set-2 codes
 * 14 11 e0 71, e0 f0 71 f0 11 f0 14, which the guest reads as set 1
 * 1d 38 e0 53 e0 d3 b8 9d when translation is on). All or nothing:
 * returns false, queuing nothing, when the keyboard's buffer lacks room
 * or scanning is disabled.
 */
bool i8042_send_ctrl_alt_del(struct i8042 *k);

#endif
