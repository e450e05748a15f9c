/* SPDX-License-Identifier: MIT */
/* Interrupt lines: how a device model raises and lowers its interrupt. */
#ifndef HEARTH_CORE_IRQ_H
#define HEARTH_CORE_IRQ_H

#include <stdint.h>

/*
 * An interrupt line a device owns. The VMM wires it to KVM (KVM_IRQ_LINE on
 * the in-kernel irqchip); unit tests wire it to a recorder. level is 1 to
 * assert, 0 to deassert. set may be NULL (an unconnected line).
 */
struct irq_line {
	void (*set)(void *opaque, uint32_t gsi, int level);
	void *opaque;
	uint32_t gsi;
};

/* irq_line_set - drive the line to level (0 or 1). */
static inline void irq_line_set(const struct irq_line *line, int level)
{
	if (line->set)
		line->set(line->opaque, line->gsi, level);
}

/* irq_line_pulse - raise then lower the line (an edge-triggered event). */
static inline void irq_line_pulse(const struct irq_line *line)
{
	irq_line_set(line, 1);
	irq_line_set(line, 0);
}

#endif
