#!/usr/bin/env bash
# The fault suite (docs/RELIABILITY.md): drives the real `layerr serve` binary through crashes,
# store and broker outages, upstream faults, a bad-input fuzz and a soak, and reports figures
# against goals.
#
#   bash scripts/faults.sh              # everything (about 8 minutes once built; a 5-minute soak)
#   bash scripts/faults.sh --short      # a minute or two: SIGTERM/kill -9 on SQLite, a few upstream
#                                       # modes, a small fuzz, a 20 s soak (scripts/test.sh runs this)
#   bash scripts/faults.sh --only crash,upstream [--soak-seconds 60] [--keep]
#
# Scenarios: crash, pg_outage, broker, upstream, fuzz, soak. The report goes to
# target/faults-report/results.md (and .json, and the processes' logs); the exit status is 1 when
# a goal was missed, 2 when the suite itself could not run.
#
# It builds what it needs: `cargo build --profile faults` (release without fat LTO; see
# Cargo.toml), a Python venv with scripts/faults/requirements.txt (${LAYERR_TEST_VENV:-
# ~/.cache/layerr/venv}, the one scripts/test.sh uses), and for the full run the tansu broker
# when it is missing. Postgres scenarios start a private cluster (initdb + pg_ctl from
# /usr/lib/postgresql/*/bin, as the `postgres` user, in a temp dir on a free port): the
# machine's own Postgres is never touched. All traffic goes to 127.0.0.1.
#
# Environment: FAULTS_BIN_DIR (use these binaries, build nothing), LAYERR_TEST_VENV, FAULTS_TANSU_BIN.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

TANSU_VERSION="0.6.0"
VENV="${LAYERR_TEST_VENV:-$HOME/.cache/layerr/venv}"
REQUIREMENTS="scripts/faults/requirements.txt"

if [[ -d "$HOME/.cargo/bin" && ":$PATH:" != *":$HOME/.cargo/bin:"* ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

log() { printf '[faults.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

SHORT=0
ONLY=""
ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --short) SHORT=1; ARGS+=("$1") ;;
        --only) ONLY="$2"; ARGS+=("$1" "$2"); shift ;;
        --only=*) ONLY="${1#--only=}"; ARGS+=("$1") ;;
        --soak-seconds|--out|--tansu) ARGS+=("$1" "$2"); shift ;;
        --keep|--soak-seconds=*|--out=*) ARGS+=("$1") ;;
        -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

DRIVER_PID=""
on_exit() {
    local rc=$?
    # The driver stops every process it started; make sure it is gone too.
    if [[ -n "$DRIVER_PID" ]] && kill -0 "$DRIVER_PID" 2>/dev/null; then
        kill -TERM "$DRIVER_PID" 2>/dev/null || true
        wait "$DRIVER_PID" 2>/dev/null || true
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

setup_venv() {
    local want stamp="$VENV/.layerr-faults-requirements.sha256"
    want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
    if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        log "creating python venv: $VENV"
        rm -rf "$VENV"
        mkdir -p "$(dirname "$VENV")"
        python3 -m venv "$VENV"
    fi
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    log "installing $REQUIREMENTS into $VENV"
    rm -f "$stamp"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    echo "$want" >"$stamp"
}

build() {
    if [[ -n "${FAULTS_BIN_DIR:-}" ]]; then
        BIN_DIR="$(cd "$FAULTS_BIN_DIR" && pwd)"
        log "using the binaries in $BIN_DIR (FAULTS_BIN_DIR)"
    else
        log "building layerr and layerr-mock (cargo profile 'faults')"
        BUILT_FROM="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
        if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
            BUILT_FROM+=" + uncommitted changes"
        fi
        cargo build --profile faults --bins -p layerr -p layerr-mock
        local target="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
        [[ "$target" = /* ]] || target="$REPO_ROOT/$target"
        BIN_DIR="$target/faults"
    fi
    [[ -x "$BIN_DIR/layerr" && -x "$BIN_DIR/layerr-mock" ]] || die "no layerr / layerr-mock in $BIN_DIR"
}

find_tansu() {
    if [[ -n "${FAULTS_TANSU_BIN:-}" ]]; then echo "$FAULTS_TANSU_BIN"
    elif command -v tansu >/dev/null 2>&1; then command -v tansu
    elif [[ -x "$HOME/.cargo/bin/tansu" ]]; then echo "$HOME/.cargo/bin/tansu"
    else return 1
    fi
}

needs_broker() {
    if [[ -n "$ONLY" ]]; then [[ ",$ONLY," == *",broker,"* ]]; else [[ $SHORT -eq 0 ]]; fi
}

BUILT_FROM=""
setup_venv
build
[[ -z "$BUILT_FROM" ]] || ARGS+=(--built-from "$BUILT_FROM")
TANSU=""
if needs_broker; then
    if ! TANSU="$(find_tansu)"; then
        log "installing tansu $TANSU_VERSION for the broker scenario (takes ~10 min once)"
        cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore --quiet
        TANSU="$(find_tansu)" || die "tansu not found after cargo install"
    fi
    ARGS+=(--tansu "$TANSU")
fi

"$VENV/bin/python" scripts/faults/run.py --bin-dir "$BIN_DIR" "${ARGS[@]}" &
DRIVER_PID=$!
set +e
wait "$DRIVER_PID"
rc=$?
set -e
DRIVER_PID=""
exit "$rc"
