#!/usr/bin/env bash
# Builds Shale and starts `shale dev` (installing libclang-dev if missing).
# Arguments are passed to `shale dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! dpkg -s libclang-dev >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq libclang-dev
fi
cargo build --release --bin shale
exec "${CARGO_TARGET_DIR:-target}/release/shale" dev "$@"
