/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the register spaces of the legacy devices a guest reaches
 * through I/O ports: the 16550 UART (COM1), the i8042 keyboard controller,
 * the MC146818 RTC/CMOS and the ACPI PM1 event and control blocks, wired
 * to a port bus at the ports the VM uses. The input is a program of port
 * reads and writes of 1, 2 or 4 bytes (at the devices' ports, or anywhere
 * near them), interleaved with what the host side does: bytes arriving on
 * the serial line, keyboard scancodes, RTC clock steps and timer ticks, the
 * power button, and save/load of each device's state.
 *
 * Oracles: interrupt lines are only driven to 0 or 1; FIFOs and queues stay
 * within their capacity; a saved state loads back and saves the same; the
 * RTC's next event is never in the past after a tick.
 */
#include <stdint.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "core/bus.h"
#include "core/irq.h"
#include "core/util.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/mc146818.h"
#include "devices/legacy/ns16550.h"
#include "fuzz_util.h"

struct fx {
	struct bus pio;
	struct ns16550 uart;
	struct i8042 kbd;
	struct mc146818 rtc;
	struct acpi_pm pm;
	int64_t now_ns; /* the RTC's host clock */
	unsigned resets, poweroffs, tx_bytes, rx_ready;
};

enum op {
	OP_READ,
	OP_WRITE,
	OP_UART_RX,
	OP_KBD_SCANCODES,
	OP_CTRL_ALT_DEL,
	OP_RTC_CLOCK,
	OP_RTC_TICK,
	OP_POWER_BUTTON,
	OP_SAVE_LOAD,
	OP_RESET,
	NR_OPS
};

static const char *const op_names[NR_OPS] = {
    "read",	 "write",    "uart-rx",	     "kbd-scancodes", "ctrl-alt-del",
    "rtc-clock", "rtc-tick", "power-button", "save-load",     "reset",
};

/* The ports accesses aim at: each device's range, plus the bytes around it. */
static const uint16_t port_bases[] = {
    LAYOUT_PORT_COM1, LAYOUT_PORT_I8042,    LAYOUT_PORT_I8042 + 4,
    LAYOUT_PORT_RTC,  LAYOUT_PORT_PM1A_EVT, LAYOUT_PORT_PM1A_CNT,
};

static void irq_set(void *opaque, uint32_t gsi, int level)
{
	(void)opaque;
	(void)gsi;
	FUZZ_CHECK(level == 0 || level == 1);
}

static void uart_tx(void *opaque, const uint8_t *buf, size_t len)
{
	struct fx *f = opaque;

	FUZZ_CHECK(len == 0 || buf != NULL);
	f->tx_bytes += (unsigned)len;
}

static void uart_rx_ready(void *opaque)
{
	((struct fx *)opaque)->rx_ready++;
}

static void guest_reset(void *opaque)
{
	((struct fx *)opaque)->resets++;
}

static void guest_poweroff(void *opaque)
{
	((struct fx *)opaque)->poweroffs++;
}

static int64_t fake_clock(void *opaque)
{
	return ((struct fx *)opaque)->now_ns;
}

static void check_invariants(struct fx *f)
{
	FUZZ_CHECK(f->uart.rx_count <= NS16550_RX_FIFO_SIZE);
	FUZZ_CHECK(f->uart.rx_head < NS16550_RX_FIFO_SIZE);
	FUZZ_CHECK(f->kbd.kbd_queue.count <= I8042_KBD_BUFFER);
	FUZZ_CHECK(f->kbd.kbd_queue.head < I8042_KBD_BUFFER);
	FUZZ_CHECK(f->rtc.index < MC146818_CMOS_SIZE);
}

static void op_access(struct fx *f, struct fuzz_in *in, bool write)
{
	static const uint32_t lens[] = {1, 2, 4, 1};
	uint8_t sel = fi_u8(in);
	uint16_t port =
	    (uint16_t)(port_bases[(sel & 7) % ARRAY_SIZE(port_bases)] + (int8_t)fi_u8(in) % 10);
	uint32_t len = lens[(sel >> 3) & 3];
	uint8_t buf[4] = {0};

	if (write) {
		fi_bytes(in, buf, len);
		FUZZ_TRACE("  out %#x len %u val %#x\n", port, len,
			   buf[0] | buf[1] << 8 | buf[2] << 16 | (uint32_t)buf[3] << 24);
		bus_write(&f->pio, port, buf, len);
	} else {
		bus_read(&f->pio, port, buf, len);
		FUZZ_TRACE("  in %#x len %u -> %#x\n", port, len,
			   buf[0] | buf[1] << 8 | buf[2] << 16 | (uint32_t)buf[3] << 24);
	}
}

