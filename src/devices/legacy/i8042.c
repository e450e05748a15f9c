/* SPDX-License-Identifier: MIT */
/* Intel 8042 PS/2 controller model. See i8042.h for what the guest sees. */
#include "devices/legacy/i8042.h"

#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

/* Status register (port 0x64 read). */
#define STS_OBF	    0x01
#define STS_SYS	    0x04
#define STS_CMD	    0x08
#define STS_UNLOCK  0x10 /* keyboard not inhibited by the key lock */
#define STS_AUXDATA 0x20
#define STS_TIMEOUT 0x40

/* Command byte (controller RAM byte 0). */
#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_SYS	   0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE  0x40
#define CTR_INIT   (CTR_KBDINT | CTR_SYS | CTR_XLATE)

/* Output port. */
#define OUT_RESET 0x01 /* 0 holds the CPU in reset */
#define OUT_A20	  0x02
#define OUT_INIT  (OUT_RESET | OUT_A20)

/* Controller commands. */
#define CMD_READ_RAM	 0x20 /* 0x20-0x3f */
#define CMD_WRITE_RAM	 0x60 /* 0x60-0x7f, one data byte */
#define CMD_AUX_DISABLE	 0xa7
#define CMD_AUX_ENABLE	 0xa8
#define CMD_AUX_TEST	 0xa9
#define CMD_SELF_TEST	 0xaa
#define CMD_KBD_TEST	 0xab
#define CMD_KBD_DISABLE	 0xad
#define CMD_KBD_ENABLE	 0xae
#define CMD_READ_INPUT	 0xc0
#define CMD_READ_OUTP	 0xd0
#define CMD_WRITE_OUTP	 0xd1
#define CMD_WRITE_KBD_OB 0xd2
#define CMD_WRITE_AUX_OB 0xd3
#define CMD_WRITE_AUX	 0xd4
#define CMD_A20_OFF	 0xdd
#define CMD_A20_ON	 0xdf
#define CMD_READ_TEST	 0xe0
#define CMD_PULSE	 0xf0 /* 0xf0-0xff: pulse output bits whose command bit is 0 */

/* Keyboard commands and replies. */
#define KBD_SET_LEDS  0xed
#define KBD_ECHO      0xee
#define KBD_SCANSET   0xf0
#define KBD_GET_ID    0xf2
#define KBD_TYPEMATIC 0xf3
#define KBD_ENABLE    0xf4
#define KBD_DISABLE   0xf5
#define KBD_DEFAULTS  0xf6
#define KBD_RESEND    0xfe
#define KBD_RESET     0xff
#define KBD_ACK	      0xfa
#define KBD_BAT_OK    0xaa
#define KBD_NAK	      0xfe

#define TYPEMATIC_DEFAULT 0x2b /* 10.9 characters/s after 500 ms */

/*
 * The 8042's translation of keyboard bytes from set 2 to set 1, for bytes
 * below 0x80; bytes from 0x80 up pass unchanged except 0x83 (F7), and an
 * 0xf0 prefix sets bit 7 of the byte after it.
 */
static const uint8_t set2_to_set1[128] = {
    0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
    0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
    0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
    0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
    0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
    0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
    0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
    0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
};

/*
 * Translate one byte; returns false when it produced no output (an 0xf0
 * prefix, remembered in *brk).
 */
static bool translate(uint8_t in, bool *brk, uint8_t *out)
{
	uint8_t v;

	if (in == 0xf0) {
		*brk = true;
		return false;
	}
	if (in < 0x80)
		v = set2_to_set1[in];
	else if (in == 0x83)
		v = 0x41;
	else
		v = in;
	if (*brk) {
		v |= 0x80;
		*brk = false;
	}
	*out = v;
	return true;
}

#define CTR(k) ((k)->ram[0])

static void queue_clear(struct i8042_queue *q)
{
	q->head = 0;
	q->count = 0;
}

static bool queue_pop(struct i8042_queue *q, uint8_t *byte)
{
	if (!q->count)
		return false;
	*byte = q->buf[q->head];
	q->head = (q->head + 1) % I8042_KBD_BUFFER;
	q->count--;
	return true;
}

/* Keyboard bytes held outside the controller's output buffer and inside it. */
static unsigned kbd_in_flight(const struct i8042 *k)
{
	unsigned n = k->kbd_queue.count + (k->held ? 1 : 0);

	if (k->obf && !k->obuf_aux && !k->obuf_ctrl)
		n++;
	return n;
}

