#!/bin/sh
# SPDX-License-Identifier: MIT
#
# extract-vmlinux.sh BZIMAGE OUTPUT
#
# Write the uncompressed vmlinux ELF that a bzImage carries as its payload to
# OUTPUT. The payload's place comes from the bzImage setup header
# (payload_offset/payload_length, boot protocol 2.08+); its compression
# (gzip, xz, zstd, lz4, bzip2, lzma, lzo) is recognised by its magic bytes
# and undone with the usual command-line tool. The result is checked to be
# an ELF file of the size the kernel build recorded. A kernel built with
# CONFIG_PVH has a PVH entry note in it and can be booted through that entry.
set -eu

die() {
	echo "extract-vmlinux: $*" >&2
	exit 1
}

[ $# -eq 2 ] || die "usage: extract-vmlinux.sh BZIMAGE OUTPUT"
img=$1
out=$2
[ -r "$img" ] || die "cannot read $img"

# u8/u16/u32 little-endian at a byte offset of the image
rd() {
	od -An -v -t"u$2" -j "$1" -N "$2" --endian=little "$img" | tr -d ' \n'
}

size=$(wc -c <"$img")
[ "$size" -ge 1024 ] || die "$img is too small to be a bzImage"
[ "$(od -An -c -j 514 -N 4 "$img" | tr -d ' \n')" = "HdrS" ] ||
	die "$img is not a bzImage (no HdrS magic)"
version=$(rd 518 2)
[ "$version" -ge 520 ] || die "boot protocol $(printf '%x' "$version") has no payload fields (need 2.08)"
setup_sects=$(rd 497 1)
[ "$setup_sects" -ne 0 ] || setup_sects=4
payload_offset=$(rd 584 4)
payload_length=$(rd 588 4)
start=$(((setup_sects + 1) * 512 + payload_offset))
if [ "$payload_length" -le 8 ] || [ $((start + payload_length)) -gt "$size" ]; then
	die "payload (offset $start, length $payload_length) lies outside the $size-byte file"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
tail -c +$((start + 1)) "$img" | head -c "$payload_length" >"$tmp/payload"

magic=$(od -An -v -tx1 -N 6 "$tmp/payload" | tr -d ' \n')
# All formats but gzip are followed by the uncompressed size (4 bytes, LE).
trailer=1
case $magic in
1f8b08*) fmt=gzip trailer=0 ;;
fd377a585a00) fmt=xz ;;
28b52ffd*) fmt=zstd ;;
02214c18*) fmt=lz4 ;;
425a68*) fmt=bzip2 ;;
5d0000*) fmt=lzma ;;
894c5a4f*) fmt=lzo ;;
*) die "unknown payload compression (magic $magic)" ;;
esac

if [ "$trailer" -eq 1 ]; then
	expect=$(od -An -v -tu4 -j $((payload_length - 4)) -N 4 --endian=little "$tmp/payload" | tr -d ' \n')
	head -c $((payload_length - 4)) "$tmp/payload" >"$tmp/stream"
else
	expect=
	mv "$tmp/payload" "$tmp/stream"
fi

case $fmt in
gzip) tool=gzip cmd="gzip -dc" ;;
xz) tool=xz cmd="xz -dc --single-stream" ;;
zstd) tool=zstd cmd="zstd -dcq" ;;
lz4) tool=lz4 cmd="lz4 -dcq" ;;
bzip2) tool=bzip2 cmd="bzip2 -dc" ;;
lzma) tool=xz cmd="xz -dc --format=lzma" ;;
lzo) tool=lzop cmd="lzop -dc" ;;
esac
command -v "$tool" >/dev/null 2>&1 || die "$fmt payload needs the '$tool' tool"
$cmd <"$tmp/stream" >"$tmp/vmlinux" || die "$tool failed to decompress the $fmt payload"

[ "$(od -An -c -N 4 "$tmp/vmlinux" | tr -d ' \n')" = "177ELF" ] ||
	die "decompressed payload is not an ELF file"
got=$(wc -c <"$tmp/vmlinux")
if [ -n "$expect" ] && [ "$got" -ne "$expect" ]; then
	die "decompressed $got bytes, the image says $expect"
fi
mv "$tmp/vmlinux" "$out"
echo "extract-vmlinux: $fmt payload -> $out ($got bytes)"
