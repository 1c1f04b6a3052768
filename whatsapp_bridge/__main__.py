"""``python -m whatsapp_bridge <command>``: see ``whatsapp_bridge.cli``."""

import sys

from whatsapp_bridge.cli import main

sys.exit(main())