/* The keyboard sends one byte towards the controller. */
static bool kbd_send(struct i8042 *k, uint8_t byte)
{
	struct i8042_queue *q = &k->kbd_queue;

	if (kbd_in_flight(k) >= I8042_KBD_BUFFER)
		return false;
	q->buf[(q->head + q->count) % I8042_KBD_BUFFER] = byte;
	q->count++;
	k->kbd_last = byte;
	return true;
}

static void update_irq(struct i8042 *k)
{
	int kbd = k->obf && !k->obuf_aux && (CTR(k) & CTR_KBDINT);
	int aux = k->obf && k->obuf_aux && (CTR(k) & CTR_AUXINT);

	if (kbd != k->kbd_level) {
		k->kbd_level = kbd;
		irq_line_set(&k->kbd_irq, kbd);
	}
	if (aux != k->aux_level) {
		k->aux_level = aux;
		irq_line_set(&k->aux_irq, aux);
	}
}

static void obuf_fill(struct i8042 *k, uint8_t byte, bool aux, bool ctrl, bool timeout)
{
	k->obf = true;
	k->obuf = byte;
	k->obuf_aux = aux;
	k->obuf_ctrl = ctrl;
	k->obuf_timeout = timeout;
}

/* Move the next keyboard byte into an empty output buffer. */
static void obuf_refill(struct i8042 *k)
{
	uint8_t byte, out;

	if (k->obf || (CTR(k) & CTR_KBDDIS))
		return;
	if (k->held) {
		k->held = false;
		obuf_fill(k, k->held_byte, false, false, false);
		return;
	}
	while (queue_pop(&k->kbd_queue, &byte)) {
		if (!(CTR(k) & CTR_XLATE)) {
			obuf_fill(k, byte, false, false, false);
			return;
		}
		if (translate(byte, &k->xlate_break, &out)) {
			obuf_fill(k, out, false, false, false);
			return;
		}
	}
}

/*
 * The controller itself puts a byte in the output buffer. A keyboard byte
 * waiting there is kept and delivered next; an unread controller byte is
 * overwritten, as on real hardware.
 */
static void ctrl_output(struct i8042 *k, uint8_t byte, bool aux, bool timeout)
{
	if (k->obf && !k->obuf_ctrl && !k->obuf_aux && !k->held) {
		k->held = true;
		k->held_byte = k->obuf;
	}
	obuf_fill(k, byte, aux, true, timeout);
}

static void kbd_defaults(struct i8042 *k)
{
	k->kbd_typematic = TYPEMATIC_DEFAULT;
	k->kbd_set = 2;
	k->kbd_break = false;
}

/* The guest sends a byte to the keyboard (port 0x60 without a command). */
static void kbd_write(struct i8042 *k, uint8_t val)
{
	uint8_t cmd = k->kbd_pending_cmd;

	k->kbd_pending_cmd = 0;
	switch (cmd) {
	case KBD_SET_LEDS:
		if (val < 0x08) {
			k->kbd_leds = val;
			kbd_send(k, KBD_ACK);
			return;
		}
		break; /* not a parameter: a new command */
	case KBD_TYPEMATIC:
		if (val < 0x80) {
			k->kbd_typematic = val;
			kbd_send(k, KBD_ACK);
			return;
		}
		break;
	case KBD_SCANSET:
		if (val == 0) {
			kbd_send(k, KBD_ACK);
			kbd_send(k, k->kbd_set);
			return;
		}
		if (val == 1 || val == 2) {
			k->kbd_set = val;
			k->kbd_break = false;
			kbd_send(k, KBD_ACK);
			return;
		}
		if (val < KBD_SET_LEDS) {
			kbd_send(k, KBD_NAK); /* set 3 and others: not supported */
			return;
		}
		break;
	default:
		break;
	}

	if (val == KBD_RESEND) {
		kbd_send(k, k->kbd_last);
		return;
	}
	/* A keyboard drops what it had not sent yet when given a command. */
	queue_clear(&k->kbd_queue);
	k->xlate_break = false;
	switch (val) {
	case KBD_SET_LEDS:
	case KBD_TYPEMATIC:
	case KBD_SCANSET:
		k->kbd_pending_cmd = val;
		kbd_send(k, KBD_ACK);
		break;
	case KBD_ECHO:
		kbd_send(k, KBD_ECHO);
		break;
	case KBD_GET_ID:
		kbd_send(k, KBD_ACK);
		kbd_send(k, 0xab);
		kbd_send(k, 0x83);
		break;
	case KBD_ENABLE:
		k->kbd_scanning = true;
		kbd_send(k, KBD_ACK);
		break;
	case KBD_DISABLE:
		kbd_defaults(k);
		k->kbd_scanning = false;
		kbd_send(k, KBD_ACK);
		break;
	case KBD_DEFAULTS:
		kbd_defaults(k);
		k->kbd_scanning = true;
		kbd_send(k, KBD_ACK);
		break;
	case 0xf7: /* set-3 key type commands: acknowledged, no effect */
	case 0xf8:
	case 0xf9:
	case 0xfa:
	case 0xfb:
	case 0xfc:
	case 0xfd:
		kbd_send(k, KBD_ACK);
		break;
	case KBD_RESET:
		kbd_defaults(k);
		k->kbd_leds = 0;
		k->kbd_scanning = true;
		kbd_send(k, KBD_ACK);
		kbd_send(k, KBD_BAT_OK);
		break;
	default:
		log_guest_error("i8042: unknown keyboard command %#x", val);
		kbd_send(k, KBD_NAK);
		break;
	}
}

