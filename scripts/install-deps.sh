#!/bin/sh
# install-deps.sh - install every package mags needs to build, test and
# benchmark on Debian 12, with apt-get. Idempotent: when everything is
# already installed it only checks (no apt-get update) and returns quickly.
#
#   sudo scripts/install-deps.sh
set -eu

PACKAGES="
build-essential pkg-config make tar
libmicrohttpd-dev libcurl4-openssl-dev libsqlite3-dev libjansson-dev
libseccomp-dev libzstd-dev libssl-dev libhttp-parser-dev libssh-dev
openssh-client
libcmocka-dev python3 python3-pytest
busybox-static bubblewrap runc debootstrap
iproute2 util-linux procps curl ca-certificates e2fsprogs nftables
wrk
nodejs node-typescript
chromium
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
# npm ships inside NodeSource's nodejs; Debian's nodejs needs the npm package.
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing:$missing" >&2
	echo "install-deps: run as root (sudo $0)" >&2
	exit 1
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing
echo "install-deps: done"
