#!/usr/bin/env bash
# Runs every test of the project: lint, install checks, the addon's tests
# against a real Odoo 18 + PostgreSQL + Redis, the bridge's and the end-to-end tests.
source "$(dirname "$0")/lib.sh"

find_odoo
[ "${SKIP_REQUIREMENTS:-}" = 1 ] || install_requirements
check_services
command -v redis-server >/dev/null || die "redis-server not found (apt-get install redis-server): the tests start their own to stop it"
command -v chromium >/dev/null || command -v google-chrome >/dev/null || command -v chromium-browser >/dev/null \
    || die "no Chromium found (apt-get install chromium): Odoo's browser tests (tours) need it"
"$PYTHON" -c "import websocket" 2>/dev/null || die "websocket-client is not installed (pip install -r requirements.txt)"

say "Lint (ruff, pylint-odoo)"
"$PYTHON" -m ruff check "$ROOT"
"$PYTHON" -m pylint --load-plugins=pylint_odoo --disable=all --enable=odoolint \
    --disable=manifest-required-author --valid-odoo-versions=18.0 --score=n "$ROOT/whatsapp_attendance"

CONF="$RUN_DIR/odoo-test.conf"
write_config "$CONF" "log_level = warn" "http_interface = 127.0.0.1" "workers = 0"

# databases left by an interrupted end-to-end run
for leftover in $(psql -d postgres -tAc "select datname from pg_database where datname like 'wa_e2e_%'"); do
    dropdb --if-exists --force "$leftover" >/dev/null 2>&1 || true
done

say "Install check: empty database, then demo database and upgrade (-u)"
install_db "$CONF" wa_test no
install_db "$CONF" wa_test_demo yes
odoo -c "$CONF" -d wa_test_demo -u whatsapp_attendance --stop-after-init >"$RUN_DIR/logs/upgrade.log" 2>&1 \
    && ! grep -qE " (ERROR|CRITICAL) " "$RUN_DIR/logs/upgrade.log" \
    || { grep -E " (ERROR|CRITICAL) " -A20 "$RUN_DIR/logs/upgrade.log" | head -40 >&2; die "upgrade failed"; }

say "Addon tests under Odoo's own runner (--test-enable --test-tags /whatsapp_attendance, as the official image and OCA CI)"
runner_log="$RUN_DIR/logs/odoo-runner.log"
set +e
odoo -c "$CONF" -d wa_test -u whatsapp_attendance --test-enable --test-tags /whatsapp_attendance \
    --http-port "${ODOO_TEST_PORT:-8069}" --stop-after-init --log-level=test >"$runner_log" 2>&1
runner_status=$?
set -e
summary=$(grep -E "odoo.tests.result: .*tests when loading|tests.stats: whatsapp_attendance" "$runner_log" | tail -2)
echo "$summary" >&2
if [ "$runner_status" -ne 0 ] || grep -qE " ERROR [^ ]+ odoo.tests.result:" "$runner_log" \
        || ! grep -q "tests.stats: whatsapp_attendance" "$runner_log"; then
    grep -E " (ERROR|CRITICAL) | FAIL: " -A15 "$runner_log" | head -80 >&2
    die "the addon's tests failed under Odoo's own runner (full log: $runner_log)"
fi

say "Tests (pytest + pytest-odoo, real Odoo $ODOO_MAJOR at $ODOO_ADDONS)"
cd "$ROOT"
set +e
"$PYTHON" -m pytest -p no:cacheprovider --odoo-config="$CONF" --odoo-database=wa_test --odoo-http "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    die "pytest collected no tests: that is a failure, not a pass"
fi
exit "$status"
