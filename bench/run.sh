#!/bin/sh
# bench/run.sh - the benchmark suite (make bench); see bench/README.md.
#
# Builds mags and the load client, starts a throw-away magsd on loopback
# with the busybox image (max_jobs high enough for the density run,
# idle_timeout 0 so idle sandboxes stay live), then, each part writing
# its own JSON:
#   bench/bench.py       (1) one run after another: mags run -e 'true' (whole
#                        CLI), api create->exit, and the peers unshare,
#                        bwrap, runc on the same busybox rootfs
#   bench/throughput.py  (2) 16 clients for 30 s: jobs/s, p50, p99, errors,
#                        the same peers, and where the CPU went
#   bench/density.py     (4) 1,000 live idle sandboxes: time, memory each,
#                        magsd RSS, exec latency, what is left after stop
#   bench/exec_bench.sh  (3) exec round trip on a live sandbox (its own magsd)
#   bench/sync_bench.sh  workspace snapshots (BENCH_SYNC=0 leaves it out)
#   bench/proxy_bench.sh proxied vs direct HTTP, wake on request (BENCH_PROXY=0: out)
#   bench/load.py        200 clients for BENCH_LOAD_SECONDS=60 (BENCH_LOAD=0: out)
# and bench/report.py prints one table and writes bench/results/<time>.json.
#
#   BENCH_N=200 (runs per sequential case)  BENCH_CLIENTS=16  BENCH_SECONDS=30
#   BENCH_DENSITY_N=1000  BENCH_DENSITY_PEER_N=200 (runc)  BENCH_SYNC=1  BENCH_SYNC_RUNS=2
#   BENCH_KEEP=1 (keep the temp data dir)  MAGS_BUILD_DIR=build
set -eu
cd "$(dirname "$0")/.."

B=${MAGS_BUILD_DIR:-build}
BIN=$B/bin
make -s B="$B" all
cc -O2 -g -Wall -Wextra -pthread -o "$BIN/bench-throughput" bench/throughput.c

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
DENSITY_N=${BENCH_DENSITY_N:-1000}
. bench/magsd.sh
bench_setup mags-bench
PARTS=$DATA/parts
mkdir -p "$PARTS" bench/results
PORT=$(bench_free_port)
export MAGS_MAX_JOBS=$((DENSITY_N + 64)) MAGS_IDLE_TIMEOUT=0
bench_start_magsd "$PORT" --proxy-listen off --ssh-listen off
unset MAGS_MAX_JOBS MAGS_IDLE_TIMEOUT
bench_token
URL="http://127.0.0.1:$PORT"
ROOTFS="$DATA/images/busybox/rootfs"

# (1) sequential
MAGS_BUILD_DIR="$B" python3 bench/bench.py --url "$URL" --token "$TOKEN" \
	--rootfs "$ROOTFS" --work "$DATA" --n "${BENCH_N:-200}" --out "$PARTS/seq" ||
	echo "bench: the sequential part failed" >&2

# (2) concurrent clients
python3 bench/throughput.py --loader "$BIN/bench-throughput" --url "$URL" --token "$TOKEN" \
	--mags "$BIN/mags" --magsd-pid "$PID" --rootfs "$ROOTFS" --work "$DATA" \
	--clients "${BENCH_CLIENTS:-16}" --seconds "${BENCH_SECONDS:-30}" \
	--out "$PARTS/throughput.json" || echo "bench: the throughput part failed" >&2

# (4) density
python3 bench/density.py --url "$URL" --token "$TOKEN" --magsd-pid "$PID" --data "$DATA" \
	--rootfs "$ROOTFS" --n "$DENSITY_N" --peer-n "${BENCH_DENSITY_PEER_N:-200}" \
	--out "$PARTS/density.json" || echo "bench: the density part failed" >&2

kill -TERM "$PID"
wait "$PID" 2>/dev/null || true
PID=""

# (3) exec round trip, and workspace snapshots: their own set-ups
touch "$PARTS/mark"
MAGS_BUILD_DIR="$B" bench/exec_bench.sh || echo "bench: the exec part failed" >&2
if [ "${BENCH_SYNC:-1}" != 0 ]; then
	MAGS_BUILD_DIR="$B" BENCH_SYNC_RUNS=${BENCH_SYNC_RUNS:-2} bench/sync_bench.sh ||
		echo "bench: the sync part failed" >&2
fi
newest() { find bench/results -maxdepth 1 -name "$1" -newer "$PARTS/mark" | sort | tail -n 1; }

python3 bench/report.py --seq "$(ls "$PARTS"/seq/*.json 2>/dev/null | tail -n 1)" \
	--throughput "$PARTS/throughput.json" --density "$PARTS/density.json" \
	--exec "$(newest 'exec-*.json')" --sync "$(newest 'sync-*.json')" \
	--load-avg "$LOADAVG" --out bench/results
# issue 5: the public-URL proxy against direct, and wake on request (own magsd)
if [ "${BENCH_PROXY:-1}" != 0 ]; then
	MAGS_BUILD_DIR="$B" bench/proxy_bench.sh || echo "bench: the proxy part failed" >&2
fi
# issue 9: 200 clients submitting and following jobs (own magsd): failures,
# latencies, magsd's peak RSS, what is left after
if [ "${BENCH_LOAD:-1}" != 0 ]; then
	LOADOUT=bench/results/load-$(date -u +%Y%m%dT%H%M%SZ).json
	MAGS_BUILD_DIR="$B" python3 bench/load.py --clients 200 \
		--duration "${BENCH_LOAD_SECONDS:-60}" >"$LOADOUT" &&
		echo "bench: load results in $LOADOUT" ||
		echo "bench: the load part failed (see $LOADOUT)" >&2
fi
