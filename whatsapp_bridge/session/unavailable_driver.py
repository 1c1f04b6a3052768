"""The WhatsApp Web client when none is available in this bridge (neonize is not installed).

Start, pairing and sending each fail at once with a reason the administrator reads on the account
form, instead of a session process that crashes and restarts for ever.
"""

from __future__ import annotations

from whatsapp_bridge.providers.base import ErrorClass, ProviderError
from whatsapp_bridge.session.driver import Emit, Failed, LoggedOut, Outgoing

REASON = ("This bridge has no WhatsApp Web client: neonize is not installed (pip install --no-deps -r "
          "requirements-whatsapp-web.txt in the bridge's environment). Connect the number through the Cloud API, or "
          "try the session with the demo's scripted phone (WA_SESSION_DRIVER=fake).")


class UnavailableDriver:
    def __init__(self, account: str, emit: Emit, reason: str = REASON):
        self.account = account
        self.emit = emit
        self.reason = reason

    def start(self) -> None:
        self.emit(Failed(self.reason))

    def pair_phone(self, phone: str) -> None:
        self.emit(Failed(self.reason))

    def logout(self) -> None:
        self.emit(LoggedOut(""))

    def stop(self) -> None:
        self.emit(Failed(self.reason))

    def send(self, message: Outgoing) -> str:
        raise ProviderError(ErrorClass.FAIL, self.reason)
