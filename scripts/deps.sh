#!/usr/bin/env bash
# deps.sh: installs the Debian 12 packages semdex needs to build and test,
# only those that are missing.  Run as root (or with sudo available).
set -eu
pkgs="make gcc libc6-dev libutf8proc-dev libpcre2-dev libsqlite3-dev"
missing=""
for p in $pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi
