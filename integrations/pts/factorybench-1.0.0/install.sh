#!/bin/bash
# Installs nothing: the profile runs the factorybench checkout it belongs to.
# PTS runs this with the working directory and $HOME set to the install folder.
# The checkout is $FACTORYBENCH_ROOT, or the one this profile folder lives in
# (link the folder into PTS's test-profiles/local/ rather than copying it).
here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
root=${FACTORYBENCH_ROOT:-$(cd "$here/../../.." && pwd)}
if [ ! -x "$root/run.sh" ]; then
    echo "factorybench: no checkout at $root; set FACTORYBENCH_ROOT to one" >&2
    echo 2 > ~/install-exit-status
    exit 2
fi
# Sets up the checkout's .venv once (a few minutes the first time).
"$root/run.sh" --version
echo $? > ~/install-exit-status

# The test: PTS passes "--category C --profile P --threads T --array-mib M".
# $FACTORYBENCH_PTS_SELECTION, when set, runs those benchmarks in place of
# the whole category (the figures stay the category's: a figure of another
# category is not reported). factorybench writes its own result file under
# results/ here, then prints the figures PTS parses into $LOG_FILE.
cat > factorybench <<SCRIPT
#!/bin/bash
root='$root'
SCRIPT
cat >> factorybench <<'SCRIPT'
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --category) if [ -n "$FACTORYBENCH_PTS_SELECTION" ]; then
                        read -r -a picked <<< "$FACTORYBENCH_PTS_SELECTION"
                        args+=("${picked[@]}")
                    else
                        args+=("$2")
                    fi ;;
        --threads) [ "$2" = sweep ] || args+=(--threads "$2") ;;
        --array-mib) [ "$2" = auto ] || args+=(--array-mib "$2") ;;
        *) args+=("$1" "$2") ;;
    esac
    shift 2
done
# The checkout's JIT cache when this user may write it, else one here.
cache="$root/.cache/numba"
[ -w "$cache" ] || cache="$HOME/.cache/numba"
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$cache}"
out="$HOME/results/$(date -u +%Y%m%dT%H%M%SZ)-$$"
mkdir -p "$out"
tags=()
[ -n "$TEST_RESULTS_NAME" ] && tags+=(--tag "pts.result=$TEST_RESULTS_NAME")
[ -n "$TEST_RESULTS_IDENTIFIER" ] && tags+=(--tag "pts.identifier=$TEST_RESULTS_IDENTIFIER")
"$root/.venv/bin/factorybench" run "${args[@]}" "${tags[@]}" --quiet --out "$out" > "$out/run.log" 2>&1
status=$?
result=$(ls "$out"/*.json 2>/dev/null | head -n 1)
if [ -n "$result" ]; then
    "$root/.venv/bin/python" -m suite.export.pts "$result" > "$LOG_FILE" 2>&1
else
    cat "$out/run.log" > "$LOG_FILE"
fi
echo $status > ~/test-exit-status
SCRIPT
chmod +x factorybench
