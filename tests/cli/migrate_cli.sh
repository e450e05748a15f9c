#!/bin/bash
# `hearth migrate`: usage errors (status 2), then the client against a fake
# API server (fake_migrate_api.py) playing each outcome of a migration:
# completed (0), failed / refused / socket lost / bad answers / Ctrl-C (1,
# one line naming the reason), the request body it sent, plain progress
# lines off a terminal and the redrawn bar on one. No KVM needed.
# Usage: migrate_cli.sh HEARTH
set -u
hearth=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
fail=0
sock=$dir/api.sock

bad() {
	echo "FAIL: $*"
	fail=1
}

# expect STATUS PATTERN ARGS...: hearth ARGS exits STATUS, stderr+stdout match PATTERN.
expect() {
	local want=$1 pattern=$2 out status
	shift 2
	out=$(timeout 30 "$hearth" "$@" 2>&1)
	status=$?
	if [ "$status" != "$want" ] || ! grep -q -- "$pattern" <<<"$out"; then
		bad "hearth $* -> $status (expected $want), output: $out"
	else
		echo "ok   hearth $* -> $status: $(head -1 <<<"$out")"
	fi
}

# serve SCENARIO: start the fake API on $sock and wait for its "ready" line.
serve() {
	: >"$dir/log"
	coproc SERVER { exec python3 "$here/fake_migrate_api.py" "$sock" "$1" "$dir/log"; }
	server_pid=$SERVER_PID
	local line=
	read -r -t 20 line <&"${SERVER[0]}"
	[ "$line" = ready ] || {
		bad "fake API ($1) did not start"
		return 1
	}
}

# unserve: stop the fake API if it is still there.
unserve() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	server_pid=
}

# run SCENARIO STATUS [ARGS...]: run hearth migrate against SCENARIO, off a
# terminal; its stdout in $dir/out, stderr in $dir/err.
run() {
	local scenario=$1 want=$2 status
	shift 2
	serve "$scenario" || return
	timeout 30 "$hearth" migrate --api-sock "$sock" --to tcp:169.254.1.2:4444 "$@" \
		>"$dir/out" 2>"$dir/err"
	status=$?
	unserve
	if [ "$status" != "$want" ]; then
		bad "$scenario: status $status (expected $want); out: $(cat "$dir/out"); err: $(cat "$dir/err")"
		return 1
	fi
	echo "ok   $scenario -> $status: $(tail -1 "$dir/out") $(cat "$dir/err")"
}

# err_is PATTERN: stderr is exactly one line, matching PATTERN.
err_is() {
	if [ "$(wc -l <"$dir/err")" != 1 ] || ! grep -q -- "$1" "$dir/err"; then
		bad "stderr should be one line matching '$1': $(cat "$dir/err")"
	fi
}

