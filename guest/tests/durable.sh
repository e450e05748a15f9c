#!/bin/sh
# Writes 16 MiB of random bytes over the start of /dev/vda, syncs them
# (fsync: a FLUSH the VMM must honour), prints their hash and a marker, and
# then waits to be killed: nothing after the marker may be needed for the
# bytes to be on the disk.
dd if=/dev/urandom of=/tmp/data bs=1M count=16 2>/dev/null
sum=$(sha256sum /tmp/data | cut -d' ' -f1)
if ! dd if=/tmp/data of=/dev/vda bs=1M conv=fsync 2>/dev/null; then
	echo "HEARTH-RESULT durable=write-failed"
	exit 1
fi
echo "HEARTH-RESULT durable-sha=$sum"
echo "HEARTH-DURABLE-SYNCED"
exec sleep 1000000
