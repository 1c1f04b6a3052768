# Shared by scripts/demo.sh and scripts/test.sh: sets up (when missing) and finds Odoo 18,
# PostgreSQL and Redis.
#
# Odoo is found the standard way: an `odoo` package importable by $PYTHON (a source install
# of Odoo 18, or the official image) is used as it is. When $PYTHON has no Odoo, the scripts
# build their own, outside the repository, in $WA_CACHE_DIR (default ~/.cache/whatsapp-attendance):
#   odoo-18.0/   a shallow clone of $ODOO_REPO (branch $ODOO_BRANCH)
#   venv-18.0/   a virtual environment with Odoo's and this project's requirements
# and every later run reuses them (a stamp records what was installed). Nothing here writes
# into the repository except .run/ (git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$ROOT/.run"
PYTHON="${PYTHON:-python3}"
ODOO_REPO="${ODOO_REPO:-https://github.com/odoo/odoo.git}"
ODOO_BRANCH="${ODOO_BRANCH:-18.0}"
WA_CACHE_DIR="${WA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/whatsapp-attendance}"
ODOO_SRC="$WA_CACHE_DIR/odoo-$ODOO_BRANCH"
VENV="$WA_CACHE_DIR/venv-$ODOO_BRANCH"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-odoo}"
REDIS_URL="${WA_REDIS_URL:-redis://127.0.0.1:6379/0}"
mkdir -p "$RUN_DIR/logs"
SETUP_STARTED=$SECONDS
STEP=0

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
step() { STEP=$((STEP + 1)); printf '\033[1m==> [%d] %s\033[0m\n' "$STEP" "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }
# run_logged LOG WHAT CMD...: run a command into a log; on failure show its end and stop naming WHAT
run_logged() {
    local log="$1" what="$2"; shift 2
    if ! "$@" >>"$log" 2>&1; then
        tail -25 "$log" | sed 's/^/    | /' >&2
        die "$what failed (full log: $log)"
    fi
}

# -- what is there ---------------------------------------------------------------------------------

# odoo_info PY: prints the major version and the addons folder of the Odoo importable by PY
odoo_info() {
    "$1" - <<'PY' 2>/dev/null
import os, odoo
from odoo import release
pkg = os.path.dirname(odoo.__file__)
source_addons = os.path.normpath(os.path.join(pkg, "..", "addons"))
print(release.version_info[0])
print(source_addons if os.path.isdir(os.path.join(source_addons, "mail")) else os.path.join(pkg, "addons"))
print(os.path.realpath(pkg))
PY
}

# a fingerprint of what the venv was built from: when it changes, the requirements are installed again
venv_stamp() {
    cat "$ODOO_SRC/requirements.txt" "$ROOT/requirements.txt" "$ROOT/requirements-whatsapp-web.txt" 2>/dev/null | sha256sum | cut -c1-16
}

# ODOO_MODE: "importable" ($PYTHON has Odoo), "venv" (ours, complete) or "build" (to be made)
detect_odoo() {
    local info
    if [ "$PYTHON" != "$VENV/bin/python" ] && info=$(odoo_info "$PYTHON"); then
        ODOO_MODE=importable
    elif [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.wa-stamp" 2>/dev/null)" = "$(venv_stamp)" ] \
            && info=$(odoo_info "$VENV/bin/python"); then
        ODOO_MODE=venv
        PYTHON="$VENV/bin/python"
    else
        ODOO_MODE=build
        return
    fi
    ODOO_MAJOR=$(sed -n 1p <<<"$info")
    ODOO_ADDONS=$(sed -n 2p <<<"$info")
    ODOO_PKG=$(sed -n 3p <<<"$info")
    [ "$ODOO_MAJOR" = "18" ] || die "$PYTHON imports Odoo $ODOO_MAJOR ($ODOO_PKG); this addon needs Odoo 18.0
  (set PYTHON to an interpreter with Odoo 18, or to one without Odoo: the scripts then build their own)"
}

# -- system packages (Debian/Ubuntu names) ---------------------------------------------------------

# missing_packages WITH_TESTS: the Debian packages this machine lacks for the steps ahead
missing_packages() {
    local tests="$1" pkgs=()
    command -v psql >/dev/null && command -v dropdb >/dev/null || pkgs+=(postgresql-client)
    command -v curl >/dev/null || pkgs+=(curl)
    if [ "$ODOO_MODE" = build ]; then
        command -v git >/dev/null || pkgs+=(git)
        command -v gcc >/dev/null && command -v make >/dev/null || pkgs+=(build-essential)
        # python-ldap, psycopg2 (Odoo's pins build from source on Python 3.11)
        [ -e /usr/include/ldap.h ] || pkgs+=(libldap2-dev)
        [ -e /usr/include/sasl/sasl.h ] || pkgs+=(libsasl2-dev)
        command -v pg_config >/dev/null || pkgs+=(libpq-dev)
        if command -v "$PYTHON" >/dev/null; then
            "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || pkgs+=(python3-venv)
            "$PYTHON" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
                2>/dev/null || pkgs+=(python3-dev)
        fi
    fi
    if [ "$tests" = yes ]; then
        command -v redis-server >/dev/null || pkgs+=(redis-server)
        command -v chromium >/dev/null || command -v google-chrome >/dev/null \
            || command -v chromium-browser >/dev/null || pkgs+=(chromium)
    fi
    echo "${pkgs[@]}"
}

# ensure_system_packages WITH_TESTS(yes|no)
ensure_system_packages() {
    local missing
    missing=$(missing_packages "$1")
    if [ -z "$missing" ]; then
        note "system packages: all there"
        return
    fi
    local line="apt-get install -y --no-install-recommends $missing"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        note "installing system packages: $missing"
        local log="$RUN_DIR/logs/apt.log"
        run_logged "$log" "apt-get update" env DEBIAN_FRONTEND=noninteractive apt-get update -q
        # shellcheck disable=SC2086
        run_logged "$log" "$line" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
    elif ! command -v apt-get >/dev/null; then
        die "missing system packages (Debian names): $missing — install their equivalents and run again"
    else
        die "missing system packages: $missing. Not root, so not installing them; run:
  sudo apt-get update && sudo $line
and run this script again"
    fi
}

# -- Odoo 18 from Odoo's own source, in a venv of its own ------------------------------------------

clone_odoo() {
    if [ -f "$ODOO_SRC/odoo/release.py" ] && [ -f "$ODOO_SRC/requirements.txt" ]; then
        note "Odoo's source: $ODOO_SRC (already there)"
        return
    fi
    note "cloning $ODOO_REPO (branch $ODOO_BRANCH, shallow) into $ODOO_SRC — a few hundred MB"
    mkdir -p "$WA_CACHE_DIR"
    rm -rf "$ODOO_SRC.partial"
    local depth=(--depth 1)
    [ -d "$ODOO_REPO" ] && depth=()   # a local path: git hard-links it (--depth is for file:// and remotes)
    if ! git clone -q "${depth[@]}" --single-branch --branch "$ODOO_BRANCH" "$ODOO_REPO" "$ODOO_SRC.partial" \
            >"$RUN_DIR/logs/odoo-clone.log" 2>&1; then
        sed 's/^/    | /' "$RUN_DIR/logs/odoo-clone.log" >&2
        rm -rf "$ODOO_SRC.partial"
        die "could not clone Odoo's source from ODOO_REPO=$ODOO_REPO (branch ODOO_BRANCH=$ODOO_BRANCH).
  Check the URL and the network, or point ODOO_REPO at a local copy of Odoo 18's git repository."
    fi
    [ -f "$ODOO_SRC.partial/odoo/release.py" ] || { rm -rf "$ODOO_SRC.partial";
        die "$ODOO_REPO (branch $ODOO_BRANCH) is not Odoo's source: it has no odoo/release.py"; }
    mv "$ODOO_SRC.partial" "$ODOO_SRC"
}

build_venv() {
    command -v "$PYTHON" >/dev/null || die "no Python interpreter '$PYTHON' (set PYTHON to Python 3.10–3.12)"
    "$PYTHON" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))' \
        || die "$PYTHON is Python $("$PYTHON" -c 'import platform; print(platform.python_version())'); Odoo 18 needs 3.10–3.12 (set PYTHON)"
    local log="$RUN_DIR/logs/venv.log" py="$VENV/bin/python" req
    : >"$log"
    if [ ! -x "$py" ]; then
        note "creating the virtual environment $VENV"
        run_logged "$log" "creating a virtual environment with $PYTHON -m venv" "$PYTHON" -m venv "$VENV"
    fi
    local pip=("$py" -m pip install -q --disable-pip-version-check)
    # Odoo 18 pins cbor2 5.4.2 on Python < 3.12: its build needs setuptools<70 and setuptools_scm<8,
    # and pip ignores PIP_CONSTRAINT inside build environments; so build it without isolation
    req="$WA_CACHE_DIR/odoo-requirements-no-cbor2.txt"
    grep -v '^cbor2' "$ODOO_SRC/requirements.txt" >"$req"
    note "installing Odoo's requirements into it (several minutes the first time; log: .run/logs/venv.log)"
    run_logged "$log" "installing the build tools for cbor2 (setuptools<70, setuptools_scm<8)" \
        "${pip[@]}" "setuptools<70" "setuptools_scm<8" wheel
    run_logged "$log" "building cbor2 (Odoo's pin) without build isolation" \
        "${pip[@]}" --no-build-isolation -r <(grep '^cbor2' "$ODOO_SRC/requirements.txt")
    run_logged "$log" "installing Odoo's requirements.txt ($ODOO_SRC/requirements.txt; python-ldap needs libldap2-dev and libsasl2-dev, psycopg2 libpq-dev)" \
        "${pip[@]}" -r "$req"
    # Odoo itself: its source folder on the venv's path (what `pip install -e` does, without writing into it)
    "$py" -c 'import sys, sysconfig; open(sysconfig.get_paths()["purelib"] + "/odoo-source.pth", "w").write(sys.argv[1] + "\n")' \
        "$ODOO_SRC"
    note "installing this project's requirements.txt"
    run_logged "$log" "installing the project's requirements.txt" "${pip[@]}" -r "$ROOT/requirements.txt"
    # the WhatsApp Web client, without its Pillow pin (see requirements-whatsapp-web.txt)
    run_logged "$log" "installing requirements-whatsapp-web.txt (neonize)" "${pip[@]}" --no-deps \
        -r "$ROOT/requirements-whatsapp-web.txt"
    venv_stamp >"$VENV/.wa-stamp"
}

