/* Resets through the i8042 at once: the trivial guest of bench/startup.
 * (mkbzimage puts the same reset at the real-mode entry, for loaders that
 * start bzImages there.) */
#include "guest.inc"
	.code64
	.text
	.globl _start
_start:
	i8042_reset
	spin
	.fill 16, 1, 0x90
