#!/bin/bash
# `hearth snapshot`: usage errors (status 2) and files that are not a
# snapshot (status 1, one line naming the problem). No KVM needed; the
# round trip through real snapshots is tests/api/snapshot.py.
# Usage: snapshot_cli.sh HEARTH
set -u
hearth=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0

# expect STATUS PATTERN ARGS...: hearth ARGS exits STATUS, stderr+stdout match PATTERN.
expect() {
	local want=$1 pattern=$2 out status
	shift 2
	out=$("$hearth" "$@" 2>&1)
	status=$?
	if [ "$status" != "$want" ] || ! grep -q -- "$pattern" <<<"$out"; then
		echo "FAIL: hearth $* -> $status (expected $want), output: $out"
		fail=1
	elif [ "$want" = 1 ] && [ "$(wc -l <<<"$out")" != 1 ]; then
		echo "FAIL: hearth $*: more than one line: $out"
		fail=1
	else
		echo "ok   hearth $* -> $status: $(head -1 <<<"$out")"
	fi
}

printf 'not a snapshot at all, but long enough to hold a header and its checksum.....................................................' >"$dir/junk"
: >"$dir/empty"
expect 2 "Usage: hearth snapshot verify" snapshot
expect 2 "Usage: hearth snapshot verify" snapshot verify "$dir/junk"
expect 2 "Usage: hearth snapshot verify" snapshot rebase a
expect 2 "Usage: hearth snapshot verify" snapshot merge a b
expect 1 "snapshot rebase: cannot open $dir/missing" snapshot rebase "$dir/missing" "$dir/junk"
expect 1 "$dir/junk is not a hearth memory file" snapshot rebase "$dir/junk" "$dir/junk"
expect 0 "Usage: hearth snapshot verify" snapshot --help
expect 1 "cannot read state file .*No such file" snapshot verify "$dir/missing" "$dir/junk"
expect 1 "state file is truncated (0 bytes)" snapshot verify "$dir/empty" "$dir/junk"
expect 1 "not a hearth snapshot state file" snapshot verify "$dir/junk" "$dir/junk"
expect 0 "snapshot" help
exit $fail
