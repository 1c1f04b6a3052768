# The two commands of the README (both set up what is missing first), and their parts.
.PHONY: demo test setup test-bootstrap
demo:   ## set up (when needed) and start the product in demo mode
	bash scripts/demo.sh
test:   ## set up (when needed) and run every test (what CI runs)
	bash scripts/test.sh
setup:  ## the set-up alone: Odoo 18, its venv, the database, the bridge's key
	bash scripts/demo.sh --setup-only
test-bootstrap:  ## the bootstrap test alone: a fresh HOME, a local Odoo source (WA_BOOTSTRAP_ODOO_SOURCE)
	WA_BOOTSTRAP_TEST=1 python3 -m pytest -p no:cacheprovider -p no:odoo tests/setup/test_bootstrap.py -v
