/* SPDX-License-Identifier: MIT */
/* MC146818 RTC and CMOS memory model. See mc146818.h for the guest's view. */
#include "devices/legacy/mc146818.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"

#define REG_SEC	       0x00
#define REG_SEC_ALARM  0x01
#define REG_MIN	       0x02
#define REG_MIN_ALARM  0x03
#define REG_HOUR       0x04
#define REG_HOUR_ALARM 0x05
#define REG_WDAY       0x06
#define REG_MDAY       0x07
#define REG_MON	       0x08
#define REG_YEAR       0x09
#define REG_A	       0x0a
#define REG_B	       0x0b
#define REG_C	       0x0c
#define REG_D	       0x0d
#define REG_CENTURY    0x32

#define A_UIP	  0x80
#define A_RS_MASK 0x0f
#define A_INIT	  0x26 /* 32.768 kHz time base, 1024 Hz periodic rate */

#define B_SET  0x80
#define B_PIE  0x40
#define B_AIE  0x20
#define B_UIE  0x10
#define B_DM   0x04 /* binary */
#define B_24H  0x02
#define B_INIT B_24H

#define C_IRQF 0x80
#define C_PF   0x40
#define C_AF   0x20
#define C_UF   0x10
#define C_MASK (C_PF | C_AF | C_UF)

#define D_VRT 0x80

#define NS_PER_SEC  1000000000LL
#define UIP_WINDOW  244000LL /* UIP reads 1 this long before each second */
#define ALARM_ANY   0xc0     /* alarm bytes 0xc0-0xff match every value */
#define SECS_IN_DAY 86400LL

/*
 * Guest time is kept in int64_t nanoseconds since 1970, which spans about
 * +-292 years: the guest may set years in [YEAR_MIN, YEAR_MAX], and a
 * loaded offset from the host clock must stay within MAX_OFFSET_NS.
 */
#define YEAR_MIN      1900
#define YEAR_MAX      2199
#define MAX_OFFSET_NS 6000000000000000000LL

struct rtc_tm {
	int64_t year;
	unsigned mon, mday, hour, min, sec, wday;
};

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b) != 0 && ((a < 0) != (b < 0)))
		q--;
	return q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	if (m <= 2)
		y--;
	era = floor_div(y, 400);
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, struct rtc_tm *tm)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	tm->mday = doy - (153 * mp + 2) / 5 + 1;
	tm->mon = mp < 10 ? mp + 3 : mp - 9;
	tm->year = (int64_t)yoe + era * 400 + (tm->mon <= 2 ? 1 : 0);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return (m == 2 && is_leap(y)) ? 29 : days[m - 1];
}

static void tm_from_secs(int64_t secs, struct rtc_tm *tm)
{
	int64_t days = floor_div(secs, SECS_IN_DAY);
	int64_t rem = secs - days * SECS_IN_DAY;

	civil_from_days(days, tm);
	tm->hour = (unsigned)(rem / 3600);
	tm->min = (unsigned)(rem / 60 % 60);
	tm->sec = (unsigned)(rem % 60);
	tm->wday = (unsigned)floor_mod(days + 4, 7) + 1; /* 1970-01-01: Thursday; Sunday = 1 */
}

