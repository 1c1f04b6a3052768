#!/usr/bin/env bash
# Sets everything up and starts the product in demo mode: Odoo 18 with the addon
# and demo data, the bridge, and the bundled WhatsApp Cloud API simulator with
# its customer chat page. Ctrl-C stops it all.
#
# On a fresh machine it first sets up what is missing (see scripts/lib.sh): the system
# packages (as root; otherwise it prints the apt-get line), Odoo 18 from $ODOO_REPO in a
# cache folder outside the repository with a virtual environment of its own, the
# PostgreSQL role, the database, the bridge's API key. A second run reuses all of it.
#
#   scripts/demo.sh                 set up (when needed) and start
#   scripts/demo.sh --setup-only    set up (when needed) and stop there
# Variables: PYTHON ODOO_REPO ODOO_BRANCH WA_CACHE_DIR WA_DEMO_DB ODOO_PORT WA_PORT WA_SIM_PORT
#            PGHOST PGPORT PGUSER PGPASSWORD WA_REDIS_URL
source "$(dirname "$0")/lib.sh"

SETUP_ONLY=no
for arg in "$@"; do
    case "$arg" in
        --setup-only) SETUP_ONLY=yes ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $arg (try --help)" ;;
    esac
done

DB="${WA_DEMO_DB:-whatsapp}"
export ODOO_PORT="${ODOO_PORT:-8069}"
BRIDGE_PORT="${WA_PORT:-8080}"
SIM_PORT="${WA_SIM_PORT:-8899}"
BRIDGE_ENV="$RUN_DIR/bridge-$DB.env"
ADDON_STAMP="$RUN_DIR/addon-$DB.sha"

setup_base no

step "Database $DB"
CONF="$RUN_DIR/odoo-demo-$DB.conf"
write_config "$CONF" "http_port = $ODOO_PORT" "http_interface = 127.0.0.1" "workers = 0" \
    "log_level = info" "logfile = $RUN_DIR/logs/odoo-$DB.log"

if psql -d "$DB" -tAc "select 1 from ir_module_module where name='whatsapp_attendance' and state='installed'" \
        2>/dev/null | grep -q 1; then
    if [ "$(cat "$ADDON_STAMP" 2>/dev/null)" = "$(addon_fingerprint)" ]; then
        note "already has the addon, unchanged since its last install or upgrade"
    else
        note "already has the addon, which changed: upgrading it (-u, data kept)"
        log="$RUN_DIR/logs/upgrade-$DB.log"
        if ! odoo -c "$CONF" -d "$DB" -u whatsapp_attendance --stop-after-init --logfile="$log" \
                || grep -qE " (ERROR|CRITICAL) " "$log"; then
            grep -E " (ERROR|CRITICAL) " -A20 "$log" | head -60 >&2
            die "upgrading whatsapp_attendance in $DB failed (full log: $log)"
        fi
        addon_fingerprint >"$ADDON_STAMP"
    fi
else
    note "creating it with whatsapp_attendance and its demo data (about a minute)"
    install_db "$CONF" "$DB" yes
    addon_fingerprint >"$ADDON_STAMP"
    rm -f "$BRIDGE_ENV"
    # a new database reuses message ids: forget what the bridge remembered of an older one
    # (its streams, and the "already sent" keys that would make it skip a new reply)
    "$PYTHON" - "$REDIS_URL" "$DB:" <<'PY'
import sys, redis
client = redis.Redis.from_url(sys.argv[1])
keys = list(client.scan_iter(match=sys.argv[2] + "*", count=1000))
for start in range(0, len(keys), 1000):
    client.delete(*keys[start:start + 1000])
PY
fi

step "The bridge's API key"
if [ -s "$BRIDGE_ENV" ]; then
    note "reusing $BRIDGE_ENV"
