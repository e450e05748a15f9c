#!/bin/sh
# virtio-blk data path: a 64 MiB pattern the guest writes with O_DIRECT is exactly the image after exit, and what it reads back with O_DIRECT too; a readonly=on disk is read-only in the guest and unchanged; serials in sysfs.
# timeout: 240
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
[ "$HEARTH_VMM" = hearth ] || skip "hearth's own disk options"

# sha256 of the 64 MiB that guest/tests/blk_pattern.sh writes (131072 sectors
# of "hearth-blk %08d <482 bytes of a-z0-9...> %08x\n"); recompute with
# the awk program there: `pattern 131072 | sha256sum`.
want=247447f97f7825e70cd4da4827241e58cc03b3c3748a9d5d13a099bf4d848967

img=$CASE_DIR/pattern.img
roimg=$CASE_DIR/readonly.img
copy=$CASE_DIR/copy.img
truncate -s 64M "$img" || fail "cannot create the image"
truncate -s 68M "$copy" || fail "cannot create the copy image"
head -c 4194304 /dev/urandom >"$roimg" || fail "cannot create the read-only image"
rosum=$(sha256sum <"$roimg" | cut -d' ' -f1)

vm_boot vm blk_pattern --disk "path=$img,serial=hearth-pattern-0" \
	--disk "path=$roimg,readonly=on,serial=hearth-ro-1" --disk "path=$copy,serial=hearth-copy-2"
vm_expect_exit vm 200
vm_expect vm HEARTH-TEST-END

[ "$(vm_result vm vdaserial)" = hearth-pattern-0 ] || fail "vda's serial is '$(vm_result vm vdaserial)'"
[ "$(vm_result vm vdbserial)" = hearth-ro-1 ] || fail "vdb's serial is '$(vm_result vm vdbserial)'"
[ "$(vm_result vm vdcserial)" = hearth-copy-2 ] || fail "vdc's serial is '$(vm_result vm vdcserial)'"
[ "$(vm_result vm vdaro)" = 0 ] || fail "vda: ro=$(vm_result vm vdaro), want 0"
[ "$(vm_result vm vdbro)" = 1 ] || fail "vdb: ro=$(vm_result vm vdbro), want 1 (readonly=on)"
[ "$(vm_result vm vdasectors)" = 131072 ] || fail "vda has $(vm_result vm vdasectors) sectors"
[ "$(vm_result vm vdbsectors)" = 8192 ] || fail "vdb has $(vm_result vm vdbsectors) sectors"

[ "$(vm_result vm vdawrite)" = 0 ] || fail "the guest's O_DIRECT write of the pattern failed"
got=$(sha256sum <"$img" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "the image's sha256 is $got, the pattern's $want"

[ "$(vm_result vm vdbwrite)" != 0 ] || fail "the guest's write to the readonly=on disk succeeded"
[ "$(sha256sum <"$roimg" | cut -d' ' -f1)" = "$rosum" ] || fail "the readonly=on image changed"

# What the guest read back from vda and vdb, as it wrote it into vdc.
[ "$(vm_result vm vdacopy)" = 0 ] || fail "the guest's copy of vda to vdc failed"
[ "$(vm_result vm vdbcopy)" = 0 ] || fail "the guest's copy of vdb to vdc failed"
got=$(head -c 67108864 "$copy" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "the guest read back $got from vda with O_DIRECT, the pattern is $want"
got=$(tail -c 4194304 "$copy" | sha256sum | cut -d' ' -f1)
[ "$got" = "$rosum" ] || fail "the guest read $got from the readonly=on disk, not $rosum"
echo "vdb write refused: $(vm_result vm vdbwriteerr)"
pass
