#!/bin/sh
# bench/proxy_bench.sh - URL proxy benchmark (issue 5): wrk against a small
# keep-alive server (bench/tinyhttpd.c) in a sandbox, directly and through magsd's proxy (added latency,
# throughput), and wake-on-request (sleeping -> first byte through the
# proxy). Starts a throw-away magsd with idle_timeout 1 s; see
# bench/proxy_bench.py. Needs wrk (scripts/install-deps.sh).
#
#   BENCH_ROUNDS=3  BENCH_SECS=4  BENCH_CONNS=32  BENCH_N_WAKE=10
#   MAGS_BUILD_DIR=build (where the binaries are)  BENCH_DIR=/tmp (its data dir)
set -eu
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
	echo "bench: wrk not installed (apt-get install wrk, or scripts/install-deps.sh)" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: run as root (sandboxes need namespaces and cgroups)" >&2
	exit 1
fi
BIN=${MAGS_BUILD_DIR:-build}/bin
DATA=$(mktemp -d "${BENCH_DIR:-/tmp}/mags-pb-XXXXXX")
chmod 0755 "$DATA"
PID=""
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID"
		wait "$PID" 2>/dev/null || true
	fi
	# magsd leaves persistent sandboxes running on shutdown: ours go too
	for p in $(ps -eo pid=,args= | awk -v d="$DATA/" 'index($0, "mags-runtime") && index($0, d) {print $1}'); do
		kill -TERM "$p" 2>/dev/null || true
	done
	if [ -z "${BENCH_KEEP:-}" ] && ! grep -q " $DATA" /proc/self/mountinfo; then
		rm -rf "$DATA"
	fi
}
trap cleanup EXIT INT TERM
for v in $(env | sed -n 's/^\(MAGS_[A-Z_]*\)=.*/\1/p'); do
	[ "$v" = MAGS_BUILD_DIR ] || unset "$v"
done

cc -O2 -static -o "$DATA/tinyhttpd" bench/tinyhttpd.c
"$BIN/magsd" image build busybox --data-dir "$DATA" 2>/dev/null
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
PPORT=$(free_port)
MAGS_IDLE_TIMEOUT=1 "$BIN/magsd" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" \
	--image busybox --proxy-listen "127.0.0.1:$PPORT" --ssh-listen off \
	>"$DATA/magsd.log" 2>&1 &
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
python3 bench/proxy_bench.py --url "http://127.0.0.1:$PORT" --token "$TOKEN" \
	--proxy-port "$PPORT" --backend "$DATA/tinyhttpd" --rounds "${BENCH_ROUNDS:-3}" --secs "${BENCH_SECS:-4}" \
	--conns "${BENCH_CONNS:-32}" --n-wake "${BENCH_N_WAKE:-10}" --out bench/results