/* Returns true when the reset line is to be pulsed. */
static bool ctrl_data(struct i8042 *k, uint8_t cmd, uint8_t val)
{
	switch (cmd) {
	case CMD_WRITE_OUTP:
		k->outport = val | OUT_RESET;
		return !(val & OUT_RESET);
	case CMD_WRITE_KBD_OB:
		ctrl_output(k, val, false, false);
		return false;
	case CMD_WRITE_AUX_OB:
		ctrl_output(k, val, true, false);
		return false;
	case CMD_WRITE_AUX:
		/* No device on the AUX port: the transfer times out. */
		CTR(k) &= ~CTR_AUXDIS;
		ctrl_output(k, KBD_NAK, true, true);
		return false;
	default:
		break;
	}
	if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + 0x20) {
		k->ram[cmd - CMD_WRITE_RAM] = val;
		if (cmd == CMD_WRITE_RAM)
			k->sys_flag = val & CTR_SYS;
	}
	return false;
}

static bool param_cmd(uint8_t cmd)
{
	return (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + 0x20) || cmd == CMD_WRITE_OUTP ||
	       cmd == CMD_WRITE_KBD_OB || cmd == CMD_WRITE_AUX_OB || cmd == CMD_WRITE_AUX;
}

/* A write to port 0x64. Returns true when the reset line is to be pulsed. */
static bool ctrl_command(struct i8042 *k, uint8_t cmd)
{
	k->pending_cmd = 0;
	if (cmd >= CMD_READ_RAM && cmd < CMD_READ_RAM + 0x20) {
		ctrl_output(k, k->ram[cmd - CMD_READ_RAM], false, false);
		return false;
	}
	if (param_cmd(cmd)) {
		k->pending_cmd = cmd;
		return false;
	}
	if (cmd >= CMD_PULSE)
		return !(cmd & OUT_RESET);

	switch (cmd) {
	case CMD_AUX_DISABLE:
		CTR(k) |= CTR_AUXDIS;
		break;
	case CMD_AUX_ENABLE:
		CTR(k) &= ~CTR_AUXDIS;
		break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		ctrl_output(k, 0x00, false, false); /* interface OK */
		break;
	case CMD_SELF_TEST:
		k->sys_flag = true;
		ctrl_output(k, 0x55, false, false);
		break;
	case CMD_KBD_DISABLE:
		CTR(k) |= CTR_KBDDIS;
		break;
	case CMD_KBD_ENABLE:
		CTR(k) &= ~CTR_KBDDIS;
		break;
	case CMD_READ_INPUT:
		ctrl_output(k, 0x80, false, false); /* keyboard not inhibited */
		break;
	case CMD_READ_OUTP:
		ctrl_output(k, k->outport, false, false);
		break;
	case CMD_READ_TEST:
		ctrl_output(k, 0x00, false, false);
		break;
	case CMD_A20_OFF:
	case CMD_A20_ON:
		break; /* A20 is always on */
	default:
		log_guest_error("i8042: unknown controller command %#x", cmd);
		break;
	}
	return false;
}

static uint8_t read_status(const struct i8042 *k)
{
	uint8_t sts = STS_UNLOCK;

	if (k->obf)
		sts |= STS_OBF;
	if (k->obf && k->obuf_aux)
		sts |= STS_AUXDATA;
	if (k->obf && k->obuf_timeout)
		sts |= STS_TIMEOUT;
	if (k->sys_flag)
		sts |= STS_SYS;
	if (k->last_was_cmd)
		sts |= STS_CMD;
	return sts;
}

static uint8_t read_data(struct i8042 *k)
{
	uint8_t val = k->obuf;

	if (k->obf) {
		k->obf = false;
		k->obuf_timeout = false;
		/* Drop the line before the next byte so an edge marks each byte. */
		update_irq(k);
		obuf_refill(k);
	}
	return val;
}

