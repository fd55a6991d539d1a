"""Errors of the service beyond the library's (:mod:`eventlens.errors`), each mapped to one HTTP status in
:mod:`eventlens.service.app`."""

from __future__ import annotations

from eventlens.errors import EventlensError


class Forbidden(EventlensError):
    """The key may not do this (its scope, or an event or gallery another key owns): HTTP 403."""


class Busy(EventlensError):
    """Too many jobs are queued: HTTP 429 with ``Retry-After``."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