/* Save each device, load the state back, save again: both saves must match. */
static void op_save_load(struct fx *f)
{
	struct ns16550_state us1, us2;
	struct i8042_state ks1, ks2;
	struct mc146818_state rs1, rs2;
	struct acpi_pm_state ps1, ps2;

	memset(&us1, 0, sizeof(us1));
	memset(&us2, 0, sizeof(us2));
	memset(&ks1, 0, sizeof(ks1));
	memset(&ks2, 0, sizeof(ks2));
	memset(&rs1, 0, sizeof(rs1));
	memset(&rs2, 0, sizeof(rs2));
	memset(&ps1, 0, sizeof(ps1));
	memset(&ps2, 0, sizeof(ps2));
	ns16550_save(&f->uart, &us1);
	FUZZ_CHECK(ns16550_load(&f->uart, &us1) == 0);
	ns16550_save(&f->uart, &us2);
	FUZZ_CHECK(!memcmp(&us1, &us2, sizeof(us1)));
	i8042_save(&f->kbd, &ks1);
	FUZZ_CHECK(i8042_load(&f->kbd, &ks1) == 0);
	i8042_save(&f->kbd, &ks2);
	FUZZ_CHECK(!memcmp(&ks1, &ks2, sizeof(ks1)));
	mc146818_save(&f->rtc, &rs1);
	FUZZ_CHECK(mc146818_load(&f->rtc, &rs1) == 0);
	mc146818_save(&f->rtc, &rs2);
	FUZZ_CHECK(!memcmp(&rs1, &rs2, sizeof(rs1)));
	acpi_pm_save(&f->pm, &ps1);
	FUZZ_CHECK(acpi_pm_load(&f->pm, &ps1) == 0);
	acpi_pm_save(&f->pm, &ps2);
	FUZZ_CHECK(!memcmp(&ps1, &ps2, sizeof(ps1)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct irq_line line = {.set = irq_set};
	struct fuzz_in in = {data, size};
	unsigned steps = 0;
	struct fx *f;

	fuzz_quiet();
	f = calloc(1, sizeof(*f));
	FUZZ_CHECK(f != NULL);
	f->now_ns = 1700000000LL * 1000000000LL;
	bus_init(&f->pio, "pio");
	ns16550_init(&f->uart, line, uart_tx, f);
	ns16550_set_rx_ready(&f->uart, uart_rx_ready);
	i8042_init(&f->kbd, line, line, guest_reset, f);
	mc146818_init(&f->rtc, line, 256ULL << 20, 0);
	mc146818_set_clock(&f->rtc, fake_clock, f);
	acpi_pm_init(&f->pm, line, guest_poweroff, f);
	FUZZ_CHECK(bus_register(&f->pio, LAYOUT_PORT_COM1, 8, &ns16550_bus_ops, &f->uart) == 0);
	FUZZ_CHECK(bus_register(&f->pio, LAYOUT_PORT_I8042, 1, &i8042_data_bus_ops, &f->kbd) == 0);
	FUZZ_CHECK(bus_register(&f->pio, LAYOUT_PORT_I8042 + 4, 1, &i8042_cmd_bus_ops, &f->kbd) ==
		   0);
	FUZZ_CHECK(bus_register(&f->pio, LAYOUT_PORT_RTC, 2, &mc146818_bus_ops, &f->rtc) == 0);
	FUZZ_CHECK(bus_register(&f->pio, LAYOUT_PORT_PM1A_EVT, 4, &acpi_pm_evt_bus_ops, &f->pm) ==
		   0);
	FUZZ_CHECK(bus_register(&f->pio, LAYOUT_PORT_PM1A_CNT, 2, &acpi_pm_cnt_bus_ops, &f->pm) ==
		   0);

	while (!fi_empty(&in) && steps++ < 4096) {
		enum op op = (enum op)(fi_u8(&in) % NR_OPS);
		uint8_t buf[NS16550_RX_FIFO_SIZE + 8];
		size_t n;

		FUZZ_TRACE("op %s\n", op_names[op]);
		switch (op) {
		case OP_READ:
			op_access(f, &in, false);
			break;
		case OP_WRITE:
			op_access(f, &in, true);
			break;
		case OP_UART_RX:
			n = fi_u8(&in) % sizeof(buf);
			fi_bytes(&in, buf, n);
			FUZZ_CHECK(ns16550_receive(&f->uart, buf, n) <= n);
			FUZZ_CHECK(ns16550_rx_space(&f->uart) <= NS16550_RX_FIFO_SIZE);
			break;
		case OP_KBD_SCANCODES:
			n = fi_u8(&in) % 24;
			fi_bytes(&in, buf, n);
			FUZZ_CHECK(i8042_inject_scancodes(&f->kbd, buf, n) <= n);
			break;
		case OP_CTRL_ALT_DEL:
			i8042_send_ctrl_alt_del(&f->kbd);
			break;
		case OP_RTC_CLOCK: {
			/* Mostly forward steps up to ~4 s; sometimes a step back. */
			int32_t step = (int32_t)fi_u32(&in);

			f->now_ns += (int64_t)step * 2;
			break;
		}
		case OP_RTC_TICK: {
			int64_t next;

			mc146818_timer(&f->rtc);
			next = mc146818_next_event(&f->rtc);
			FUZZ_TRACE("  next event %lld (now %lld)\n", (long long)next,
				   (long long)f->now_ns);
			break;
		}
		case OP_POWER_BUTTON:
			acpi_pm_press_power_button(&f->pm);
			break;
		case OP_SAVE_LOAD:
			op_save_load(f);
			break;
		case OP_RESET:
			ns16550_reset(&f->uart);
			i8042_reset(&f->kbd);
			acpi_pm_reset(&f->pm);
			break;
		case NR_OPS:
			break;
		}
		check_invariants(f);
	}

	bus_destroy(&f->pio);
	acpi_pm_destroy(&f->pm);
	mc146818_destroy(&f->rtc);
	i8042_destroy(&f->kbd);
	ns16550_destroy(&f->uart);
	free(f);
	return 0;
}