# ensure_odoo: afterwards $PYTHON imports Odoo 18; ODOO_MAJOR, ODOO_ADDONS are set
ensure_odoo() {
    case "$ODOO_MODE" in
        importable) note "Odoo $ODOO_MAJOR importable by $PYTHON ($ODOO_PKG): using it" ;;
        venv) note "Odoo $ODOO_MAJOR in $VENV (from $ODOO_SRC): using it" ;;
        build)
            [ -x "$VENV/bin/python" ] && note "$VENV is incomplete or its requirements changed: installing them again"
            clone_odoo
            build_venv
            local base="$PYTHON"
            PYTHON="$VENV/bin/python"
            detect_odoo
            [ "$ODOO_MODE" = venv ] || die "Odoo is still not importable by $PYTHON after the set-up (base: $base; log: .run/logs/venv.log)"
            note "Odoo $ODOO_MAJOR ready in $VENV"
            ;;
    esac
}

# the project's requirements for an Odoo we did not build (ours have them, see build_venv)
install_requirements() {
    if [ "$ODOO_MODE" = venv ]; then
        note "project requirements: installed in $VENV"
        return
    fi
    note "installing the project's Python requirements into $PYTHON"
    "$PYTHON" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements.txt" 2>&1 \
        | grep -v "Running pip as the 'root' user" >&2 || true
    # the WhatsApp Web client, without its Pillow pin (see requirements-whatsapp-web.txt)
    "$PYTHON" -m pip install -q --disable-pip-version-check --no-deps -r "$ROOT/requirements-whatsapp-web.txt" 2>&1 \
        | grep -v "Running pip as the 'root' user" >&2 || true
}

