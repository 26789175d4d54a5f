#!/usr/bin/env bash
# The test suite on aarch64 under user-mode emulation (qemu-user-static).
#
#   tests/arm/run.sh            build (once) an arm64 Debian root, install
#                               bubblewrap, gcc, make and PostgreSQL there and
#                               the project's dependencies from aarch64 wheels,
#                               run the checks and the whole smoke profile
#   tests/arm/run.sh --rebuild  throw the cached root away first
#
# The Debian mirror is the host's: the entry for $FACTORYBENCH_ARM_SUITE in
# its apt sources (tests/arm/apt_mirror.py); FACTORYBENCH_ARM_MIRROR overrides.
#
# Needs root, debootstrap, qemu-user-static and bubblewrap (Debian packages)
# and binfmt_misc. The root is cached in $FACTORYBENCH_ARM_ROOT (default
# /var/cache/factorybench-arm/bookworm-arm64), outside the repository: a cold
# run builds it (~20 min on a busy 2-core machine), a warm one only checks.
#
# EMULATED TIMINGS ARE MEANINGLESS. This run proves that the code works on
# aarch64 (every benchmark id of the smoke profile: validated records, or a
# skip for a capability emulation lacks); the result files it writes are
# tagged as emulated and kept under .cache/arm/, never under results/.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ARM_ROOT=${FACTORYBENCH_ARM_ROOT:-/var/cache/factorybench-arm/bookworm-arm64}
SUITE=${FACTORYBENCH_ARM_SUITE:-bookworm}
OUT="$REPO/.cache/arm"
LOG="$OUT/run.log"
VENV=/opt/factorybench-venv   # inside the root
SRC=/src                      # the checkout, bind-mounted read-only

say() { echo "arm/run.sh: $*" | tee -a "$LOG" >&2; }
die() { echo "arm/run.sh: $*" >&2; exit 2; }

mkdir -p "$OUT"
: >"$LOG"
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, mounts)"
command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install debootstrap qemu-user-static binfmt-support"
command -v qemu-aarch64-static >/dev/null || die "qemu-aarch64-static missing: apt-get install qemu-user-static binfmt-support"
[ "${1:-}" = "--rebuild" ] && { say "removing cached root $ARM_ROOT"; rm -rf "$ARM_ROOT"; }
[ $# -le 1 ] || die "unknown arguments: $*; accepted: --rebuild"
case "${1:---}" in --|--rebuild) ;; *) die "unknown argument ${1}; accepted: --rebuild" ;; esac

say "EMULATION RUN (qemu-user aarch64 on $(uname -m)): timings are meaningless and are never reported as results"

# -- binfmt_misc: the kernel hands aarch64 ELF files to qemu-aarch64-static --
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null ||
        die "cannot mount binfmt_misc (needs a privileged container or a VM)"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
fi
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || die "binfmt handler qemu-aarch64 not registered (update-binfmts --enable qemu-aarch64 failed)"

# -- the arm64 root, built once -------------------------------------------
t0=$SECONDS
if [ ! -f "$ARM_ROOT/.factorybench-root-ok" ]; then
    # The host's own mirror, as its apt configuration names it, unless overridden.
    MIRROR=${FACTORYBENCH_ARM_MIRROR:-}
    if [ -z "$MIRROR" ]; then
        MIRROR=$(python3 "$HERE/apt_mirror.py" "$SUITE" 2>&1) || die "$MIRROR"
    fi
    say "debootstrap $SUITE arm64 from $MIRROR into $ARM_ROOT (about 3 minutes)"
    rm -rf "$ARM_ROOT.partial"
    mkdir -p "$(dirname "$ARM_ROOT")"
    debootstrap --arch=arm64 --variant=minbase \
        --include=python3,python3-venv,python3-pip,gcc,libc6-dev,ca-certificates \
        "$SUITE" "$ARM_ROOT.partial" "$MIRROR" >>"$LOG" 2>&1 ||
        die "debootstrap failed; see $LOG"
    rm -rf "$ARM_ROOT"
    mv "$ARM_ROOT.partial" "$ARM_ROOT"
    touch "$ARM_ROOT/.factorybench-root-ok"
    say "root built in $((SECONDS - t0)) s"
fi

# -- mounts, always undone ---------------------------------------------------
MOUNTS=()
cleanup() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount -l "${MOUNTS[$i]}" 2>/dev/null || true
    done
}
trap cleanup EXIT
bind() {  # bind SRC DEST [ro]
    mkdir -p "$2"
    mount --bind "$1" "$2"
    MOUNTS+=("$2")
    if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}
