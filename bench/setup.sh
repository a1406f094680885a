#!/bin/sh
# setup.sh installs the Debian packages the benchmark's peers need: Mininet
# (Debian's package, without Open vSwitch: the benchmark uses Linux bridges and
# no controller), bridge-utils and iputils-ping. nslab itself and its tests
# need none of them. Run once, as root: sh bench/setup.sh
set -eu
if [ "$(id -u)" != 0 ]; then
	echo "setup.sh: run as root (it installs Debian packages)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends mininet bridge-utils iputils-ping iproute2 procps
# Mininet's Python modules are installed for Debian's python3.
/usr/bin/python3 -c 'import mininet.net; print("mininet", mininet.net.VERSION)'