# setup_base WITH_TESTS(yes|no): system packages, Odoo, the Python requirements, PostgreSQL and Redis
setup_base() {
    local tests="$1"
    step "Odoo 18"
    detect_odoo
    if [ "$ODOO_MODE" = build ]; then
        note "no Odoo importable by $PYTHON: it will be built from $ODOO_REPO (branch $ODOO_BRANCH) in $WA_CACHE_DIR"
    else
        ensure_odoo
    fi
    step "System packages"
    ensure_system_packages "$tests"
    if [ "$ODOO_MODE" = build ]; then
        step "Odoo $ODOO_BRANCH from its source, in a virtual environment"
        ensure_odoo
    fi
    step "Python requirements"
    install_requirements
    step "PostgreSQL and Redis"
    check_services
}

# -- services ----------------------------------------------------------------------------------------

# a superuser's psql when the machine has one: TCP as postgres, or the local socket as the postgres OS user
admin_psql() {
    if psql -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
        psql -U postgres -d postgres "$@"
    elif [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 && command -v runuser >/dev/null \
            && runuser -u postgres -- env -u PGHOST -u PGUSER psql -d postgres -tAc 'select 1' >/dev/null 2>&1; then
        runuser -u postgres -- env -u PGHOST -u PGUSER psql -d postgres "$@"
    else
        return 1
    fi
}

check_services() {
    command -v psql >/dev/null || die "psql not found: install PostgreSQL's client (apt-get install postgresql-client)"
    if psql -d postgres -tAc 'select 1' >/dev/null 2>&1; then
        note "PostgreSQL at $PGHOST:$PGPORT: user $PGUSER accepted"
    else
        # Odoo refuses to run as the 'postgres' superuser: create a role of its own when we can.
        if admin_psql -tAc 'select 1' >/dev/null 2>&1; then
            note "creating the PostgreSQL role $PGUSER (LOGIN CREATEDB)"
            admin_psql -qc "CREATE ROLE \"$PGUSER\" LOGIN CREATEDB${PGPASSWORD:+ PASSWORD '$PGPASSWORD'}" >/dev/null \
                || die "could not create the PostgreSQL role $PGUSER"
            psql -d postgres -tAc 'select 1' >/dev/null 2>&1 \
                || die "PostgreSQL at $PGHOST:$PGPORT still refuses user $PGUSER after creating the role (check pg_hba.conf)"
        else
            die "PostgreSQL at $PGHOST:$PGPORT does not accept user $PGUSER, and no superuser is reachable to create it
  (start PostgreSQL, or set PGHOST/PGPORT/PGUSER/PGPASSWORD)"
        fi
    fi
    "$PYTHON" -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=2).ping()" "$REDIS_URL" \
        2>/dev/null || die "Redis is not reachable at $REDIS_URL (start redis-server or set WA_REDIS_URL)"
    note "Redis at $REDIS_URL: answering"
}

