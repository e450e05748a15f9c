/* SPDX-License-Identifier: MIT */
/*
 * ACPI fixed hardware: the PM1a event block (PM1_STS and PM1_EN, 16 bits
 * each, at LAYOUT_PORT_PM1A_EVT) and the PM1a control block (PM1_CNT, 16
 * bits, at LAYOUT_PORT_PM1A_CNT), with a power button and S5 (soft off).
 *
 * The VMM registers acpi_pm_evt_bus_ops for 4 ports at LAYOUT_PORT_PM1A_EVT
 * and acpi_pm_cnt_bus_ops for 2 ports at LAYOUT_PORT_PM1A_CNT, both with
 * the same struct acpi_pm, and wires the SCI (GSI 9, level-triggered,
 * active high).
 *
 * Model choices (what a guest can observe):
 *  - PM1_STS: PWRBTN_STS (bit 8) is the only status bit that ever sets;
 *    status bits are write-1-to-clear. PM1_EN keeps the enable bits ACPI
 *    defines (TMR, GBL, PWRBTN, SLPBTN, RTC, PCIEXP_WAKE_DIS); others read 0.
 *  - The SCI is asserted while any status bit is set with its enable bit
 *    (so: PWRBTN_STS && PWRBTN_EN).
 *  - PM1_CNT: SCI_EN (bit 0) always reads 1 (the machine is always in ACPI
 *    mode; the FADT has no SMI command port); BM_RLD (bit 1) and SLP_TYP
 *    (bits 10-12) read back as written; GBL_RLS (bit 2) and SLP_EN
 *    (bit 13) are write-only and read 0. Writing SLP_EN with SLP_TYP ==
 *    LAYOUT_SLP_TYP_S5 calls the poweroff callback; any other sleep type is
 *    a guest error and ignored (no S1-S4).
 *  - Any access size the bus allows works: each byte of the 16-bit
 *    registers is accessible on its own, a 2-byte access reads or writes a
 *    whole register, a 4-byte access at PM1a_EVT covers PM1_STS (low half)
 *    and PM1_EN (high half).
 *
 * Locking: one mutex, taken by the bus callbacks (vCPU threads) and
 * acpi_pm_press_power_button() (any thread, e.g. one that waits for
 * signals; not callable from a signal handler itself). The irq_line
 * callback is called with the mutex held and must not call back into the
 * device; poweroff is called without it.
 */
#ifndef HEARTH_DEVICES_LEGACY_ACPI_PM_H
#define HEARTH_DEVICES_LEGACY_ACPI_PM_H

#include <pthread.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/irq.h"

#define ACPI_PM1_EVT_LEN 4
#define ACPI_PM1_CNT_LEN 2

#define ACPI_PM1_STS_PWRBTN 0x0100
#define ACPI_PM1_EN_PWRBTN  0x0100
#define ACPI_PM1_CNT_SCI_EN 0x0001

/* Called when the guest enters S5 (soft off). */
typedef void (*acpi_pm_poweroff_fn)(void *opaque);

struct acpi_pm {
	pthread_mutex_t lock;
	struct irq_line sci;
	acpi_pm_poweroff_fn poweroff;
	void *opaque;

	uint16_t sts;
	uint16_t en;
	uint16_t cnt;  /* readable PM1_CNT bits */
	int sci_level; /* last level driven, -1 before the first */
};

/* Plain snapshot of the registers (acpi_pm_save/_load). */
#define ACPI_PM_STATE_VERSION 1
struct acpi_pm_state {
	uint32_t version;
	uint16_t sts, en, cnt;
};

/* Bus callbacks for the PM1a event block (4 ports) and control block (2). */
extern const struct bus_device_ops acpi_pm_evt_bus_ops;
extern const struct bus_device_ops acpi_pm_cnt_bus_ops;

/*
 * acpi_pm_init - initialize pm with no status set and nothing enabled.
 * sci is the SCI line; poweroff (may be NULL) is called with opaque when
 * the guest enters S5. Cannot fail.
 */
void acpi_pm_init(struct acpi_pm *pm, struct irq_line sci, acpi_pm_poweroff_fn poweroff,
		  void *opaque);

/* acpi_pm_destroy - release pm's resources (its mutex). */
void acpi_pm_destroy(struct acpi_pm *pm);

/* acpi_pm_reset - back to the power-on state (machine reset); lowers the SCI. */
void acpi_pm_reset(struct acpi_pm *pm);

/*
 * acpi_pm_press_power_button - a press of the power button: sets
 * PWRBTN_STS, and asserts the SCI if the guest enabled PWRBTN_EN (now or
 * later, until it clears the status). Thread-safe.
 */
void acpi_pm_press_power_button(struct acpi_pm *pm);

/* acpi_pm_save - copy the registers into *st. */
void acpi_pm_save(struct acpi_pm *pm, struct acpi_pm_state *st);

/*
 * acpi_pm_load - replace the registers with *st and drive the SCI to
 * match. Returns 0, or -EINVAL for a wrong version or undefined bits.
 */
int acpi_pm_load(struct acpi_pm *pm, const struct acpi_pm_state *st);

#endif
