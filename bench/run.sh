#!/bin/sh
# bench/run.sh - run-latency benchmark (make bench).
#
# Builds mags, starts a throw-away magsd on loopback with the busybox image,
# then bench/bench.py measures, in the same run:
#   mags --version              CLI start-up
#   mags run -e 'true'          whole CLI process, wall clock (the target)
#   api create->exit            POST /mags-jobs until the job has ended
#   unshare -fpmiun --mount-proc true     util-linux, namespaces only
#   bwrap --unshare-all ... true          bubblewrap on the busybox rootfs
#   runc run                              a minimal OCI bundle on that rootfs
# and prints median and p99 of each; JSON goes to bench/results/<time>.json.
#
#   BENCH_N=200 (runs per case)  BENCH_KEEP=1 (keep the temp data dir)
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: run as root (sandboxes need namespaces and cgroups)" >&2
	exit 1
fi
make -s all

DATA=$(mktemp -d /tmp/mags-bench-XXXXXX)
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

# No MAGS_* settings of the caller leak into the server or the CLI.
for v in $(env | sed -n 's/^\(MAGS_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

build/bin/magsd image build busybox --data-dir "$DATA" 2>/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
build/bin/magsd serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --image busybox \
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
build/bin/magsd user add bench --data-dir "$DATA" >/dev/null
TOKEN=$(build/bin/magsd token create --user bench --data-dir "$DATA")

python3 bench/bench.py --url "http://127.0.0.1:$PORT" --token "$TOKEN" \
	--rootfs "$DATA/images/busybox/rootfs" --work "$DATA" \
	--n "${BENCH_N:-200}" --out bench/results

# Workspace snapshots: sync and restore of a 10,000-file / 200 MB workspace.
bench/sync_bench.sh

# Long-lived sandboxes: exec round trip and wake latency.
bench/exec_bench.sh
