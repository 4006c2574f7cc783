#!/bin/sh
# bench/exec_bench.sh - long-lived sandbox benchmark (issue 4): exec round
# trip on a live sandbox (API and CLI) beside a bare fork+exec+wait and
# nsenter, and wake latency (sleeping -> first byte of an exec's output).
# Starts a throw-away magsd with idle_timeout 1 s; see bench/exec_bench.py.
#
#   BENCH_N=200  BENCH_N_WAKE=20  BENCH_FILES=10000 (in the woken workspace)
#   MAGS_BUILD_DIR=build (where the binaries are)  BENCH_DIR=/tmp (its data dir)
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: run as root (sandboxes need namespaces and cgroups)" >&2
	exit 1
fi
BIN=${MAGS_BUILD_DIR:-build}/bin
DATA=$(mktemp -d "${BENCH_DIR:-/tmp}/mags-xb-XXXXXX")
chmod 0755 "$DATA"
PID=""
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID"
		wait "$PID" 2>/dev/null || true
	fi
	if [ -z "${BENCH_KEEP:-}" ] && ! grep -q " $DATA" /proc/self/mountinfo; then
		rm -rf "$DATA"
	fi
}
trap cleanup EXIT INT TERM
for v in $(env | sed -n 's/^\(MAGS_[A-Z_]*\)=.*/\1/p'); do
	[ "$v" = MAGS_BUILD_DIR ] || unset "$v"
done

"$BIN/magsd" image build busybox --data-dir "$DATA" 2>/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MAGS_IDLE_TIMEOUT=1 "$BIN/magsd" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" \
	--image busybox --proxy-listen off --ssh-listen off >"$DATA/magsd.log" 2>&1 &
PID=$!
i=0
until curl -s -o /dev/null "http://127.0.0.1:$PORT/api/v1/whoami"; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$PID" 2>/dev/null; then
		echo "bench: magsd did not start:" >&2
		tail -n 20 "$DATA/magsd.log" >&2
		exit 1
	fi
	sleep 0.1
done
"$BIN/magsd" user add bench --data-dir "$DATA" >/dev/null
TOKEN=$("$BIN/magsd" token create --user bench --data-dir "$DATA")
python3 bench/exec_bench.py --url "http://127.0.0.1:$PORT" --token "$TOKEN" \
	--mags "$BIN/mags" --data "$DATA" --n "${BENCH_N:-200}" \
	--n-wake "${BENCH_N_WAKE:-20}" --files "${BENCH_FILES:-10000}" --idle 1 \
	--out bench/results
