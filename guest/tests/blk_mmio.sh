#!/bin/sh
# A virtio disk on virtio-mmio: which bus it hangs on, a marker the host
# wrote (sector 8) is read, another is written (sector 16, O_DIRECT and
# fsync), and the 16 MiB the host wrote at 8 MiB are copied to 24 MiB with
# O_DIRECT reads and writes (the host compares them, no hashing here).
echo "HEARTH-RESULT vdadev=$(readlink -f /sys/block/vda/device 2>/dev/null)"
echo "HEARTH-RESULT vdasectors=$(cat /sys/block/vda/size 2>/dev/null)"
echo "HEARTH-RESULT vdaread=$(dd if=/dev/vda bs=512 skip=8 count=1 iflag=direct 2>/dev/null | head -c 11)"
printf 'GUEST-WROTE' | dd of=/tmp/marker bs=512 conv=sync 2>/dev/null
dd if=/tmp/marker of=/dev/vda bs=512 seek=16 oflag=direct conv=fsync 2>/dev/null
echo "HEARTH-RESULT vdawrite=$?"
dd if=/dev/vda of=/dev/vda bs=1M skip=8 seek=24 count=16 iflag=direct oflag=direct conv=fsync 2>/dev/null
echo "HEARTH-RESULT vdacopy=$?"
echo "HEARTH-RESULT irqs=$(grep -i virtio /proc/interrupts | tr -s ' ' | tr '\n' ';')"
