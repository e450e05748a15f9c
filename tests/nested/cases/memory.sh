#!/bin/sh
# --memory: the e820 map gives the guest exactly --memory of RAM minus the
# documented holes below 1 MiB (EBDA 0x9fc00-0xa0000 and 0xa0000-0x100000,
# 0x60400 bytes in all), and the kernel counts at least --memory - 64 MiB.
# timeout: 150
# l1-memory-mib: 1024
. "$HEARTH_ROOT/tests/nested/lib.sh"
mib=768
vm_run_test vm mem --memory ${mib}M
bytes=$((mib * 1024 * 1024))
want=$((bytes - 0x60400))
e820=$(vm_result vm e820_usable)
memmap=$(vm_result vm memmap_ram)
memtotal_kb=$(vm_result vm memtotal_kb)
[ -n "$e820" ] || fail "guest printed no e820 total"
[ "$e820" = "$want" ] || fail "e820 RAM is $e820 bytes, expected $want (${mib} MiB - 0x60400)"
[ "$memmap" = "$want" ] || fail "/sys/firmware/memmap RAM is $memmap bytes, expected $want"
min_kb=$(((mib - 64) * 1024))
[ "${memtotal_kb:-0}" -ge "$min_kb" ] || fail "MemTotal is ${memtotal_kb} kB, below ${min_kb} kB"
pass
