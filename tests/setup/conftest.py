"""The bootstrap test is a stage of its own (``scripts/test.sh`` runs it with ``WA_BOOTSTRAP_TEST=1``).

It builds a virtual environment with all of Odoo's requirements (minutes), so the ordinary
pytest run does not collect it — and does not skip it either, since a skip fails the run
(``conftest.py`` at the root). Run it alone with::

    WA_BOOTSTRAP_TEST=1 python3 -m pytest -p no:odoo tests/setup/test_bootstrap.py -v      # or: make test-bootstrap
"""

import os

if os.environ.get("WA_BOOTSTRAP_TEST") != "1":
    collect_ignore = ["test_bootstrap.py"]
