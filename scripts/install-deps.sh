#!/usr/bin/env bash
# Installs every Debian package sluice needs to build, test and benchmark.
# Idempotent: runs apt-get only when something is missing.
set -euo pipefail
pkgs=(
  meson ninja-build pkg-config g++ make
  libdpdk-dev dpdk liburing-dev libtbb-dev libhwloc-dev libsimdjson-dev
  libgtest-dev libgmock-dev libtomlplusplus-dev libcli11-dev libfmt-dev libspdlog-dev
  libcpp-httplib-dev libisal-dev librdkafka-dev libbenchmark-dev libpcap-dev
  clang-14 libclang-rt-14-dev
  kcat python3 python3-kafka python3-confluent-kafka fio iproute2 ethtool util-linux
  tmux chromium iperf3 rsyslog python3-matplotlib
)
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
