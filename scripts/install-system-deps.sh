#!/bin/sh
# Installs the Debian packages the test suite drives: Chromium (browser tests; with the colour emoji
# font its screenshots show flags), wrk (benchmarks) and PostgreSQL (the lake tests run their own
# server in a temporary folder: only its binaries are needed, no cluster is started here).
# Does nothing when they are already there, so it is cheap to run before every test run.
set -eu
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing="$missing fonts-noto-color-emoji"
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "install-system-deps: need root (or sudo) to apt-get install:$missing" >&2; exit 1
fi
echo "install-system-deps: installing$missing"
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing >/dev/null
