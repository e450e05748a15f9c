#!/bin/sh
# RAM as the firmware map (e820) gave it, and as the kernel counts it.
e820=0
for r in $(dmesg | sed -n 's/.*BIOS-e820: \[mem \(0x[0-9a-fA-F]*\)-\(0x[0-9a-fA-F]*\)\] usable$/\1-\2/p'); do
	e820=$((e820 + ${r#*-} - ${r%-*} + 1))
done
memmap=0
for d in /sys/firmware/memmap/*; do
	[ "$(cat "$d/type")" = "System RAM" ] || continue
	memmap=$(($(cat "$d/end") - $(cat "$d/start") + 1 + memmap))
done
memtotal=$(sed -n 's/^MemTotal: *\([0-9]*\) kB$/\1/p' /proc/meminfo)
echo "HEARTH-RESULT e820_usable=$e820"
echo "HEARTH-RESULT memmap_ram=$memmap"
echo "HEARTH-RESULT memtotal_kb=$memtotal"
