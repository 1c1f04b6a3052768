"""Messaging providers: the ``Provider`` protocol and its implementations."""

from whatsapp_bridge.providers.base import (
    Button,
    ErrorClass,
    FetchedMedia,
    ListRow,
    Provider,
    ProviderError,
    Recipient,
    SendReceipt,
)

__all__ = ["Button", "ErrorClass", "FetchedMedia", "ListRow", "Provider", "ProviderError", "Recipient", "SendReceipt"]
