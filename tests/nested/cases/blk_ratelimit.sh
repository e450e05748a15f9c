#!/bin/sh
# virtio-blk rate limits: O_DIRECT reads from a bps= disk and an iops= disk take at least (amount - one second's burst) / rate in the guest's clock.
# timeout: 180
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
[ "$HEARTH_VMM" = hearth ] || skip "hearth's own disk options"

# vda: BPS bytes/s, MIB MiB read in 1 MiB blocks; vdb: IOPS requests/s, OPS
# 4 KiB reads, both at once; vdc: no limit, read like vda afterwards (for
# comparison only: no upper bound on speed is checked).
# A bucket holds one second's worth and starts full: the reads may take
# (amount - rate) / rate seconds, never less.
mib=4
bps=1048576
ops=400
iops=100
for d in bps ops plain; do
	truncate -s ${mib}M "$CASE_DIR/$d.img" || fail "cannot create $d.img"
done
vm_start vm --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE hearth.test=blk_ratelimit hearth.blk_mib=$mib hearth.blk_ops=$ops" \
	--disk "path=$CASE_DIR/bps.img,bps=$bps" \
	--disk "path=$CASE_DIR/ops.img,iops=$iops" \
	--disk "path=$CASE_DIR/plain.img"
vm_expect_exit vm 150
vm_expect vm HEARTH-TEST-END

for d in vda vdb vdc; do
	[ "$(vm_result vm ${d}rc)" = 0 ] || fail "reading $d failed"
done
[ "$(vm_result vm vdain)" = "$mib+0" ] || fail "vda: dd read '$(vm_result vm vdain)' blocks, want $mib+0"
[ "$(vm_result vm vdbin)" = "$ops+0" ] || fail "vdb: dd read '$(vm_result vm vdbin)' blocks, want $ops+0"
[ "$(vm_result vm vdcin)" = "$mib+0" ] || fail "vdc: dd read '$(vm_result vm vdcin)' blocks, want $mib+0"

# Lower bounds in centiseconds; uptime's two readings lose at most 1 cs.
bps_cs=$(((mib * 1048576 - bps) * 100 / bps - 1))
ops_cs=$(((ops - iops) * 100 / iops - 1))
vda_cs=$(vm_result vm vdacs)
vdb_cs=$(vm_result vm vdbcs)
vdc_cs=$(vm_result vm vdccs)
echo "bps: $mib MiB in $vda_cs cs (at least $bps_cs); iops: $ops reads in $vdb_cs cs" \
	"(at least $ops_cs); unlimited: $mib MiB in $vdc_cs cs"
[ "$vda_cs" -ge "$bps_cs" ] 2>/dev/null ||
	fail "bps=$bps: $mib MiB read in ${vda_cs} cs, the limit allows no less than $bps_cs cs"
[ "$vdb_cs" -ge "$ops_cs" ] 2>/dev/null ||
	fail "iops=$iops: $ops reads in ${vdb_cs} cs, the limit allows no less than $ops_cs cs"
pass
