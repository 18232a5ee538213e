"""A small typed client for the parts of Klaviyo's JSON:API that segment import needs."""

from integrations.klaviyo.client import (
    REVISION,
    Client,
    KlaviyoAuthError,
    KlaviyoError,
    KlaviyoNotFound,
    KlaviyoUnavailable,
    Resource,
)

__all__ = [
    "REVISION",
    "Client",
    "KlaviyoAuthError",
    "KlaviyoError",
    "KlaviyoNotFound",
    "KlaviyoUnavailable",
    "Resource",
]
