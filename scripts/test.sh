#!/usr/bin/env bash
# The one command that runs Shale's whole test suite on a fresh Debian machine
# with Rust installed: lint, build, cargo tests (incl. fuzz corpus replays)
# and the S3 compatibility suite (tests/compat) against the built binary.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step=""
on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        echo >&2
        echo "==> FAILED at step: ${step:-setup} (exit $rc)" >&2
    fi
}
trap on_exit EXIT

run_step() {
    step="$1"
    shift
    echo
    echo "==> ${step}"
    "$@"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_system_deps() {
    local missing=()
    dpkg -s libclang-dev >/dev/null 2>&1 || missing+=(libclang-dev)
    python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v s3cmd >/dev/null 2>&1 || missing+=(s3cmd)
    command -v rclone >/dev/null 2>&1 || missing+=(rclone)
    command -v restic >/dev/null 2>&1 || missing+=(restic)
    # LazyFS (tests/fault/lazyfs.py): fusermount, and libfuse.so.2 for fusepy.
    dpkg -s fuse >/dev/null 2>&1 || missing+=(fuse)
    dpkg -s libfuse2 >/dev/null 2>&1 || missing+=(libfuse2)
    # The web console's end-to-end tests (tests/compat/test_console.py):
    # Debian's headless browser and its WebDriver, driven by Selenium.
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "system packages already installed"
        return
    fi
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

install_python_deps() {
    # Debian marks its Python "externally managed" (PEP 668); this machine's
    # test tools go into it anyway, as pip would on any other distribution.
    local stdlib
    stdlib="$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')"
    if [ -e "$stdlib/EXTERNALLY-MANAGED" ]; then
        export PIP_BREAK_SYSTEM_PACKAGES=1
    fi
    python3 -m pip install -q -r tests/compat/requirements.txt
}

run_step "install system packages (libclang-dev, pip, openssl, s3cmd, rclone, restic, fuse, libfuse2, chromium, chromium-driver)" install_system_deps
run_step "install Python test dependencies" install_python_deps
run_step "cargo fmt --check" cargo fmt --all -- --check
run_step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
run_step "cargo build" cargo build --workspace --all-targets
run_step "cargo test" cargo test --workspace

target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$PWD/$target_dir" ;;
esac
export SHALE_BIN="$target_dir/debug/shale"
# Two pytest-xdist workers (the CI machine has 2 cores; a third only adds CPU
# contention), each with its own `shale dev` servers, temp dirs and slice of
# ports (tests/compat/ports.py). `--dist loadfile`: a file's tests stay on one
# worker, so module-scoped servers start once and tests of a file keep their
# order. SHALE_COMPAT_WORKERS=0 runs the suite serially.
compat_workers="${SHALE_COMPAT_WORKERS:-2}"
run_step "S3 compatibility suite (tests/compat, $compat_workers workers, SHALE_BIN=$SHALE_BIN)" \
    python3 -m pytest tests/compat -q -n "$compat_workers" --dist loadfile
# Real processes killed, paused, wiped, rotted and filled under a verifying
# workload; each scenario prints its figures (objects written, faults,
# bytes verified, objects healed, time to heal).
run_step "fault-injection suite (tests/fault, SHALE_BIN=$SHALE_BIN)" \
    python3 -m pytest tests/fault -q

step=""
echo
echo "==> all steps passed"
