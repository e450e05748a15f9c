#!/bin/sh
# Three virtio disks: vda (read-write) gets a known 64 MiB pattern written
# with O_DIRECT; vdb (readonly=on) is read-only here and refuses a write;
# vdc receives, with O_DIRECT, what the guest reads back from vda (64 MiB)
# and then from vdb (at 64 MiB), for the host to check both reads without
# hashing in the guest. Reports each disk's serial, ro flag and size.

# The pattern: sector i (512 bytes) says its own number, in decimal at its
# start and in hex at its end. tests/nested/cases/blk_pattern.sh knows its
# sha256.
pattern() {
	awk -v n="$1" 'BEGIN { f = ""; while (length(f) < 482) f = f "abcdefghijklmnopqrstuvwxyz0123456789";
		f = substr(f, 1, 482); for (i = 0; i < n; i++) printf "hearth-blk %08d %s %08x\n", i, f, i }'
}

for d in vda vdb vdc; do
	echo "HEARTH-RESULT ${d}serial=$(cat /sys/block/$d/serial 2>/dev/null)"
	echo "HEARTH-RESULT ${d}ro=$(cat /sys/block/$d/ro 2>/dev/null)"
	echo "HEARTH-RESULT ${d}sectors=$(cat /sys/block/$d/size 2>/dev/null)"
done

pattern 131072 | dd of=/dev/vda bs=1M count=64 iflag=fullblock oflag=direct conv=fsync 2>/dev/null
echo "HEARTH-RESULT vdawrite=$?"
sync

# The read-only disk: a write must fail, whatever the kernel's error.
dd if=/dev/zero of=/dev/vdb bs=4096 count=1 oflag=direct conv=fsync 2>/tmp/vdb.err
echo "HEARTH-RESULT vdbwrite=$?"
echo "HEARTH-RESULT vdbwriteerr=$(grep -v records /tmp/vdb.err | head -n1)"

dd if=/dev/vda of=/dev/vdc bs=1M count=64 iflag=direct oflag=direct conv=fsync 2>/dev/null
echo "HEARTH-RESULT vdacopy=$?"
dd if=/dev/vdb of=/dev/vdc bs=1M count=4 seek=64 iflag=direct oflag=direct conv=fsync 2>/dev/null
echo "HEARTH-RESULT vdbcopy=$?"