static void i8042_data_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct i8042 *k = opaque;

	if (!len)
		return;
	memset(data, 0xff, len);
	if (offset)
		return;
	pthread_mutex_lock(&k->lock);
	k->stats.data_reads++;
	data[0] = read_data(k);
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

static void i8042_data_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct i8042 *k = opaque;
	bool pulse = false;
	uint8_t cmd;

	if (!len || offset)
		return;
	pthread_mutex_lock(&k->lock);
	k->stats.data_writes++;
	k->last_was_cmd = false;
	cmd = k->pending_cmd;
	k->pending_cmd = 0;
	if (cmd) {
		pulse = ctrl_data(k, cmd, data[0]);
	} else {
		/* Sending to the keyboard re-enables its interface. */
		CTR(k) &= ~CTR_KBDDIS;
		kbd_write(k, data[0]);
	}
	obuf_refill(k);
	update_irq(k);
	if (pulse)
		k->stats.resets++;
	pthread_mutex_unlock(&k->lock);
	if (pulse && k->reset)
		k->reset(k->opaque);
}

static void i8042_cmd_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct i8042 *k = opaque;

	if (!len)
		return;
	memset(data, 0xff, len);
	if (offset)
		return;
	pthread_mutex_lock(&k->lock);
	k->stats.cmd_reads++;
	data[0] = read_status(k);
	pthread_mutex_unlock(&k->lock);
}

static void i8042_cmd_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct i8042 *k = opaque;
	bool pulse;

	if (!len || offset)
		return;
	pthread_mutex_lock(&k->lock);
	k->stats.cmd_writes++;
	k->last_was_cmd = true;
	pulse = ctrl_command(k, data[0]);
	obuf_refill(k);
	update_irq(k);
	if (pulse)
		k->stats.resets++;
	pthread_mutex_unlock(&k->lock);
	if (pulse && k->reset)
		k->reset(k->opaque);
}

const struct bus_device_ops i8042_data_bus_ops = {
    .name = "i8042-data",
    .read = i8042_data_read,
    .write = i8042_data_write,
};

const struct bus_device_ops i8042_cmd_bus_ops = {
    .name = "i8042-cmd",
    .read = i8042_cmd_read,
    .write = i8042_cmd_write,
};

static void power_on_state(struct i8042 *k)
{
	memset(k->ram, 0, sizeof(k->ram));
	CTR(k) = CTR_INIT;
	k->sys_flag = true;
	k->last_was_cmd = false;
	k->outport = OUT_INIT;
	k->pending_cmd = 0;
	k->obf = false;
	k->obuf = 0;
	k->obuf_aux = false;
	k->obuf_ctrl = false;
	k->obuf_timeout = false;
	k->held = false;
	k->xlate_break = false;
	queue_clear(&k->kbd_queue);
	kbd_defaults(k);
	k->kbd_scanning = true;
	k->kbd_leds = 0;
	k->kbd_pending_cmd = 0;
	k->kbd_last = 0;
}

void i8042_init(struct i8042 *k, struct irq_line kbd_irq, struct irq_line aux_irq,
		i8042_reset_fn reset, void *opaque)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->kbd_irq = kbd_irq;
	k->aux_irq = aux_irq;
	k->reset = reset;
	k->opaque = opaque;
	k->kbd_level = -1;
	k->aux_level = -1;
	power_on_state(k);
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

