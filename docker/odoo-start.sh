#!/bin/bash
# The odoo service of docker-compose.yml: installs whatsapp_attendance in $WA_ODOO_DB on the
# first start (a new database, with demo data when WA_WITH_DEMO=yes), upgrades it (-u, data
# kept: nothing is re-initialised) on every later start, then serves. The official image's
# /entrypoint.sh adds the database options from HOST, PORT, USER, PASSWORD and waits for PostgreSQL.
set -euo pipefail
DB="${WA_ODOO_DB:-whatsapp}"
state=$(PGPASSWORD="${PASSWORD:-odoo}" psql -h "${HOST:-db}" -p "${PORT:-5432}" -U "${USER:-odoo}" -d "$DB" -tAc \
    "select state from ir_module_module where name = 'whatsapp_attendance'" 2>/dev/null || true)
if [ "$state" = installed ]; then
    echo "odoo-start: $DB has whatsapp_attendance: upgrading it (-u)" >&2
    action=(-u whatsapp_attendance)
else
    echo "odoo-start: installing whatsapp_attendance in $DB (first start)" >&2
    action=(-i whatsapp_attendance --load-language=pt_BR)
    if [ "${WA_WITH_DEMO:-yes}" = yes ]; then action+=(--without-demo=False); else action+=(--without-demo=all); fi
fi
exec /entrypoint.sh odoo -d "$DB" --db-filter="^$DB\$" "${action[@]}" "$@"