# write_config FILE [extra option lines...]
write_config() {
    local file="$1"; shift
    {
        echo "[options]"
        echo "addons_path = $ODOO_ADDONS,$ROOT"
        echo "db_host = $PGHOST"
        echo "db_port = $PGPORT"
        echo "db_user = $PGUSER"
        echo "db_password = ${PGPASSWORD:-False}"
        echo "data_dir = $RUN_DIR/data"
        for line in "$@"; do echo "$line"; done
    } >"$file"
}

odoo() { "$PYTHON" -m odoo "$@"; }

# a fingerprint of the addon's files: demo.sh upgrades a database only when it changed
addon_fingerprint() {
    (cd "$ROOT" && find whatsapp_attendance -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 \
        | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

# install_db CONF DB DEMO(yes|no): a fresh database with whatsapp_attendance installed
install_db() {
    local conf="$1" db="$2" demo="$3" log="$RUN_DIR/logs/install-$2.log"
    dropdb --if-exists --force "$db" >/dev/null 2>&1 || dropdb --if-exists "$db" >/dev/null 2>&1 || true
    local flags=()
    # demo=yes: the demo speaks the users' language too, Brazilian Portuguese next to English;
    # demo=english: demo data in English only (what OCA CI and the official image's tests install)
    case "$demo" in
        no) flags+=(--without-demo=all) ;;
        english) ;;
        *) flags+=(--load-language=pt_BR) ;;
    esac
    if ! odoo -c "$conf" -d "$db" -i whatsapp_attendance "${flags[@]}" --stop-after-init >"$log" 2>&1 \
        || grep -qE " (ERROR|CRITICAL) " "$log"; then
        grep -E " (ERROR|CRITICAL) " -A20 "$log" | head -60 >&2
        die "installing whatsapp_attendance in $db failed (full log: $log)"
    fi
}
