#!/usr/bin/env bash
# Runs every test of the project: lint, install checks, the addon's tests
# against a real Odoo 18 + PostgreSQL + Redis, the bridge's and the end-to-end tests,
# and the bootstrap test of the set-up (tests/setup, when a local Odoo source is found).
#
# First it does demo.sh's set-up when something is missing (scripts/lib.sh: system
# packages, Odoo 18 from $ODOO_REPO in a cache folder, its venv, the PostgreSQL role),
# plus what the tests need: Chromium (Odoo's browser tests) and redis-server (the fault
# tests start their own).
#   scripts/test.sh [pytest args]   set up when needed, then run every test
#   scripts/test.sh --setup-only    the set-up alone
# WA_BOOTSTRAP_TEST: auto (default: the bootstrap stage runs when a local Odoo source is
# found, see tests/setup/test_bootstrap.py), 1 (required), 0 (not run).
source "$(dirname "$0")/lib.sh"

if [ "${1:-}" = --setup-only ]; then
    setup_base yes
    say "Set-up for the tests complete in $((SECONDS - SETUP_STARTED)) s (Odoo: $PYTHON)"
    exit 0
fi

if [ "${SKIP_REQUIREMENTS:-}" = 1 ]; then install_requirements() { note "SKIP_REQUIREMENTS=1: not installing"; }; fi
setup_base yes
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
install_db "$CONF" wa_test_oca english
odoo -c "$CONF" -d wa_test_demo -u whatsapp_attendance --stop-after-init >"$RUN_DIR/logs/upgrade.log" 2>&1 \
    && ! grep -qE " (ERROR|CRITICAL) " "$RUN_DIR/logs/upgrade.log" \
    || { grep -E " (ERROR|CRITICAL) " -A20 "$RUN_DIR/logs/upgrade.log" | head -40 >&2; die "upgrade failed"; }

# on a database with demo data in English, as the official image and OCA CI run them; the pytest
# stage below runs them again on the database without demo data (so both kinds are covered)
say "Addon tests under Odoo's own runner on wa_test_oca, demo data in English (--test-enable --test-tags /whatsapp_attendance, as the official image and OCA CI); pytest below uses wa_test, without demo data"
runner_log="$RUN_DIR/logs/odoo-runner.log"
set +e
odoo -c "$CONF" -d wa_test_oca -u whatsapp_attendance --test-enable --test-tags /whatsapp_attendance \
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

say "Bootstrap test: a fresh HOME, no Odoo importable, scripts/demo.sh --setup-only twice (tests/setup)"
bootstrap_source="${WA_BOOTSTRAP_ODOO_SOURCE:-}"
if [ -z "$bootstrap_source" ] && [ -f "$ODOO_PKG/../requirements.txt" ] && [ -f "$ODOO_PKG/../odoo-bin" ]; then
    bootstrap_source=$(cd "$ODOO_PKG/.." && pwd)   # the source tree of the Odoo in use
fi
case "${WA_BOOTSTRAP_TEST:-auto}" in
    0) note "WA_BOOTSTRAP_TEST=0: not run" ;;
    *)
        if [ -z "$bootstrap_source" ] && [ "${WA_BOOTSTRAP_TEST:-auto}" = auto ]; then
            note "no local Odoo source (the Odoo in use, $ODOO_PKG, is not a source tree; set WA_BOOTSTRAP_ODOO_SOURCE): not run"
        else
            (cd "$ROOT" && WA_BOOTSTRAP_TEST=1 WA_BOOTSTRAP_ODOO_SOURCE="$bootstrap_source" \
                "$PYTHON" -m pytest -p no:cacheprovider -p no:odoo tests/setup/test_bootstrap.py -v) \
                || die "the bootstrap test failed (tests/setup/test_bootstrap.py; logs in .run/logs/bootstrap/)"
        fi
        ;;
esac

say "Tests (pytest + pytest-odoo, real Odoo $ODOO_MAJOR at $ODOO_ADDONS)"
cd "$ROOT"
set +e
env -u WA_BOOTSTRAP_TEST "$PYTHON" -m pytest -p no:cacheprovider --odoo-config="$CONF" --odoo-database=wa_test --odoo-http "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    die "pytest collected no tests: that is a failure, not a pass"
fi
[ "$status" -eq 0 ] || exit "$status"

# the neonize adapter's tests in a process of their own: importing neonize loads a Go runtime,
# which breaks Odoo's browser tests when it shares their process (tests/bridge/conftest.py)
if [ $# -eq 0 ]; then
    say "The neonize adapter's tests (a pytest process of their own)"
    set +e
    WA_NEONIZE_TESTS=1 "$PYTHON" -m pytest -p no:cacheprovider -p no:odoo tests/bridge/test_neonize_driver.py
    status=$?
    set -e
    [ "$status" -ne 5 ] || die "the neonize adapter's tests collected nothing: that is a failure, not a pass"
fi
exit "$status"
