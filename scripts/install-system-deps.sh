#!/usr/bin/env bash
# System packages factorybench uses, installed only when missing and only
# when we can (root with apt-get); otherwise what needs them is skipped and
# says why.
#   scripts/install-system-deps.sh run    what the benchmarks use
#   scripts/install-system-deps.sh test   that, plus what the tests exercise
set -uo pipefail
mode=${1:-run}
case "$mode" in run|test) ;; *) echo "install-system-deps: unknown mode '$mode'; accepted: run, test" >&2; exit 2 ;; esac

need=()
# The benchmarks: the sandbox's strongest backend and the C toolchain
# (compile workloads, the native cross-check).
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v make >/dev/null 2>&1 || need+=(make)
# The JVM and Node.js benchmarks (runtime.*, compile.java).
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
command -v node >/dev/null 2>&1 || need+=(nodejs)
if [ "$mode" = test ]; then
    # PostgreSQL engine tests, the report's browser test, the emulated
    # aarch64 run (tests/arm/run.sh), the Phoronix Test Suite profile test
    # (PTS is PHP; xmllint checks its result files against PTS's schema).
    [ -n "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null)" ] || need+=(postgresql)
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
    # The Slurm fleet test: munged, slurmctld and two slurmd on loopback.
    command -v slurmctld >/dev/null 2>&1 || need+=(slurm-wlm)
    command -v munged >/dev/null 2>&1 || need+=(munge)
    command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
    command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static binfmt-support)
    command -v php >/dev/null 2>&1 || need+=(php-cli)
    php -r 'exit(class_exists("DOMDocument") ? 0 : 1);' >/dev/null 2>&1 || need+=(php-xml)
    command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
    # Fleet tests: sshd instances on loopback addresses stand in for hosts.
    [ -x /usr/sbin/sshd ] || need+=(openssh-server)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: missing ${need[*]}; not root or no apt-get, so what needs them will be skipped with the reason" >&2
    exit 0
fi
echo "install-system-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Several installs may run at once: wait for a held dpkg lock, do not fail.
apt-get -o DPkg::Lock::Timeout=900 update -qq >/dev/null 2>&1 || true
apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
    echo "install-system-deps: apt-get install ${need[*]} failed; what needs them will be skipped with the reason" >&2
exit 0
