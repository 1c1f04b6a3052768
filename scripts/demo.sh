#!/usr/bin/env bash
# Sets everything up and starts the product in demo mode: Odoo 18 with the addon
# and demo data, the bridge, and the bundled WhatsApp Cloud API simulator with
# its customer chat page. Ctrl-C stops it all.
source "$(dirname "$0")/lib.sh"

DB="${WA_DEMO_DB:-whatsapp}"
export ODOO_PORT="${ODOO_PORT:-8069}"
BRIDGE_ENV="$RUN_DIR/bridge-$DB.env"

find_odoo
install_requirements
check_services

CONF="$RUN_DIR/odoo-demo.conf"
write_config "$CONF" "http_port = $ODOO_PORT" "http_interface = 127.0.0.1" "workers = 0" \
    "log_level = info" "logfile = $RUN_DIR/logs/odoo-$DB.log"

if psql -d "$DB" -tAc "select 1 from ir_module_module where name='whatsapp_attendance' and state='installed'" \
        2>/dev/null | grep -q 1; then
    say "Database $DB already has the addon: upgrading it"
    odoo -c "$CONF" -d "$DB" -u whatsapp_attendance --stop-after-init
else
    say "Creating database $DB with whatsapp_attendance and its demo data (about a minute)"
    install_db "$CONF" "$DB" yes
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

if [ ! -s "$BRIDGE_ENV" ]; then
    # the streams of this database get their own prefix, so several databases can share one Redis
    say "Generating the API key of the technical user 'whatsapp-bridge'"
    key=$(odoo shell -c "$CONF" -d "$DB" --no-http --log-level=warn 2>/dev/null <<'PY' | sed -n 's/^WA_KEY=//p'
user = env.ref('whatsapp_attendance.user_whatsapp_bridge')
print('WA_KEY=' + env['res.users.apikeys'].with_user(user).sudo()._generate(None, 'demo bridge', None))
env['ir.config_parameter'].set_param('whatsapp_attendance.stream_prefix', env.cr.dbname + ':')
# the public URL in rating links: fixed, not whatever host the last administrator logged in from
import os
env['ir.config_parameter'].set_param('web.base.url', 'http://127.0.0.1:' + os.environ['ODOO_PORT'])
env['ir.config_parameter'].set_param('web.base.url.freeze', 'True')
env.cr.commit()
PY
    )
    [ -n "$key" ] || die "could not generate the bridge's API key"
    cat >"$BRIDGE_ENV" <<ENV
WA_ODOO_URL=http://127.0.0.1:$ODOO_PORT
WA_ODOO_DB=$DB
WA_ODOO_LOGIN=whatsapp-bridge
WA_ODOO_API_KEY=$key
WA_REDIS_URL=$REDIS_URL
WA_STREAM_PREFIX=$DB:
ENV
fi

pids=()
cleanup() { say "Stopping"; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

say "Starting Odoo on http://127.0.0.1:$ODOO_PORT (log: .run/logs/odoo-$DB.log)"
odoo -c "$CONF" -d "$DB" --db-filter="^$DB\$" &
pids+=($!)
for _ in $(seq 1 120); do
    curl -fs "http://127.0.0.1:$ODOO_PORT/web/health" >/dev/null 2>&1 && break
    sleep 1
done
curl -fs "http://127.0.0.1:$ODOO_PORT/web/health" >/dev/null || die "Odoo did not start (see .run/logs/odoo-$DB.log)"

say "Starting the bridge and the WhatsApp simulator (demo mode)"
(cd "$ROOT" && "$PYTHON" -m whatsapp_bridge demo --env-file "$BRIDGE_ENV" >>"$RUN_DIR/logs/bridge-$DB.log" 2>&1) &
pids+=($!)
sleep 3

cat <<MSG

  WhatsApp attendance is running (demo mode):
    Odoo (attendants):        http://127.0.0.1:$ODOO_PORT   admin / admin, ana / ana, bruno / bruno
    Customer chat (simulator): http://127.0.0.1:8899        write as a customer, see the replies
    Bridge health:            http://127.0.0.1:8080/health
  Logs: .run/logs/   Stop: Ctrl-C

MSG
wait -n "${pids[@]}"