void i8042_reset(struct i8042 *k)
{
	pthread_mutex_lock(&k->lock);
	power_on_state(k);
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

/* Queue set-2 bytes from the keyboard; returns how many were taken. */
static size_t inject_locked(struct i8042 *k, const uint8_t *codes, size_t n)
{
	size_t i;
	uint8_t out;
	bool brk;

	for (i = 0; i < n && k->kbd_scanning; i++) {
		if (k->kbd_set != 1) {
			if (!kbd_send(k, codes[i]))
				break;
			continue;
		}
		brk = k->kbd_break;
		if (!translate(codes[i], &brk, &out)) {
			k->kbd_break = true; /* 0xf0: folded into the next byte */
			continue;
		}
		if (!kbd_send(k, out))
			break;
		k->kbd_break = brk;
	}
	k->stats.keys_injected += i;
	obuf_refill(k);
	update_irq(k);
	return i;
}

size_t i8042_inject_scancodes(struct i8042 *k, const uint8_t *codes, size_t n)
{
	size_t done;

	pthread_mutex_lock(&k->lock);
	done = inject_locked(k, codes, n);
	pthread_mutex_unlock(&k->lock);
	return done;
}

bool i8042_send_ctrl_alt_del(struct i8042 *k)
{
	static const uint8_t seq[] = {
	    0x14, 0x11, 0xe0, 0x71,		      /* press Ctrl, Alt, Delete */
	    0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14, /* release them */
	};
	bool ok = false;

	pthread_mutex_lock(&k->lock);
	/* All or nothing: a partial sequence would leave keys held down. */
	if (k->kbd_scanning && kbd_in_flight(k) + sizeof(seq) <= I8042_KBD_BUFFER)
		ok = inject_locked(k, seq, sizeof(seq)) == sizeof(seq);
	pthread_mutex_unlock(&k->lock);
	return ok;
}

void i8042_get_stats(struct i8042 *k, struct i8042_stats *out)
{
	pthread_mutex_lock(&k->lock);
	*out = k->stats;
	pthread_mutex_unlock(&k->lock);
}

void i8042_save(struct i8042 *k, struct i8042_state *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&k->lock);
	st->version = I8042_STATE_VERSION;
	memcpy(st->ram, k->ram, sizeof(st->ram));
	st->sys_flag = k->sys_flag;
	st->last_was_cmd = k->last_was_cmd;
	st->outport = k->outport;
	st->pending_cmd = k->pending_cmd;
	st->obf = k->obf;
	st->obuf = k->obuf;
	st->obuf_aux = k->obuf_aux;
	st->obuf_ctrl = k->obuf_ctrl;
	st->obuf_timeout = k->obuf_timeout;
	st->held = k->held;
	st->held_byte = k->held_byte;
	st->xlate_break = k->xlate_break;
	st->kbd_scanning = k->kbd_scanning;
	st->kbd_set = k->kbd_set;
	st->kbd_leds = k->kbd_leds;
	st->kbd_typematic = k->kbd_typematic;
	st->kbd_pending_cmd = k->kbd_pending_cmd;
	st->kbd_last = k->kbd_last;
	st->kbd_break = k->kbd_break;
	st->kbd_count = (uint8_t)k->kbd_queue.count;
	for (unsigned i = 0; i < k->kbd_queue.count; i++)
		st->kbd_queue[i] = k->kbd_queue.buf[(k->kbd_queue.head + i) % I8042_KBD_BUFFER];
	pthread_mutex_unlock(&k->lock);
}

static bool state_valid(const struct i8042_state *st)
{
	unsigned in_flight = st->kbd_count + (st->held ? 1u : 0u);

	if (st->obf && !st->obuf_aux && !st->obuf_ctrl)
		in_flight++;
	if (st->version != I8042_STATE_VERSION || in_flight > I8042_KBD_BUFFER)
		return false;
	if (st->pending_cmd && !param_cmd(st->pending_cmd))
		return false;
	if (st->kbd_pending_cmd && st->kbd_pending_cmd != KBD_SET_LEDS &&
	    st->kbd_pending_cmd != KBD_TYPEMATIC && st->kbd_pending_cmd != KBD_SCANSET)
		return false;
	if (st->kbd_set != 1 && st->kbd_set != 2)
		return false;
	/* Flags are 0 or 1. */
	return (st->sys_flag | st->last_was_cmd | st->obf | st->obuf_aux | st->obuf_ctrl |
		st->obuf_timeout | st->held | st->xlate_break | st->kbd_scanning | st->kbd_break) <=
	       1;
}

int i8042_load(struct i8042 *k, const struct i8042_state *st)
{
	if (!state_valid(st))
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	memcpy(k->ram, st->ram, sizeof(k->ram));
	k->sys_flag = st->sys_flag;
	k->last_was_cmd = st->last_was_cmd;
	k->outport = st->outport;
	k->pending_cmd = st->pending_cmd;
	k->obf = st->obf;
	k->obuf = st->obuf;
	k->obuf_aux = st->obuf_aux;
	k->obuf_ctrl = st->obuf_ctrl;
	k->obuf_timeout = st->obuf_timeout;
	k->held = st->held;
	k->held_byte = st->held_byte;
	k->xlate_break = st->xlate_break;
	k->kbd_scanning = st->kbd_scanning;
	k->kbd_set = st->kbd_set;
	k->kbd_leds = st->kbd_leds;
	k->kbd_typematic = st->kbd_typematic;
	k->kbd_pending_cmd = st->kbd_pending_cmd;
	k->kbd_last = st->kbd_last;
	k->kbd_break = st->kbd_break;
	k->kbd_queue.head = 0;
	k->kbd_queue.count = st->kbd_count;
	memcpy(k->kbd_queue.buf, st->kbd_queue, st->kbd_count);
	obuf_refill(k);
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
	return 0;
}