mount -t proc proc "$ARM_ROOT/proc"; MOUNTS+=("$ARM_ROOT/proc")
bind /sys "$ARM_ROOT/sys" ro
bind /dev "$ARM_ROOT/dev"
# A private /dev/shm: the tests' scratch trees stay inside this run.
mount -t tmpfs -o size=2g tmpfs "$ARM_ROOT/dev/shm"; MOUNTS+=("$ARM_ROOT/dev/shm")
bind "$REPO" "$ARM_ROOT$SRC" ro
# The project's caches (.cache: native library, DB datasets and clusters)
# are writable and kept in the root, over the read-only checkout's.
mkdir -p "$ARM_ROOT/var/cache/factorybench-project" "$REPO/.cache"
bind "$ARM_ROOT/var/cache/factorybench-project" "$ARM_ROOT$SRC/.cache"
mkdir -p "$ARM_ROOT/out"
bind "$OUT" "$ARM_ROOT/out"
# Reference data beside the checkout (real /proc/cpuinfo dumps), where the
# tests look for it: the checkout's parent directory, here /.
if [ -d "$REPO/../shared" ]; then
    bind "$(cd "$REPO/../shared" && pwd)" "$ARM_ROOT/shared" ro
fi

# -- network configuration for pip: the host's resolver, pip config and CAs --
cp -L /etc/resolv.conf "$ARM_ROOT/etc/resolv.conf" 2>/dev/null || true
cp -L /etc/hosts "$ARM_ROOT/etc/hosts" 2>/dev/null || true
for conf in /etc/pip.conf /etc/xdg/pip/pip.conf "$HOME/.config/pip/pip.conf" "$HOME/.pip/pip.conf"; do
    if [ -f "$conf" ]; then
        mkdir -p "$ARM_ROOT$(dirname "$conf")"
        cp -L "$conf" "$ARM_ROOT$conf"
        # Files the config names (cert = ..., constraint = ...) come along.
        for ref in $(sed -n 's/^[^#;=]*=[[:space:]]*//p' "$conf"); do
            if [ "${ref#/}" != "$ref" ] && [ -f "$ref" ]; then
                mkdir -p "$ARM_ROOT$(dirname "$ref")"
                cp -L "$ref" "$ARM_ROOT$ref"
            fi
        done
    fi
done
for ca in /etc/ssl/certs/ca-certificates.crt "${PIP_CERT:-}" "${REQUESTS_CA_BUNDLE:-}" "${SSL_CERT_FILE:-}"; do
    if [ -n "$ca" ] && [ -f "$ca" ]; then
        mkdir -p "$ARM_ROOT$(dirname "$ca")"
        cp -L "$ca" "$ARM_ROOT$ca"
    fi
done
PASS_ENV=()
for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CERT PIP_DEFAULT_TIMEOUT REQUESTS_CA_BUNDLE SSL_CERT_FILE \
           HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
    [ -n "${!var:-}" ] && PASS_ENV+=("$var=${!var}")
done

# The root is entered with pivot_root in a private mount namespace, not
# chroot: the kernel refuses user namespaces to a chrooted process, and the
# sandbox's bwrap needs them.
mkdir -p "$ARM_ROOT/.oldroot"
# Bytecode goes to the root's /tmp (the checkout is read-only there): an
# emulated interpreter compiling every module again in every child is slow.
in_root() {  # run a command inside the arm64 root with a clean environment
    unshare --mount --propagation private --fork -- /bin/sh -ec '
        mount --rbind "$1" "$1"; cd "$1"; pivot_root . .oldroot; shift
        umount -l /.oldroot; cd /; exec "$@"' in_root "$ARM_ROOT" \
        /usr/bin/env -i HOME=/root PATH="$VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        LANG=C.UTF-8 PYTHONPYCACHEPREFIX=/tmp/pycache PYTHONPATH="$SRC" \
        NUMBA_CACHE_DIR=/tmp/numba-cache FACTORYBENCH_EMULATED=qemu-user \
        PIP_DISABLE_PIP_VERSION_CHECK=1 "${PASS_ENV[@]}" "$@"
}

# -- system packages the benchmarks use, installed once per package list --------
# (the sandbox's bwrap backend, the compile workloads' toolchain, PostgreSQL,
# the runtime workloads' JDK and Node.js)
ROOT_PACKAGES="bubblewrap gcc libc6-dev make postgresql util-linux procps default-jdk-headless nodejs"
if [ "$(cat "$ARM_ROOT/.factorybench-packages" 2>/dev/null)" != "$ROOT_PACKAGES" ]; then
    t1=$SECONDS
    say "apt-get install in the arm64 root: $ROOT_PACKAGES"
    # Packages never start services in the root.
    printf '#!/bin/sh\nexit 101\n' >"$ARM_ROOT/usr/sbin/policy-rc.d"
    chmod 755 "$ARM_ROOT/usr/sbin/policy-rc.d"
    { in_root apt-get update -qq &&
      in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $ROOT_PACKAGES; } >>"$LOG" 2>&1 ||
        die "apt-get install in the arm64 root failed; see $LOG"
    echo "$ROOT_PACKAGES" >"$ARM_ROOT/.factorybench-packages"
    say "system packages installed in $((SECONDS - t1)) s"
