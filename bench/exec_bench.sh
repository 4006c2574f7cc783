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
. bench/magsd.sh
bench_setup mags-xb
PORT=$(bench_free_port)
export MAGS_IDLE_TIMEOUT=1
bench_start_magsd "$PORT" --proxy-listen off --ssh-listen off
bench_token
python3 bench/exec_bench.py --url "http://127.0.0.1:$PORT" --token "$TOKEN" \
	--mags "$BIN/mags" --data "$DATA" --n "${BENCH_N:-200}" \
	--n-wake "${BENCH_N_WAKE:-20}" --files "${BENCH_FILES:-10000}" --idle 1 \
	--out bench/results
