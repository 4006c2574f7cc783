#!/bin/sh
# bench/sync_bench.sh - workspace snapshot benchmark (see sync_bench.c):
# first / no-change / one-file sync, cold and warm restore of a 10,000-file,
# 200 MB workspace with the directory object store, against tar | zstd.
#
#   BENCH_SYNC_RUNS=5 (runs per case)  MAGS_BUILD_DIR=build  BENCH_KEEP=1
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "sync_bench: run as root (restores set owners)" >&2
	exit 1
fi
B=${MAGS_BUILD_DIR:-build}
make -s B="$B" all
cc -O2 -g -std=gnu11 -D_GNU_SOURCE -Iinclude -Isrc -o "$B/bin/sync_bench" bench/sync_bench.c \
	"$B/lib/libmagsd.a" "$B/lib/libcommon.a" -lzstd -lcrypto

# Scratch on /var/tmp (a disk, like DIR/objects and DIR/cache), not a tmpfs.
DATA=$(mktemp -d /var/tmp/mags-sync-bench-XXXXXX)
cleanup() { [ -n "${BENCH_KEEP:-}" ] || rm -rf "$DATA"; }
trap cleanup EXIT INT TERM

mkdir -p bench/results
"$B/bin/sync_bench" "$DATA" "${BENCH_SYNC_RUNS:-5}" \
	"bench/results/sync-$(date -u +%Y%m%dT%H%M%SZ).json"
