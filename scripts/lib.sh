# Shared by scripts/demo.sh and scripts/test.sh: find Odoo 18, PostgreSQL and Redis.
# Odoo is found the standard way: an importable `odoo` package (a source
# install of Odoo 18 with `pip install -e`, or the official image). ODOO_RC may
# name a config file whose addons_path already lists Odoo's addons.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$ROOT/.run"
PYTHON="${PYTHON:-python3}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-odoo}"
REDIS_URL="${WA_REDIS_URL:-redis://127.0.0.1:6379/0}"
mkdir -p "$RUN_DIR/logs"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

install_requirements() {
    say "Installing the project's Python requirements"
    "$PYTHON" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements.txt" 2>&1 \
        | grep -v "Running pip as the 'root' user" >&2 || true
}

find_odoo() {
    local info
    if ! info=$("$PYTHON" - <<'PY' 2>/dev/null
import os, odoo
from odoo import release
pkg = os.path.dirname(odoo.__file__)
source_addons = os.path.normpath(os.path.join(pkg, "..", "addons"))
print(release.version_info[0])
print(source_addons if os.path.isdir(os.path.join(source_addons, "mail")) else os.path.join(pkg, "addons"))
PY
    ); then
        die "Odoo 18 is not importable by $PYTHON. Install it first (README, 'Getting Odoo 18'):
  git clone --depth 1 --branch 18.0 https://github.com/odoo/odoo.git ~/odoo18
  pip install -r ~/odoo18/requirements.txt && pip install -e ~/odoo18
or run everything in Docker with: docker compose up"
    fi
    ODOO_MAJOR=$(sed -n 1p <<<"$info")
    ODOO_ADDONS=$(sed -n 2p <<<"$info")
    [ "$ODOO_MAJOR" = "18" ] || die "Odoo $ODOO_MAJOR found; this addon needs Odoo 18.0"
}

check_services() {
    command -v psql >/dev/null || die "psql not found: install PostgreSQL's client (apt-get install postgresql-client)"
    if ! psql -d postgres -tAc 'select 1' >/dev/null 2>&1; then
        # Odoo refuses to run as the 'postgres' superuser: create a role of its own when we can.
        if psql -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
            say "Creating the PostgreSQL role $PGUSER"
            psql -U postgres -d postgres -qc "CREATE ROLE \"$PGUSER\" LOGIN CREATEDB" >/dev/null
        else
            die "PostgreSQL at $PGHOST:$PGPORT does not accept user $PGUSER (set PGHOST/PGPORT/PGUSER/PGPASSWORD)"
        fi
    fi
    "$PYTHON" -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=2).ping()" "$REDIS_URL" \
        2>/dev/null || die "Redis is not reachable at $REDIS_URL (start redis-server or set WA_REDIS_URL)"
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

# install_db CONF DB DEMO(yes|no): a fresh database with whatsapp_attendance installed
install_db() {
    local conf="$1" db="$2" demo="$3" log="$RUN_DIR/logs/install-$2.log"
    dropdb --if-exists --force "$db" >/dev/null 2>&1 || dropdb --if-exists "$db" >/dev/null 2>&1 || true
    local flags=()
    # the demo speaks the users' language too: Brazilian Portuguese, next to English
    if [ "$demo" = "no" ]; then flags+=(--without-demo=all); else flags+=(--load-language=pt_BR); fi
    if ! odoo -c "$conf" -d "$db" -i whatsapp_attendance "${flags[@]}" --stop-after-init >"$log" 2>&1 \
        || grep -qE " (ERROR|CRITICAL) " "$log"; then
        grep -E " (ERROR|CRITICAL) " -A20 "$log" | head -60 >&2
        die "installing whatsapp_attendance in $db failed (full log: $log)"
    fi
}
