#!/bin/sh
# bench-blk (guest side of bench/blk): fio on /dev/vda with direct=1 and
# libaio: sequential 1 MiB writes, then sequential 1 MiB reads (queue depth
# 8), then 4 KiB random reads (queue depth 32), each for BENCH_SECONDS
# (hearth.bench_seconds=, default 8) after a one-second ramp. Prints
# HEARTH-RESULT seqwrite_mbs=, seqread_mbs= (10^6 bytes/s) and
# randread_iops=, or HEARTH-RESULT fio_error=JOB.
secs=8
for arg in $(cat /proc/cmdline); do
	case "$arg" in hearth.bench_seconds=*) secs=${arg#hearth.bench_seconds=} ;; esac
done

# job NAME RW BS DEPTH: one fio run; prints its terse (v3) line.
job() {
	/usr/bin/fio --minimal --name="$1" --filename=/dev/vda --rw="$2" --bs="$3" \
		--iodepth="$4" --ioengine=libaio --direct=1 --time_based \
		--runtime="$secs" --ramp_time=1 --randrepeat=0 --norandommap
}

# Field 7 is the read bandwidth (KiB/s), 8 the read IOPS, 48 the write
# bandwidth; in MB/s: KiB/s * 1.024 / 1000.
mbs() {
	awk -F';' -v f="$2" '{ printf "%.1f\n", $f * 1.024 / 1000 }' <<EOT
$1
EOT
}

# How the device interrupts: MSI-X vectors of virtio (0: a shared line).
echo "HEARTH-RESULT msix=$(grep -c 'PCI-MSI.*virtio' /proc/interrupts)"
if out=$(job seqwrite write 1M 8) && [ -n "$out" ]; then
	echo "HEARTH-RESULT seqwrite_mbs=$(mbs "$out" 48)"
else
	echo "HEARTH-RESULT fio_error=seqwrite"
fi
if out=$(job seqread read 1M 8) && [ -n "$out" ]; then
	echo "HEARTH-RESULT seqread_mbs=$(mbs "$out" 7)"
else
	echo "HEARTH-RESULT fio_error=seqread"
fi
if out=$(job randread randread 4k 32) && [ -n "$out" ]; then
	echo "HEARTH-RESULT randread_iops=$(echo "$out" | cut -d';' -f8)"
else
	echo "HEARTH-RESULT fio_error=randread"
fi