/* Register encodings under register B's DM and 24/12-hour bits. */
static uint8_t enc(const struct mc146818 *rtc, unsigned v)
{
	v %= 100;
	if (rtc->cmos[REG_B] & B_DM)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static uint8_t enc_hour(const struct mc146818 *rtc, unsigned h)
{
	unsigned h12;

	if (rtc->cmos[REG_B] & B_24H)
		return enc(rtc, h);
	h12 = h % 12 ? h % 12 : 12;
	return enc(rtc, h12) | (h >= 12 ? 0x80 : 0);
}

static bool dec(const struct mc146818 *rtc, uint8_t v, unsigned max, unsigned *out)
{
	if (rtc->cmos[REG_B] & B_DM) {
		*out = v;
	} else {
		if ((v & 0x0f) > 9 || (v >> 4) > 9)
			return false;
		*out = (v >> 4) * 10 + (v & 0x0f);
	}
	return *out <= max;
}

static bool dec_hour(const struct mc146818 *rtc, uint8_t v, unsigned *out)
{
	unsigned h;

	if (rtc->cmos[REG_B] & B_24H)
		return dec(rtc, v, 23, out);
	if (!dec(rtc, v & 0x7f, 12, &h) || h == 0)
		return false;
	*out = h % 12 + ((v & 0x80) ? 12 : 0);
	return true;
}

static int64_t host_now(const struct mc146818 *rtc)
{
	return rtc->clock(rtc->clock_opaque);
}

static bool is_time_reg(unsigned reg)
{
	switch (reg) {
	case REG_SEC:
	case REG_MIN:
	case REG_HOUR:
	case REG_WDAY:
	case REG_MDAY:
	case REG_MON:
	case REG_YEAR:
	case REG_CENTURY:
		return true;
	default:
		return false;
	}
}

/* The time register reg as the running clock shows it at guest time g. */
static uint8_t time_reg(const struct mc146818 *rtc, unsigned reg, int64_t g)
{
	struct rtc_tm tm;

	tm_from_secs(floor_div(g, NS_PER_SEC), &tm);
	switch (reg) {
	case REG_SEC:
		return enc(rtc, tm.sec);
	case REG_MIN:
		return enc(rtc, tm.min);
	case REG_HOUR:
		return enc_hour(rtc, tm.hour);
	case REG_WDAY:
		return enc(rtc, tm.wday);
	case REG_MDAY:
		return enc(rtc, tm.mday);
	case REG_MON:
		return enc(rtc, tm.mon);
	case REG_YEAR:
		return enc(rtc, (unsigned)floor_mod(tm.year, 100));
	case REG_CENTURY:
		return enc(rtc, (unsigned)floor_mod(floor_div(tm.year, 100), 100));
	default:
		return 0;
	}
}

/* Copy the running time into the time registers (SET set, or a field write). */
static void latch_time(struct mc146818 *rtc, int64_t g)
{
	static const uint8_t regs[] = {REG_SEC,	 REG_MIN, REG_HOUR, REG_WDAY,
				       REG_MDAY, REG_MON, REG_YEAR, REG_CENTURY};

	for (size_t i = 0; i < ARRAY_SIZE(regs); i++)
		rtc->cmos[regs[i]] = time_reg(rtc, regs[i], g);
}

/*
 * Start the clock from the time registers, frac_ns into that second.
 * Returns false (clock unchanged) when they do not hold a valid date.
 */
static bool set_from_regs(struct mc146818 *rtc, int64_t frac_ns)
{
	unsigned sec, min, hour, mday, mon, year, century;
	int64_t y, secs, g;

	if (!dec(rtc, rtc->cmos[REG_SEC], 59, &sec) || !dec(rtc, rtc->cmos[REG_MIN], 59, &min) ||
	    !dec_hour(rtc, rtc->cmos[REG_HOUR], &hour) ||
	    !dec(rtc, rtc->cmos[REG_MDAY], 31, &mday) || !dec(rtc, rtc->cmos[REG_MON], 12, &mon) ||
	    !dec(rtc, rtc->cmos[REG_YEAR], 99, &year) ||
	    !dec(rtc, rtc->cmos[REG_CENTURY], 99, &century) || mday == 0 || mon == 0)
		goto invalid;
	y = (int64_t)century * 100 + year;
	if (y < YEAR_MIN || y > YEAR_MAX || mday > days_in_month(y, mon))
		goto invalid;
	secs = days_from_civil(y, mon, mday) * SECS_IN_DAY + hour * 3600 + min * 60 + sec;
	g = secs * NS_PER_SEC + frac_ns;
	rtc->offset_ns = g - host_now(rtc);
	rtc->last_ns = g; /* no flags for the jump itself */
	return true;

invalid:
	log_guest_error("mc146818: invalid time set: %02x-%02x-%02x%02x %02x:%02x:%02x",
			rtc->cmos[REG_MDAY], rtc->cmos[REG_MON], rtc->cmos[REG_CENTURY],
			rtc->cmos[REG_YEAR], rtc->cmos[REG_HOUR], rtc->cmos[REG_MIN],
			rtc->cmos[REG_SEC]);
	return false;
}

static bool alarm_field_match(uint8_t alarm, uint8_t now)
{
	return (alarm & ALARM_ANY) == ALARM_ANY || alarm == now;
}

static bool alarm_match(const struct mc146818 *rtc, int64_t secs)
{
	int64_t rem = floor_mod(secs, SECS_IN_DAY);

	return alarm_field_match(rtc->cmos[REG_SEC_ALARM], enc(rtc, (unsigned)(rem % 60))) &&
	       alarm_field_match(rtc->cmos[REG_MIN_ALARM], enc(rtc, (unsigned)(rem / 60 % 60))) &&
	       alarm_field_match(rtc->cmos[REG_HOUR_ALARM], enc_hour(rtc, (unsigned)(rem / 3600)));
}

/* Periodic interrupt period from register A's rate bits, 0 when off. */
static int64_t period_ns(const struct mc146818 *rtc)
{
	unsigned rs = rtc->cmos[REG_A] & A_RS_MASK;
	unsigned shift;

	if (!rs)
		return 0;
	shift = rs <= 2 ? rs + 6 : rs - 1; /* rates 1 and 2 are 256 and 128 Hz */
	return (int64_t)((uint64_t)NS_PER_SEC << shift) / 32768;
}

static void update_irq(struct mc146818 *rtc)
{
	int level = (rtc->reg_c & rtc->cmos[REG_B] & C_MASK) != 0;

	if (level != rtc->irq_level) {
		rtc->irq_level = level;
		irq_line_set(&rtc->irq, level);
	}
}

/* Set the flags for what the clock passed between last_ns and g. */
static void advance(struct mc146818 *rtc, int64_t g)
{
	int64_t s0, s1, s, period;

	if (g <= rtc->last_ns) {
		rtc->last_ns = g; /* the host clock stepped back: follow it */
		return;
	}
	if (!(rtc->cmos[REG_B] & B_SET)) {
		s0 = floor_div(rtc->last_ns, NS_PER_SEC);
		s1 = floor_div(g, NS_PER_SEC);
		if (s1 > s0) {
			rtc->reg_c |= C_UF;
			/* An alarm repeats at least daily: look at the last day only. */
			for (s = MAX(s0 + 1, s1 - SECS_IN_DAY + 1); s <= s1 && !(rtc->reg_c & C_AF);
			     s++) {
				if (alarm_match(rtc, s))
					rtc->reg_c |= C_AF;
			}
		}
	}
	period = period_ns(rtc);
	if (period && floor_div(g, period) > floor_div(rtc->last_ns, period))
		rtc->reg_c |= C_PF;
	rtc->last_ns = g;
	update_irq(rtc);
}

static uint8_t data_read(struct mc146818 *rtc, int64_t g, bool *timer_changed)
{
	unsigned reg = rtc->index;
	uint8_t val;

	if (is_time_reg(reg) && !(rtc->cmos[REG_B] & B_SET))
		return time_reg(rtc, reg, g);
	switch (reg) {
	case REG_A:
		val = rtc->cmos[REG_A] & ~A_UIP;
		if (!(rtc->cmos[REG_B] & B_SET) &&
		    floor_mod(g, NS_PER_SEC) >= NS_PER_SEC - UIP_WINDOW)
			val |= A_UIP;
		return val;
	case REG_C:
		val = rtc->reg_c;
		if (rtc->reg_c & rtc->cmos[REG_B] & C_MASK)
			val |= C_IRQF;
		rtc->reg_c = 0;
		update_irq(rtc);
		*timer_changed = true;
		return val;
	case REG_D:
		return D_VRT;
	default:
		return rtc->cmos[reg];
	}
}

static void data_write(struct mc146818 *rtc, uint8_t val, int64_t g, bool *timer_changed)
{
	unsigned reg = rtc->index;
	uint8_t old;

	if (is_time_reg(reg)) {
		if (rtc->cmos[REG_B] & B_SET) {
			rtc->cmos[reg] = val;
			return;
		}
		if (reg == REG_WDAY)
			return; /* derived from the date */
		latch_time(rtc, g);
		rtc->cmos[reg] = val;
		set_from_regs(rtc, floor_mod(g, NS_PER_SEC));
		*timer_changed = true;
		return;
	}
	switch (reg) {
	case REG_A:
		rtc->cmos[REG_A] = val & ~A_UIP;
		*timer_changed = true;
		break;
	case REG_B:
		old = rtc->cmos[REG_B];
		if (val & B_SET)
			val &= ~B_UIE; /* setting SET clears UIE */
		rtc->cmos[REG_B] = val;
		if (!(old & B_SET) && (val & B_SET))
			latch_time(rtc, g); /* in the mode this write selects */
		if ((old & B_SET) && !(val & B_SET) && !set_from_regs(rtc, 0))
			rtc->last_ns = g;
		update_irq(rtc);
		*timer_changed = true;
		break;
	case REG_C:
	case REG_D:
		break; /* read-only */
	default:
		rtc->cmos[reg] = val;
		break;
	}
}

static void mc146818_bus_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct mc146818 *rtc = opaque;
	bool timer_changed = false;
	int64_t g;

	if (!len)
		return;
	memset(data, 0xff, len);
	if (offset != 1)
		return; /* the index port is write-only */
	pthread_mutex_lock(&rtc->lock);
	g = host_now(rtc) + rtc->offset_ns;
	advance(rtc, g);
	data[0] = data_read(rtc, g, &timer_changed);
	pthread_mutex_unlock(&rtc->lock);
	if (timer_changed && rtc->timer_changed)
		rtc->timer_changed(rtc->timer_opaque);
}

