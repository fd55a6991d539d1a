"""Signed, expiring URLs: a photo or thumbnail link that works without a session until ``exp``.

``<path>?exp=<unix seconds>&sig=<HMAC-SHA256 of "<path>\\n<exp>", urlsafe base64>``, keyed by a secret kept in
``DATA/web_url_secret`` (made on first use, mode 0600): a changed path or ``exp`` breaks the signature, and
a link stops working at ``exp``. Expiry times are rounded up to a whole ``ttl_s`` window, so a page rendered
twice in a window links to the same URL and the browser's cache keeps working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from pathlib import Path
from urllib.parse import urlencode

from eventlens.service.signing import stored_secret

SECRET_FILE = "web_url_secret"


class UrlSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def for_data_dir(cls, data_root: Path) -> UrlSigner:
        return cls(stored_secret(data_root / SECRET_FILE))

    def _sig(self, path: str, exp: int) -> str:
        mac = hmac.new(self._secret, f"{path}\n{exp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def signed_url(self, path: str, ttl_s: float, now_s: float | None = None) -> str:
        """``path`` with ``exp`` and ``sig``: valid for at least ``ttl_s`` and less than ``2 * ttl_s``."""
        now = time.time() if now_s is None else now_s
        exp = int(math.ceil(now / ttl_s) * ttl_s + ttl_s)
        return f"{path}?{urlencode({'exp': exp, 'sig': self._sig(path, exp)})}"

    def signed_until(self, path: str, exp: int) -> str:
        """``path`` signed to expire at exactly ``exp`` (tests, and links made for a known time)."""
        return f"{path}?{urlencode({'exp': exp, 'sig': self._sig(path, exp)})}"

    def verify(self, path: str, exp: str | None, sig: str | None, now_s: float | None = None) -> bool:
        if exp is None or sig is None or not exp.isdigit() or len(exp) > 12:
            return False
        if int(exp) < (time.time() if now_s is None else now_s):
            return False
        return hmac.compare_digest(self._sig(path, int(exp)), sig)