fi

# -- bwrap: the host's binary, first on the root's PATH ----------------------------
# qemu-user refuses clone() with namespace flags (EINVAL), so the arm64 bwrap
# cannot start under emulation; the host's runs natively, and everything it
# sandboxes (compilers, tools, /bin/true) is arm64 code under qemu. The
# sandbox's own logic (probing, binds, limits) runs in the emulated Python.
host_bwrap=$(command -v bwrap || true)
[ -n "$host_bwrap" ] || die "bwrap missing on the host: apt-get install bubblewrap"
bwrap_key=$(sha256sum "$host_bwrap" | cut -c1-16)
if [ "$(cat "$ARM_ROOT/usr/local/bin/.bwrap-key" 2>/dev/null)" != "$bwrap_key" ]; then
    mkdir -p "$ARM_ROOT/usr/local/bin"
    # Its x86-64 loader and libraries, beside the root's arm64 ones (multiarch paths).
    for lib in $(ldd "$host_bwrap" | grep -o '/[^ ]*'); do
        mkdir -p "$ARM_ROOT$(dirname "$lib")"
        cp -L "$lib" "$ARM_ROOT$lib"
    done
    cp -L "$host_bwrap" "$ARM_ROOT/usr/local/bin/bwrap"
    echo "$bwrap_key" >"$ARM_ROOT/usr/local/bin/.bwrap-key"
fi
arm_bwrap=$(in_root /usr/bin/bwrap --ro-bind / / /bin/true 2>&1 | tail -n 1) || true
say "arm64 bwrap under qemu-user: ${arm_bwrap:-runs}; the sandbox uses the host's bwrap ($host_bwrap)"

# -- the project's dependencies, reinstalled only when pyproject.toml changed --
deps_key=$(sha256sum "$REPO/pyproject.toml" | cut -c1-16)
if [ "$(cat "$ARM_ROOT$VENV/.deps-key" 2>/dev/null)" != "$deps_key" ]; then
    t1=$SECONDS
    say "pip install of the project's dependencies (aarch64 wheels)"
    in_root python3 -m venv "$VENV" >>"$LOG" 2>&1
    # The checkout is read-only in the root (an editable install would write
    # into it), so install the declared dependencies and use PYTHONPATH.
    in_root python3 - >"$ARM_ROOT/tmp/requirements.txt" <<PY
import tomllib
p = tomllib.load(open("$SRC/pyproject.toml", "rb"))["project"]
print("\n".join(p["dependencies"] + p.get("optional-dependencies", {}).get("test", [])))
PY
    in_root "$VENV/bin/pip" install -q --only-binary=:all: -r /tmp/requirements.txt >>"$LOG" 2>&1 ||
        die "pip install in the arm64 root failed; see $LOG"
    echo "$deps_key" >"$ARM_ROOT$VENV/.deps-key"
    say "dependencies installed in $((SECONDS - t1)) s"
fi

# -- the checks ---------------------------------------------------------------
t2=$SECONDS
# A fresh Numba cache each run, so the kernels really compile for aarch64.
rm -rf "$ARM_ROOT/tmp/numba-cache"
say "sysinfo, Numba kernels, child processes and result writing under emulation"
status=0
in_root python "$SRC/tests/arm/emulated_checks.py" --out /out 2>&1 | tee -a "$LOG" || status=1

TESTS=()
for t in "$REPO"/tests/test_sysinfo*.py "$REPO"/tests/test_arm*.py "$REPO"/tests/test_topology*.py \
         "$REPO"/tests/test_model*.py "$REPO"/tests/test_stats*.py "$REPO"/tests/test_results*.py; do
    [ -f "$t" ] && TESTS+=("$SRC/tests/$(basename "$t")")
done
if [ ${#TESTS[@]} -gt 0 ]; then
    say "pytest under emulation: ${TESTS[*]}"
    in_root sh -c "cd /tmp && python -m pytest -q -p no:cacheprovider -m 'not slow' --rootdir=$SRC -c $SRC/pyproject.toml ${TESTS[*]}" 2>&1 |
        tee -a "$LOG" || status=1
fi
say "checks took $((SECONDS - t2)) s; total $((SECONDS - t0)) s; log $LOG"
if [ $status -eq 0 ]; then
    say "PASS (emulated aarch64; timings meaningless)"
else
    say "FAIL (emulated aarch64)"
fi
exit $status