static void mc146818_bus_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct mc146818 *rtc = opaque;
	bool timer_changed = false;
	int64_t g;

	if (!len || offset >= MC146818_NR_PORTS)
		return;
	pthread_mutex_lock(&rtc->lock);
	if (offset == 0) {
		rtc->index = data[0] & 0x7f; /* bit 7: NMI disable, not modelled */
	} else {
		g = host_now(rtc) + rtc->offset_ns;
		advance(rtc, g);
		data_write(rtc, data[0], g, &timer_changed);
	}
	pthread_mutex_unlock(&rtc->lock);
	if (timer_changed && rtc->timer_changed)
		rtc->timer_changed(rtc->timer_opaque);
}

const struct bus_device_ops mc146818_bus_ops = {
    .name = "mc146818",
    .read = mc146818_bus_read,
    .write = mc146818_bus_write,
};

static int64_t realtime_clock(void *opaque)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static void put16(uint8_t *p, uint64_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void fill_memory_sizes(struct mc146818 *rtc, uint64_t below_4g, uint64_t above_4g)
{
	uint64_t ext_kib = below_4g > 1 * MiB ? (below_4g - 1 * MiB) / KiB : 0;
	uint64_t above_16m = below_4g > 16 * MiB ? (below_4g - 16 * MiB) / (64 * KiB) : 0;
	uint64_t high = above_4g / (64 * KiB);
	unsigned sum = 0;

	ext_kib = MIN(ext_kib, 0xffffULL);
	above_16m = MIN(above_16m, 0xffffULL);
	high = MIN(high, 0xffffffULL);
	put16(&rtc->cmos[0x15], 640);
	put16(&rtc->cmos[0x17], ext_kib);
	put16(&rtc->cmos[0x30], ext_kib);
	put16(&rtc->cmos[0x34], above_16m);
	rtc->cmos[0x5b] = (uint8_t)high;
	rtc->cmos[0x5c] = (uint8_t)(high >> 8);
	rtc->cmos[0x5d] = (uint8_t)(high >> 16);
	for (unsigned i = 0x10; i <= 0x2d; i++)
		sum += rtc->cmos[i];
	rtc->cmos[0x2e] = (uint8_t)(sum >> 8);
	rtc->cmos[0x2f] = (uint8_t)sum;
}

void mc146818_init(struct mc146818 *rtc, struct irq_line irq, uint64_t ram_below_4g,
		   uint64_t ram_above_4g)
{
	memset(rtc, 0, sizeof(*rtc));
	pthread_mutex_init(&rtc->lock, NULL);
	rtc->irq = irq;
	rtc->clock = realtime_clock;
	rtc->irq_level = -1;
	rtc->cmos[REG_A] = A_INIT;
	rtc->cmos[REG_B] = B_INIT;
	fill_memory_sizes(rtc, ram_below_4g, ram_above_4g);
	rtc->last_ns = host_now(rtc);
	update_irq(rtc);
}

void mc146818_destroy(struct mc146818 *rtc)
{
	pthread_mutex_destroy(&rtc->lock);
}

void mc146818_set_clock(struct mc146818 *rtc, mc146818_clock_fn clock, void *opaque)
{
	pthread_mutex_lock(&rtc->lock);
	rtc->clock = clock ? clock : realtime_clock;
	rtc->clock_opaque = opaque;
	rtc->last_ns = host_now(rtc) + rtc->offset_ns;
	pthread_mutex_unlock(&rtc->lock);
}

void mc146818_set_timer_changed(struct mc146818 *rtc, mc146818_timer_changed_fn fn, void *opaque)
{
	pthread_mutex_lock(&rtc->lock);
	rtc->timer_changed = fn;
	rtc->timer_opaque = opaque;
	pthread_mutex_unlock(&rtc->lock);
}

int64_t mc146818_next_event(struct mc146818 *rtc)
{
	int64_t g, period, next = -1, t;
	uint8_t b;

	pthread_mutex_lock(&rtc->lock);
	g = host_now(rtc) + rtc->offset_ns;
	advance(rtc, g);
	b = rtc->cmos[REG_B];
	if (rtc->irq_level == 1)
		goto out; /* stays up until register C is read */
	period = period_ns(rtc);
	if ((b & B_PIE) && period)
		next = (floor_div(g, period) + 1) * period;
	if ((b & (B_UIE | B_AIE)) && !(b & B_SET)) {
		t = (floor_div(g, NS_PER_SEC) + 1) * NS_PER_SEC;
		if (next < 0 || t < next)
			next = t;
	}
	if (next >= 0)
		next -= rtc->offset_ns;
out:
	pthread_mutex_unlock(&rtc->lock);
	return next;
}

void mc146818_timer(struct mc146818 *rtc)
{
	pthread_mutex_lock(&rtc->lock);
	advance(rtc, host_now(rtc) + rtc->offset_ns);
	pthread_mutex_unlock(&rtc->lock);
}

void mc146818_save(struct mc146818 *rtc, struct mc146818_state *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&rtc->lock);
	advance(rtc, host_now(rtc) + rtc->offset_ns);
	st->version = MC146818_STATE_VERSION;
	st->index = rtc->index;
	st->reg_c = rtc->reg_c;
	memcpy(st->cmos, rtc->cmos, sizeof(st->cmos));
	st->offset_ns = rtc->offset_ns;
	pthread_mutex_unlock(&rtc->lock);
}

int mc146818_load(struct mc146818 *rtc, const struct mc146818_state *st)
{
	if (st->version != MC146818_STATE_VERSION || st->index >= MC146818_CMOS_SIZE ||
	    (st->reg_c & ~C_MASK) || (st->cmos[REG_A] & A_UIP) || st->offset_ns > MAX_OFFSET_NS ||
	    st->offset_ns < -MAX_OFFSET_NS)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	rtc->index = st->index;
	rtc->reg_c = st->reg_c;
	memcpy(rtc->cmos, st->cmos, sizeof(rtc->cmos));
	rtc->offset_ns = st->offset_ns;
	rtc->last_ns = host_now(rtc) + rtc->offset_ns;
	update_irq(rtc);
	pthread_mutex_unlock(&rtc->lock);
	if (rtc->timer_changed)
		rtc->timer_changed(rtc->timer_opaque);
	return 0;
}
