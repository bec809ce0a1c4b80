#!/usr/bin/env bash
# Installs what chanbench needs from Debian's archive (the only registry these
# machines reach). Idempotent: installs only the packages that are missing.
#   scripts/install-deps.sh            core: build, tests, benchmarks, reports
#   scripts/install-deps.sh --peers    also the peers (Go, Rust crates, GLib, TBB, ...)
set -euo pipefail

core=(build-essential cmake pkg-config git libck-dev libbenchmark-dev libbenchmark-tools
      python3 python3-pytest python3-pytest-xdist python3-pytest-timeout python3-hypothesis
      python3-matplotlib python3-scipy python3-numpy clang libclang-rt-14-dev)
peers=(golang-go cargo rustc librust-crossbeam-channel-dev librust-flume-dev librust-tokio-dev
       libglib2.0-dev libzmq3-dev libtbb-dev libconcurrentqueue-dev libreaderwriterqueue-dev
       libboost-dev liburcu-dev)

want=("${core[@]}")
for a in "$@"; do
  case "$a" in
    --peers) want+=("${peers[@]}") ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "install-deps: unknown option '$a' (try --help)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
