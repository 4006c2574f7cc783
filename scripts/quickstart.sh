#!/bin/sh
# quickstart.sh - from a fresh Debian 12 machine to a first sandbox:
# installs dependencies, builds and installs mags, builds the busybox image,
# starts magsd on 127.0.0.1:8420 (data in /var/lib/mags), creates a user and
# a token, logs the CLI in and runs `mags run 'echo Hello World'`.
# Safe to run again: it reuses the running server, user and login.
#
#   sudo scripts/quickstart.sh
set -eu

DATA_DIR=${MAGS_DATA_DIR:-/var/lib/mags}
LISTEN=${MAGS_LISTEN:-127.0.0.1:8420}
URL="http://$LISTEN"
USER_NAME=${MAGS_USER:-admin}
PREFIX=${PREFIX:-/usr/local}
export MAGS_DATA_DIR="$DATA_DIR"

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
else
	say() { printf '==> %s\n' "$*"; }
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "quickstart: run as root (sudo $0): sandboxes need namespaces and cgroups" >&2
	exit 1
fi
cd "$(dirname "$0")/.."

say "installing dependencies"
scripts/install-deps.sh

say "building"
make -j"$(nproc)"
make install PREFIX="$PREFIX"
MAGSD="$PREFIX/bin/magsd"
MAGS="$PREFIX/bin/mags"

mkdir -p "$DATA_DIR"

if "$MAGSD" image list | grep -q '^default	'; then
	IMAGE=default
else
	IMAGE=busybox
	if ! "$MAGSD" image list | grep -q '^busybox	'; then
		say "building the busybox image (seconds)"
		"$MAGSD" image build busybox
	fi
	echo "    (the full Debian image takes minutes: $MAGSD image build default,"
	echo "     then restart magsd with --image default)"
fi

answers() { curl -s -o /dev/null -m 2 "$URL/api/v1/whoami"; }

if answers; then
	say "magsd already answers on $URL"
else
	say "starting magsd on $URL (image $IMAGE, log $DATA_DIR/magsd.log)"
	nohup "$MAGSD" serve --data-dir "$DATA_DIR" --listen "$LISTEN" --image "$IMAGE" \
		>>"$DATA_DIR/magsd.log" 2>&1 </dev/null &
	echo $! >"$DATA_DIR/magsd.pid"
	i=0
	until answers; do
		i=$((i + 1))
		if [ $i -gt 50 ] || ! kill -0 "$(cat "$DATA_DIR/magsd.pid")" 2>/dev/null; then
			echo "quickstart: magsd did not start; last lines of $DATA_DIR/magsd.log:" >&2
			tail -n 20 "$DATA_DIR/magsd.log" >&2
			exit 1
		fi
		sleep 0.2
	done
fi

if "$MAGS" whoami >/dev/null 2>&1; then
	say "the CLI is already logged in"
else
	say "creating user '$USER_NAME' and a token"
	"$MAGSD" user add "$USER_NAME" >/dev/null 2>&1 || true
	TOKEN=$("$MAGSD" token create --user "$USER_NAME")
	"$MAGS" login --url "$URL" --token "$TOKEN"
fi
"$MAGS" whoami

say "mags run 'echo Hello World'"
"$MAGS" run 'echo Hello World'

cat <<EOT

mags is running. Try:
  mags run 'for i in 1 2 3; do echo \$i; sleep 1; done'
  mags list
  mags logs <id>
Server log: $DATA_DIR/magsd.log   stop it: kill \$(cat $DATA_DIR/magsd.pid)
EOT