# --- usage errors: 2, nothing sent anywhere.
expect 0 "Usage: hearth migrate --api-sock PATH --to tcp:HOST:PORT" migrate --help
expect 0 "migrate  move a running VM" help
expect 2 "--api-sock is required" migrate --to tcp:1.2.3.4:5
expect 2 "--to is required" migrate --api-sock "$sock"
expect 2 "is not tcp:HOST:PORT" migrate --api-sock "$sock" --to unix:/x
expect 2 "has no HOST:PORT" migrate --api-sock "$sock" --to tcp:1.2.3.4
expect 2 "has no HOST:PORT" migrate --api-sock "$sock" --to tcp::5
expect 2 "port must be 1..65535" migrate --api-sock "$sock" --to tcp:h:0
expect 2 "port must be 1..65535" migrate --api-sock "$sock" --to tcp:h:65536
expect 2 "port is not a number" migrate --api-sock "$sock" --to tcp:h:x1
expect 2 "bad \[IPv6\] host" migrate --api-sock "$sock" --to 'tcp:[]:5'
expect 2 "max-downtime '0' must be 1..60000" migrate --api-sock "$sock" --to tcp:h:5 --max-downtime 0
expect 2 "max-downtime '60001' must be" migrate --api-sock "$sock" --to tcp:h:5 --max-downtime 60001
expect 2 "max-downtime '-3' is not a number" migrate --api-sock "$sock" --to tcp:h:5 --max-downtime -3
expect 2 "max-bandwidth 'fast' is not a number" migrate --api-sock "$sock" --to tcp:h:5 --max-bandwidth fast
expect 2 "--max-downtime needs a value" migrate --api-sock "$sock" --to tcp:h:5 --max-downtime
expect 2 "unknown option '--bogus'" migrate --api-sock "$sock" --to tcp:h:5 --bogus
expect 2 "unexpected argument 'extra'" migrate --api-sock "$sock" --to tcp:h:5 extra
expect 2 "--api-sock is empty" migrate --api-sock "" --to tcp:h:5
# TLS files are checked before anything is sent (status 2, one line naming the file).
printf 'hearth:%s\n' 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff >"$dir/good.psk"
chmod 600 "$dir/good.psk"
cp "$dir/good.psk" "$dir/world.psk" && chmod 644 "$dir/world.psk"
printf 'hearth 00112233445566778899aabbccddeeff\n' >"$dir/nocolon.psk" && chmod 600 "$dir/nocolon.psk"
printf 'hearth:0011223344556677\n' >"$dir/short.psk" && chmod 600 "$dir/short.psk"
printf 'hearth:zz112233445566778899aabbccddeeff\n' >"$dir/nothex.psk" && chmod 600 "$dir/nothex.psk"
expect 2 "--tls-psk $dir/missing.psk: No such file" migrate --api-sock "$sock" --to tcp:h:5 --tls-psk "$dir/missing.psk"
expect 2 "world.psk: others may read or write it (mode 644)" migrate --api-sock "$sock" --to tcp:h:5 --tls-psk "$dir/world.psk"
expect 2 "nocolon.psk: expected IDENTITY:HEXKEY" migrate --api-sock "$sock" --to tcp:h:5 --tls-psk "$dir/nocolon.psk"
expect 2 "short.psk: the key must be at least 16 bytes" migrate --api-sock "$sock" --to tcp:h:5 --tls-psk "$dir/short.psk"
expect 2 "nothex.psk: the key must be hex digits" migrate --api-sock "$sock" --to tcp:h:5 --tls-psk "$dir/nothex.psk"
expect 2 "--tls-cert, --tls-key and --tls-ca go together" migrate --api-sock "$sock" --to tcp:h:5 --tls-cert "$dir/good.psk"
expect 2 "exclude each other" migrate --api-sock "$sock" --to tcp:h:5 --tls-psk "$dir/good.psk" --tls-ca "$dir/good.psk"
# ...and for the destination, before it listens.
expect 2 "world.psk: others may read or write it" run --incoming tcp:127.0.0.1:0 --tls-psk "$dir/world.psk"
expect 2 "missing.psk: No such file" run --incoming tcp:127.0.0.1:0 --tls-psk "$dir/missing.psk"
expect 2 "short.psk: the key must be at least 16 bytes" run --incoming tcp:127.0.0.1:0 --tls-psk "$dir/short.psk"
expect 2 "go with --incoming" run --api-sock "$dir/x.sock" --tls-psk "$dir/good.psk"
out=$(timeout 30 "$hearth" run --incoming tcp:127.0.0.1:0 --tls-psk "$dir/world.psk" 2>&1)
grep -q "listening" <<<"$out" && bad "run --incoming with a bad key file listened: $out"
[ "$(wc -l <<<"$out")" = 1 ] || bad "run --incoming with a bad key file: not one line: $out"
# A good key file: the body names it by its absolute path.
if run complete 0 --tls-psk "$dir/good.psk"; then
	put=$(grep '^PUT /migrate ' "$dir/log")
	python3 - "$put" "$(realpath "$dir/good.psk")" <<'EOF' || bad "tls: PUT /migrate body: $put"
import json, sys
body = json.loads(sys.argv[1].split(" ", 2)[2])
assert body == {"destination": "tcp:169.254.1.2:4444", "tls_psk_file": sys.argv[2]}, body
EOF
fi

# A socket that is not there: 1, one line.
expect 1 "cannot reach the API socket $dir/none" migrate --api-sock "$dir/none" --to tcp:h:5

# --- completed: exit 0, the summary, the body sent, one line per pass/state.
if run complete 0 --max-downtime 40 --max-bandwidth 125; then
	grep -q "^hearth migrate: completed in 1234 ms, downtime 7 ms (1.1 GiB sent, last pass 4)$" \
		"$dir/out" || bad "complete: no summary line: $(cat "$dir/out")"
	[ -s "$dir/err" ] && bad "complete: stderr not empty: $(cat "$dir/err")"
	put=$(grep '^PUT /migrate ' "$dir/log")
	python3 - "$put" <<'EOF' || bad "complete: PUT /migrate body: $put"
