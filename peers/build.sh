#!/usr/bin/env bash
# Builds the external peers, offline:
#   programs, into BUILD_DIR/peers/bin (throughput and ping-pong only):
#     peer-go-chan                        (peers/go, Go standard library only)
#     peer-crossbeam-native, peer-flume-native,
#     peer-tokio-mpsc-native, peer-std-mpsc-native   (peers/rust, Debian's crates)
#   plug-ins, into BUILD_DIR/peers/plugins (every scenario and conformance test,
#   loaded with --plugin like any implementation):
#     libpeer_crossbeam.so, libpeer_flume.so,
#     libpeer_std-mpsc.so, libpeer_tokio-mpsc.so     (peers/rust-plugin)
#     libpeer_tokio-kinds.so              (peers/rust-plugin: kind tables only,
#                                          bcast-tokio, watch-tokio, oneshot-tokio)
#     libpeer_go-chan-cgo.so              (peers/go-plugin, go build -buildmode=c-shared)
#
#   peers/build.sh [--build-dir DIR]     DIR defaults to build/ in the repository
#
# A missing toolchain or crate skips that language with a message naming the
# Debian package (scripts/install-deps.sh --peers installs them all); the exit
# status is 1 only when a build that could run failed.
# Environment: GO (default: go), CARGO (default: /usr/bin/cargo, Debian's: a
# newer cargo first on PATH writes a Cargo.lock Debian's refuses), RUSTC
# (default: /usr/bin/rustc, the compiler that goes with Debian's cargo).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
build="$repo/build"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build="${2:?--build-dir needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "peers/build.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$build"
out="$(cd "$build" && pwd)/peers"
bin="$out/bin"
plugins="$out/plugins"
mkdir -p "$bin" "$plugins"
built=() skipped=() failed=()

# Seconds since a `date +%s%N` time, with one decimal.
elapsed() {
  local ds=$(( ($(date +%s%N) - $1) / 100000000 ))
  echo "$((ds / 10)).$((ds % 10)) s"
}

# ---------------------------------------------------------------- Go
GO="${GO:-go}"
if ! command -v "$GO" >/dev/null 2>&1; then
  echo "peers/build.sh: go-chan skipped: no Go toolchain ('$GO' not found; Debian package golang-go)" >&2
  skipped+=(go-chan)
else
  echo "peers/build.sh: building go-chan with $("$GO" version)"
  start=$(date +%s%N)
  if (cd "$repo/peers/go" &&
      GOCACHE="$out/go-cache" GOPATH="$out/gopath" GOFLAGS= GO111MODULE=on GOPROXY=off \
        "$GO" build -trimpath -o "$bin/peer-go-chan" .); then
    echo "peers/build.sh: go-chan built in $(elapsed "$start")"
    built+=(go-chan)
  else
    echo "peers/build.sh: go-chan: go build failed (output above)" >&2
    failed+=(go-chan)
  fi
  echo "peers/build.sh: building go-chan-cgo (c-shared plug-in)"
  start=$(date +%s%N)
  if (cd "$repo/peers/go-plugin" &&
      GOCACHE="$out/go-cache" GOPATH="$out/gopath" GOFLAGS= GO111MODULE=on GOPROXY=off CGO_ENABLED=1 \
        "$GO" build -trimpath -buildmode=c-shared -o "$plugins/libpeer_go-chan-cgo.so" .); then
    rm -f "$plugins/libpeer_go-chan-cgo.h"   # the generated header: nobody includes it
    echo "peers/build.sh: go-chan-cgo built in $(elapsed "$start")"
    built+=(go-chan-cgo)
  else
    echo "peers/build.sh: go-chan-cgo: go build -buildmode=c-shared failed (output above)" >&2
    failed+=(go-chan-cgo)
  fi
fi

# ---------------------------------------------------------------- Rust
CARGO="${CARGO:-/usr/bin/cargo}"
RUSTC="${RUSTC:-/usr/bin/rustc}"
rust_peers=(crossbeam-native flume-native tokio-mpsc-native std-mpsc-native)
rust_plugins=(crossbeam flume tokio-mpsc std-mpsc tokio-kinds)
registry=/usr/share/cargo/registry
missing=()
# crate directory prefix -> Debian package
for pair in crossbeam-channel:librust-crossbeam-channel-dev flume:librust-flume-dev \
            tokio:librust-tokio-dev libc:librust-libc-dev; do
  crate="${pair%%:*}" pkg="${pair#*:}"
  compgen -G "$registry/$crate-[0-9]*" >/dev/null || missing+=("$crate ($pkg)")
done
if ! command -v "$CARGO" >/dev/null 2>&1 || ! command -v "$RUSTC" >/dev/null 2>&1; then
  echo "peers/build.sh: Rust peers skipped: no Rust toolchain ('$CARGO' / '$RUSTC' not found; Debian packages cargo, rustc)" >&2
  skipped+=("${rust_peers[@]}" "${rust_plugins[@]}")
elif [ ${#missing[@]} -gt 0 ]; then
  echo "peers/build.sh: Rust peers skipped: crates missing from $registry: ${missing[*]}" >&2
  skipped+=("${rust_peers[@]}" "${rust_plugins[@]}")
else
  for lock in "$repo/peers/rust/Cargo.lock" "$repo/peers/rust-plugin/Cargo.lock"; do
    if [ -f "$lock" ] && ! grep -q '^version = [123]$' "$lock"; then
      echo "peers/build.sh: removing $lock (written by a newer cargo; $CARGO cannot read it; it is not committed)"
      rm -f "$lock"
    fi
  done
  # cargo_build CRATE_DIR TARGET_DIR: Debian's cargo and rustc, offline.
  cargo_build() {
    (cd "$1" && RUSTC="$RUSTC" CARGO_HOME="$out/cargo-home" CARGO_TARGET_DIR="$2" \
       CHANBENCH_RUSTC_VERSION="$("$RUSTC" --version)" "$CARGO" build --release --offline)
  }
  echo "peers/build.sh: building ${rust_peers[*]} with $("$CARGO" --version), $("$RUSTC" --version)"
  start=$(date +%s%N)
  if cargo_build "$repo/peers/rust" "$out/rust-target"; then
    for p in "${rust_peers[@]}"; do
      cp "$out/rust-target/release/peer-$p" "$bin/peer-$p"
    done
    echo "peers/build.sh: Rust peers built in $(elapsed "$start")"
    built+=("${rust_peers[@]}")
  else
    echo "peers/build.sh: Rust peers: cargo build failed (output above)" >&2
    failed+=("${rust_peers[@]}")
  fi
  echo "peers/build.sh: building the plug-ins ${rust_plugins[*]}"
  start=$(date +%s%N)
  if cargo_build "$repo/peers/rust-plugin" "$out/rust-plugin-target"; then
    for p in "${rust_plugins[@]}"; do
      cp "$out/rust-plugin-target/release/libpeer_${p//-/_}.so" "$plugins/libpeer_$p.so"
    done
    echo "peers/build.sh: Rust plug-ins built in $(elapsed "$start")"
    built+=("${rust_plugins[@]}")
  else
    echo "peers/build.sh: Rust plug-ins: cargo build failed (output above)" >&2
    failed+=("${rust_plugins[@]}")
  fi
fi

echo "peers/build.sh: built: ${built[*]:-none}; skipped: ${skipped[*]:-none}; failed: ${failed[*]:-none}"
echo "peers/build.sh: programs in $bin, plug-ins in $plugins"
[ ${#failed[@]} -eq 0 ]
