#!/usr/bin/env bash
# System packages the tests exercise for real. Installed only when missing,
# and only when we can (root with apt-get); otherwise the tests that need
# them skip and say why.
set -uo pipefail
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v make >/dev/null 2>&1 || need+=(make)
[ -n "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null)" ] || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The emulated aarch64 run (tests/arm/run.sh).
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static binfmt-support)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: missing ${need[*]}; not root or no apt-get, the tests that need them will skip" >&2
    exit 0
fi
echo "install-test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
    echo "install-test-deps: apt-get install ${need[*]} failed; the tests that need them will skip" >&2
exit 0
