#!/bin/sh
# virtio devices as the guest sees them: the entropy device and the console
# (hvc0): which drivers bound, bytes from /dev/hwrng, a line each way on hvc0.
for d in /sys/bus/virtio/devices/*; do
	[ -e "$d" ] || continue
	echo "HEARTH-RESULT dev=$(basename "$d"):$(cat "$d/device"):$(basename "$(readlink "$d/driver")")"
done
echo "HEARTH-RESULT rng=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
echo "HEARTH-RESULT rngbytes=$(dd if=/dev/hwrng bs=256 count=16 2>/dev/null | wc -c)"
if [ -c /dev/hvc0 ]; then
	echo "HEARTH-HVC-HELLO-FROM-GUEST" >/dev/hvc0
	echo "HEARTH-RESULT hvc=yes"
	stty -F /dev/hvc0 -echo 2>/dev/null
	echo "HEARTH-HVC-WAITING"
	read -r line </dev/hvc0
	echo "HEARTH-RESULT hvcin=$line"
fi
echo "HEARTH-RESULT irqs=$(grep -i virtio /proc/interrupts | tr -s ' ' | tr '\n' ';')"