else
    # the streams of this database get their own prefix, so several databases can share one Redis
    note "generating the API key of the technical user 'whatsapp-bridge' into .run/bridge-$DB.env"
    key=$(odoo shell -c "$CONF" -d "$DB" --no-http --log-level=warn 2>/dev/null <<'PY' | sed -n 's/^WA_KEY=//p'
user = env.ref('whatsapp_attendance.user_whatsapp_bridge')
print('WA_KEY=' + env['res.users.apikeys'].with_user(user).sudo()._generate(None, 'demo bridge', None))
env['ir.config_parameter'].set_param('whatsapp_attendance.stream_prefix', env.cr.dbname + ':')
# the public URL in rating links: fixed, not whatever host the last administrator logged in from
import os
env['ir.config_parameter'].set_param('web.base.url', 'http://127.0.0.1:' + os.environ['ODOO_PORT'])
env['ir.config_parameter'].set_param('web.base.url.freeze', 'True')
# the demo's customers meet the demo menu first (its 'Suporte técnico' option assigns automatically)
menu = env.ref('whatsapp_attendance.demo_menu_main', raise_if_not_found=False)
if menu:
    env.ref('whatsapp_attendance.demo_account').menu_id = menu
env.cr.commit()
PY
    )
    [ -n "$key" ] || die "could not generate the bridge's API key with odoo shell on $DB"
    cat >"$BRIDGE_ENV" <<ENV
WA_ODOO_DB=$DB
WA_ODOO_LOGIN=whatsapp-bridge
WA_ODOO_API_KEY=$key
WA_REDIS_URL=$REDIS_URL
WA_STREAM_PREFIX=$DB:
ENV
fi
# the ports may differ from one run to the next: they are not part of the stored key
sed -i '/^WA_PORT=/d; /^WA_ODOO_URL=/d' "$BRIDGE_ENV"
printf 'WA_ODOO_URL=http://127.0.0.1:%s\nWA_PORT=%s\n' "$ODOO_PORT" "$BRIDGE_PORT" >>"$BRIDGE_ENV"

if [ "$SETUP_ONLY" = yes ]; then
    say "Set-up complete in $((SECONDS - SETUP_STARTED)) s (Odoo: $PYTHON). Start the demo with: scripts/demo.sh"
    exit 0
fi

pids=()
cleanup() { say "Stopping"; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

step "Starting"
# a demo still running (or anything else) on a port would answer in place of this one
for pair in ODOO_PORT:ODOO_PORT BRIDGE_PORT:WA_PORT SIM_PORT:WA_SIM_PORT; do
    name="${pair%%:*}" setting="${pair#*:}"; port="${!name}"
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port is already in use: is another demo still running? Stop it (Ctrl-C in its terminal) or choose another port: $setting=$((port + 100)) scripts/demo.sh"
    fi
done
say "Starting Odoo on http://127.0.0.1:$ODOO_PORT (log: .run/logs/odoo-$DB.log)"
# exec: the pid is Odoo's own (a backgrounded shell function is a subshell, which a kill would leave
# Odoo running past; likewise the bridge below)
(exec "$PYTHON" -m odoo -c "$CONF" -d "$DB" --db-filter="^$DB\$") &
pids+=($!)
for _ in $(seq 1 120); do
    curl -fs "http://127.0.0.1:$ODOO_PORT/web/health" >/dev/null 2>&1 && break
    sleep 1
done
curl -fs "http://127.0.0.1:$ODOO_PORT/web/health" >/dev/null || die "Odoo did not start (see .run/logs/odoo-$DB.log)"

say "Starting the bridge and the WhatsApp simulator (demo mode)"
(cd "$ROOT" && exec "$PYTHON" -m whatsapp_bridge demo --env-file "$BRIDGE_ENV" --port "$SIM_PORT" \
    >>"$RUN_DIR/logs/bridge-$DB.log" 2>&1) &
pids+=($!)
sleep 3

cat <<MSG

  WhatsApp attendance is running (demo mode):
    Odoo (attendants):        http://127.0.0.1:$ODOO_PORT   admin / admin, ana / ana, bruno / bruno
    Customer chat (simulator): http://127.0.0.1:$SIM_PORT        write as a customer, see the replies
    Bridge health:            http://127.0.0.1:$BRIDGE_PORT/health
  Logs: .run/logs/   Stop: Ctrl-C

MSG
wait -n "${pids[@]}"
