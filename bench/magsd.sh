# bench/magsd.sh - sourced by the benchmark scripts that run a throw-away
# magsd on loopback (run.sh, exec_bench.sh, proxy_bench.sh):
#
#   . bench/magsd.sh
#   bench_setup mags-xb        # root check, DATA=/tmp/mags-xb-XXXXXX, cleanup
#                              # on exit, no MAGS_* of the caller, busybox image
#   PORT=$(bench_free_port)
#   export MAGS_IDLE_TIMEOUT=1 # settings for this magsd, as MAGS_<KEY>
#   bench_start_magsd "$PORT" --proxy-listen off --ssh-listen off
#   bench_token                # TOKEN for a new user "bench"
#
# BIN is ${MAGS_BUILD_DIR:-build}/bin; BENCH_DIR (default /tmp) holds DATA;
# BENCH_KEEP=1 keeps it. PID is magsd's until cleanup (or the caller) stops it.

bench_setup() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench: run as root (sandboxes need namespaces and cgroups)" >&2
		exit 1
	fi
	BIN=${MAGS_BUILD_DIR:-build}/bin
	DATA=$(mktemp -d "${BENCH_DIR:-/tmp}/$1-XXXXXX")
	chmod 0755 "$DATA"
	PID=""
	trap bench_cleanup EXIT INT TERM
	# No MAGS_* settings of the caller leak into the server or the CLI.
	for v in $(env | sed -n 's/^\(MAGS_[A-Z_]*\)=.*/\1/p'); do
		[ "$v" = MAGS_BUILD_DIR ] || unset "$v"
	done
	"$BIN/magsd" image build busybox --data-dir "$DATA" 2>/dev/null
}

bench_cleanup() {
	kids=""
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		# its runtimes (a pooled one's command line no longer names DATA)
		kids=$(ps -o pid= --ppid "$PID" 2>/dev/null || true)
		kill -TERM "$PID"
		wait "$PID" 2>/dev/null || true
	fi
	# magsd leaves persistent sandboxes running on shutdown: ours go too
	for p in $kids $(ps -eo pid=,args= | awk -v d="$DATA/" 'index($0, "mags-runtime") && index($0, d) {print $1}'); do
		kill -TERM "$p" 2>/dev/null || true
	done
	if [ -z "${BENCH_KEEP:-}" ] && ! grep -q " $DATA" /proc/self/mountinfo; then
		rm -rf "$DATA"
	fi
}

bench_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bench_start_magsd PORT [serve flags...]: start it, wait until it answers.
bench_start_magsd() {
	port=$1
	shift
	"$BIN/magsd" serve --data-dir "$DATA" --listen "127.0.0.1:$port" --image busybox \
		"$@" >"$DATA/magsd.log" 2>&1 &
	PID=$!
	i=0
	until curl -s -o /dev/null "http://127.0.0.1:$port/api/v1/whoami"; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$PID" 2>/dev/null; then
			echo "bench: magsd did not start:" >&2
			tail -n 20 "$DATA/magsd.log" >&2
			exit 1
		fi
		sleep 0.1
	done
}

bench_token() {
	"$BIN/magsd" user add bench --data-dir "$DATA" >/dev/null
	TOKEN=$("$BIN/magsd" token create --user bench --data-dir "$DATA")
}
