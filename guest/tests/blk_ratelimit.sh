#!/bin/sh
# Disk rate limits as the guest sees them: how long O_DIRECT reads take
# (centiseconds of /proc/uptime). vda (bps-limited, read in 1 MiB blocks)
# and vdb (iops-limited, read in 4 KiB blocks) are read at the same time;
# then vdc (unlimited) is read like vda, for comparison.
# hearth.blk_mib=N: MiB read from vda and vdc; hearth.blk_ops=N: 4 KiB reads
# from vdb.
mib=4
ops=400
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	hearth.blk_mib=*) mib=${arg#hearth.blk_mib=} ;;
	hearth.blk_ops=*) ops=${arg#hearth.blk_ops=} ;;
	esac
done

# Centiseconds from /proc/uptime's first field ("12.34" -> 1234).
cs() {
	echo "${1%.*}${1#*.}" | sed 's/^0*//; s/^$/0/'
}

# timed NAME DD-ARGS...: run dd, report NAMErc, NAMEin (dd's "N+M" records
# read) and NAMEcs (elapsed).
timed() {
	_name=$1
	shift
	read -r _t0 _ </proc/uptime
	dd "$@" of=/dev/null iflag=direct 2>"/tmp/$_name.err"
	_rc=$?
	read -r _t1 _ </proc/uptime
	echo "HEARTH-RESULT ${_name}rc=$_rc"
	echo "HEARTH-RESULT ${_name}in=$(sed -n 's/ records in$//p' "/tmp/$_name.err")"
	echo "HEARTH-RESULT ${_name}cs=$(($(cs "$_t1") - $(cs "$_t0")))"
}

timed vda if=/dev/vda bs=1M count="$mib" &
timed vdb if=/dev/vdb bs=4096 count="$ops" &
wait
timed vdc if=/dev/vdc bs=1M count="$mib"
