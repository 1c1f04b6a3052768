"""WhatsApp Web sessions: the session process (``service``), its drivers and their persistence.

``python -m whatsapp_bridge session`` runs it on its own; ``all`` and ``demo`` start it as a supervised
child process (``whatsapp_bridge.supervisor``), so a crash of the WhatsApp Web client (native code in
neonize's case) cannot take the webhook server or the workers down.
"""

from __future__ import annotations


def driver_factory(config, client):
    """``(account, emit) -> SessionDriver`` for ``WA_SESSION_DRIVER`` (neonize is imported only when used)."""
    from whatsapp_bridge.keys import Keys
    from whatsapp_bridge.session.store import SessionStore

    keys, store = Keys(config.stream_prefix), SessionStore(config.data_dir)
    if config.session_driver == "neonize":
        try:
            from whatsapp_bridge.session.neonize_driver import NeonizeDriver
        except ImportError:
            # neonize is not installed: every session says so on its account form, nothing crashes
            from whatsapp_bridge.session.unavailable_driver import UnavailableDriver

            return lambda account, emit: UnavailableDriver(account, emit)
        return lambda account, emit: NeonizeDriver(
            account, emit, store=store, keepalive_seconds=max(1.0, config.session_keepalive_timeout / 3),
            history_messages=config.session_history_messages)
    from whatsapp_bridge.session.fake_driver import FakeDriver

    return lambda account, emit: FakeDriver(account, emit, client=client, keys=keys, store=store,
                                            qr_seconds=config.fake_qr_seconds, qr_rotations=config.fake_qr_rotations,
                                            keepalive_seconds=min(1.0, config.session_keepalive_timeout / 3))
