/* SPDX-License-Identifier: MIT */
/* ACPI PM1a event and control blocks. See acpi_pm.h for the guest's view. */
#include "devices/legacy/acpi_pm.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "core/log.h"

#define EN_MASK	 0x4721 /* TMR, GBL, PWRBTN, SLPBTN, RTC enables, PCIEXP_WAKE_DIS */
#define EN_SCI	 0x0721 /* enables that route a status bit to the SCI */
#define STS_MASK ACPI_PM1_STS_PWRBTN

#define CNT_BM_RLD    0x0002
#define CNT_SLP_TYP   0x1c00
#define CNT_SLP_SHIFT 10
#define CNT_SLP_EN    0x2000
#define CNT_STORED    (CNT_BM_RLD | CNT_SLP_TYP)

static void update_sci(struct acpi_pm *pm)
{
	int level = (pm->sts & pm->en & EN_SCI) != 0;

	if (level != pm->sci_level) {
		pm->sci_level = level;
		irq_line_set(&pm->sci, level);
	}
}

static uint8_t evt_byte(const struct acpi_pm *pm, unsigned off)
{
	uint16_t reg = off < 2 ? pm->sts : pm->en;

	return (uint8_t)(reg >> (8 * (off & 1)));
}

static void acpi_pm_evt_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;

	pthread_mutex_lock(&pm->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] =
		    offset + i < ACPI_PM1_EVT_LEN ? evt_byte(pm, (unsigned)(offset + i)) : 0xff;
	pthread_mutex_unlock(&pm->lock);
}

static void acpi_pm_evt_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;

	pthread_mutex_lock(&pm->lock);
	for (uint32_t i = 0; i < len && offset + i < ACPI_PM1_EVT_LEN; i++) {
		unsigned off = (unsigned)(offset + i);
		unsigned shift = 8 * (off & 1);
		uint16_t bits = (uint16_t)(data[i] << shift);

		if (off < 2) /* status: write 1 to clear */
			pm->sts &= (uint16_t)~bits;
		else
			pm->en = (uint16_t)((pm->en & ~(0xff << shift)) | (bits & EN_MASK));
	}
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

static void acpi_pm_cnt_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	uint16_t cnt;

	pthread_mutex_lock(&pm->lock);
	cnt = pm->cnt | ACPI_PM1_CNT_SCI_EN;
	pthread_mutex_unlock(&pm->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] =
		    offset + i < ACPI_PM1_CNT_LEN ? (uint8_t)(cnt >> (8 * (offset + i))) : 0xff;
}

static void acpi_pm_cnt_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	bool sleep = false, off = false;
	unsigned typ = 0;

	pthread_mutex_lock(&pm->lock);
	for (uint32_t i = 0; i < len && offset + i < ACPI_PM1_CNT_LEN; i++) {
		unsigned shift = 8 * (unsigned)(offset + i);
		uint16_t bits = (uint16_t)(data[i] << shift);

		pm->cnt = (uint16_t)((pm->cnt & ~(0xff << shift)) | (bits & CNT_STORED));
		if (bits & CNT_SLP_EN)
			sleep = true;
	}
	if (sleep) {
		typ = (pm->cnt & CNT_SLP_TYP) >> CNT_SLP_SHIFT;
		off = typ == LAYOUT_SLP_TYP_S5;
	}
	pthread_mutex_unlock(&pm->lock);
	if (sleep && !off)
		log_guest_error("acpi_pm: sleep type %u not supported, ignored", typ);
	if (off && pm->poweroff)
		pm->poweroff(pm->opaque);
}

const struct bus_device_ops acpi_pm_evt_bus_ops = {
    .name = "acpi-pm1a-evt",
    .read = acpi_pm_evt_read,
    .write = acpi_pm_evt_write,
};

const struct bus_device_ops acpi_pm_cnt_bus_ops = {
    .name = "acpi-pm1a-cnt",
    .read = acpi_pm_cnt_read,
    .write = acpi_pm_cnt_write,
};

void acpi_pm_init(struct acpi_pm *pm, struct irq_line sci, acpi_pm_poweroff_fn poweroff,
		  void *opaque)
{
	memset(pm, 0, sizeof(*pm));
	pthread_mutex_init(&pm->lock, NULL);
	pm->sci = sci;
	pm->poweroff = poweroff;
	pm->opaque = opaque;
	pm->sci_level = -1;
	update_sci(pm);
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	pthread_mutex_destroy(&pm->lock);
}

void acpi_pm_reset(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->sts = 0;
	pm->en = 0;
	pm->cnt = 0;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_press_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->sts |= ACPI_PM1_STS_PWRBTN;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_save(struct acpi_pm *pm, struct acpi_pm_state *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&pm->lock);
	st->version = ACPI_PM_STATE_VERSION;
	st->sts = pm->sts;
	st->en = pm->en;
	st->cnt = pm->cnt;
	pthread_mutex_unlock(&pm->lock);
}

int acpi_pm_load(struct acpi_pm *pm, const struct acpi_pm_state *st)
{
	if (st->version != ACPI_PM_STATE_VERSION || (st->sts & ~STS_MASK) || (st->en & ~EN_MASK) ||
	    (st->cnt & ~CNT_STORED))
		return -EINVAL;
	pthread_mutex_lock(&pm->lock);
	pm->sts = st->sts;
	pm->en = st->en;
	pm->cnt = st->cnt;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}
