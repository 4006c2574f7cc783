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
. bench/magsd.sh
bench_setup mags-pb
cc -O2 -static -o "$DATA/tinyhttpd" bench/tinyhttpd.c
PORT=$(bench_free_port)
PPORT=$(bench_free_port)
export MAGS_IDLE_TIMEOUT=1
bench_start_magsd "$PORT" --proxy-listen "127.0.0.1:$PPORT" --ssh-listen off
bench_token
python3 bench/proxy_bench.py --url "http://127.0.0.1:$PORT" --token "$TOKEN" \
	--proxy-port "$PPORT" --backend "$DATA/tinyhttpd" --rounds "${BENCH_ROUNDS:-3}" --secs "${BENCH_SECS:-4}" \
	--conns "${BENCH_CONNS:-32}" --n-wake "${BENCH_N_WAKE:-10}" --out bench/results