import json, sys
body = json.loads(sys.argv[1].split(" ", 2)[2])
assert body == {"destination": "tcp:169.254.1.2:4444", "max_downtime_ms": 40,
                "max_bandwidth_mbps": 125}, body
EOF
	# The client polled until completed (the 11th answer) and no further.
	[ "$(grep -c '^GET /migrate' "$dir/log")" = 11 ] ||
		bad "complete: expected 11 GETs: $(cat "$dir/log")"
	for l in "migrate: setup pass 0" "migrate: precopy pass 1: sent 170.7 MiB of 1.0 GiB" \
		"migrate: precopy pass 2: sent 1.1 GiB of 1.0 GiB, remaining 32.0 MiB, dirty 50.0 MB/s, link 900.0 MB/s, expected downtime 37 ms, throttle 0%" \
		"migrate: precopy pass 3" "migrate: stop_copy pass 4" "migrate: ready pass 4"; do
		grep -qF "$l" "$dir/out" || bad "complete: no line '$l' in: $(cat "$dir/out")"
	done
	# Off a terminal: no carriage returns or escape sequences.
	grep -q $'[\r\033]' "$dir/out" && bad "complete: terminal codes in plain output"
	# The five pass-1 answers came within a second: one line for them, not five.
	n=$(grep -c "migrate: precopy pass 1" "$dir/out")
	[ "$n" -le 2 ] || bad "complete: $n lines for pass 1 (one per pass change or second)"
fi
# No options: the body has the destination only (the source's defaults apply).
if run complete 0; then
	grep -q '^PUT /migrate {"destination":"tcp:169.254.1.2:4444"}$' "$dir/log" ||
		bad "defaults: body: $(grep PUT "$dir/log")"
fi

# --- throttling is told once.
if run throttle 0; then
	[ "$(grep -c 'its vCPUs are throttled (30%)' "$dir/out")" = 1 ] ||
		bad "throttle: not told once: $(cat "$dir/out")"
fi

# --- failures: 1, one line on stderr naming the reason.
run failed 1 && err_is "^hearth migrate: failed: destination closed the connection; the guest runs on at the source$"
run refuse 1 && err_is "^hearth migrate: refused (400): a migration is already in progress$"
run vanish 1 && err_is "^hearth migrate: lost the API socket $sock before the migration completed (last state precopy)"
run notfound 1 && err_is "^hearth migrate: GET /migrate answered 404: invalid request: GET /migrate$"
run garbage 1 && err_is "^hearth migrate: bad GET /migrate answer: answer is not JSON$"

# --- Ctrl-C (the server sends SIGINT while pass 1 runs): PUT /migrate/cancel, exit 1.
if run sigint 1; then
	err_is "^hearth migrate: cancelled by the user; the guest runs on at the source$"
	grep -q '^PUT /migrate/cancel' "$dir/log" || bad "sigint: no PUT /migrate/cancel: $(cat "$dir/log")"
fi

# --- on a terminal: the bar redrawn in place (\r ... ESC[K), then the summary.
serve complete && {
	COLUMNS=100 script -qefc "stty cols 120; '$hearth' migrate --api-sock '$sock' --to tcp:h:5" \
		"$dir/tty" >/dev/null 2>&1 </dev/null
	status=$?
	unserve
	tty=$(tr -d '\n' <"$dir/tty")
	if [ "$status" != 0 ]; then
		bad "tty: status $status: $tty"
	elif ! grep -q $'\r\\[#\\{20\\}\\] 100% 1.1 GiB/1.0 GiB pass 4 dirty 50.0 MB/s left 0 B downtime ~0 ms\033' <<<"$tty" ||
		! grep -q $'\r\\[###\\.\\{17\\}\\]  16% 170.7 MiB/1.0 GiB pass 1' <<<"$tty" ||
		! grep -qF $'\033[K' <<<"$tty" || ! grep -q "hearth migrate: completed in 1234 ms" <<<"$tty"; then
		bad "tty: no bar redrawn in place: $(cat -v "$dir/tty")"
	else
		# No drawn line is wider than the terminal.
		long=$(tr '\r' '\n' <"$dir/tty" | sed 's/\x1b\[K//g' | grep -v '^Script ' | awk 'length > 119')
		[ -z "$long" ] && echo "ok   tty: bar redrawn in place" || bad "tty: lines wider than 119: $long"
	fi
}

exit $fail
