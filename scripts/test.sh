#!/bin/bash
# hearth's whole test suite: installs what it needs, builds hearth (plain and
# with ASan/UBSan), prepares the default guest, runs the unit tests, the
# format check, the tiny-guest tests on the local /dev/kvm (plain and ASan),
# and the Linux-guest tests (directly or in the nested test host), then prints
# one line "N passed, N failed, N skipped".
#
# Usage: scripts/test.sh [--no-nested]
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

nested=1
for a in "$@"; do
	case $a in
	--no-nested) nested=0 ;;
	*) echo "usage: scripts/test.sh [--no-nested]" >&2; exit 2 ;;
	esac
done

passed=0 failed=0 skipped=0
failures=()

step() { printf '\n=== %s\n' "$*"; }
fatal() {
	echo "test.sh: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

step "installing dependencies"
scripts/install-deps.sh || fatal "installing dependencies failed"

step "building (build/ and build-asan/)"
[ -f build/build.ninja ] || meson setup build >/dev/null || fatal "meson setup build failed"
ninja -C build || fatal "build failed"
[ -f build-asan/build.ninja ] ||
	meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null ||
	fatal "meson setup build-asan failed"
ninja -C build-asan || fatal "ASan build failed"

step "preparing the default guest"
guest/prepare.sh || fatal "guest/prepare.sh failed"
export HEARTH_TEST_KERNEL=$top/guest/out/vmlinuz
[ -f guest/out/vmlinux ] && export HEARTH_TEST_VMLINUX=$top/guest/out/vmlinux

# Counts meson's results from a testlog.json into the totals.
count_meson() {
	local log=$1 label=$2
	[ -f "$log" ] || { failed=$((failed + 1)); failures+=("$label: no test log"); return; }
	while IFS=$'\t' read -r result name; do
		case $result in
		OK | EXPECTEDFAIL) passed=$((passed + 1)) ;;
		SKIP) skipped=$((skipped + 1)); echo "skipped: $label/$name" ;;
		*) failed=$((failed + 1)); failures+=("$label/$name ($result)") ;;
		esac
	done < <(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    t = json.loads(line)
    print(t["result"] + "\t" + t["name"])' "$log")
}

step "unit, format and tiny-guest tests"
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 meson test -C build --print-errorlogs \
	--suite unit --suite format --suite kvm --suite cli --suite fuzz --suite api --suite attack --suite jail
count_meson build/meson-logs/testlog.json plain

step "unit and tiny-guest tests under ASan/UBSan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --print-errorlogs --suite unit --suite kvm --suite cli --suite fuzz \
	--suite api --suite attack --suite jail
count_meson build-asan/meson-logs/testlog.json asan

if [ $nested = 1 ]; then
	step "Linux guest tests"
	results=$(mktemp)
	tests/nested/run.sh 2>&1 | tee "$results"
	rc=${PIPESTATUS[0]}
	# The durability test kills the nested host from outside: its own run.
	tests/nested/durability.sh 2>&1 | tee -a "$results"
	[ "${PIPESTATUS[0]}" = 0 ] || rc=1
	n_pass=$(grep -c '^PASS ' "$results")
	n_fail=$(grep -c '^FAIL ' "$results")
	n_skip=$(grep -c '^SKIP ' "$results")
	passed=$((passed + n_pass)) failed=$((failed + n_fail)) skipped=$((skipped + n_skip))
	while IFS= read -r l; do failures+=("nested: ${l#FAIL }"); done < <(grep '^FAIL ' "$results")
	if [ "$rc" != 0 ] && [ "$n_fail" = 0 ]; then
		failed=$((failed + 1))
		failures+=("nested: harness exited with status $rc")
	fi
	rm -f "$results"
else
	echo "skipped: Linux guest tests (--no-nested)"
	skipped=$((skipped + 1))
fi

echo
for f in "${failures[@]}"; do echo "failed: $f"; done
if [ $skipped -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ $failed = 0 ]
