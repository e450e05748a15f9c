#!/bin/sh
# virtio devices on PCI as the guest sees them: the disk (a marker the host
# wrote is read, another is written back with fsync), the entropy device,
# the network card (ping the host's end of the tap) and MSI-X interrupts.
for d in /sys/bus/virtio/devices/*; do
	[ -e "$d" ] || continue
	echo "HEARTH-RESULT dev=$(cat "$d/device"):$(basename "$(readlink "$d/driver")")"
done
echo "HEARTH-RESULT vdasectors=$(cat /sys/block/vda/size 2>/dev/null)"
echo "HEARTH-RESULT vdaread=$(dd if=/dev/vda bs=512 skip=8 count=1 2>/dev/null | head -c 11)"
printf 'GUEST-WROTE' | dd of=/dev/vda bs=512 seek=16 conv=fsync 2>/dev/null
echo "HEARTH-RESULT vdawrite=$?"
echo "HEARTH-RESULT rngbytes=$(dd if=/dev/hwrng bs=256 count=16 2>/dev/null | wc -c)"
echo "HEARTH-RESULT mac=$(cat /sys/class/net/eth0/address 2>/dev/null)"
ip link set eth0 up
ip addr add 169.254.77.2/16 dev eth0
if ping -c 3 -W 5 169.254.77.1 >/dev/null 2>&1; then
	echo "HEARTH-RESULT ping=ok"
else
	echo "HEARTH-RESULT ping=failed"
fi
echo "HEARTH-RESULT msix=$(grep -c 'PCI-MSI.*virtio' /proc/interrupts)"
