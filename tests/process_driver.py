"""The ``eventlens`` command with test backends, for tests that run, kill and signal real processes.

Run as ``python tests/process_driver.py process PHOTOS --out OUT ...``. The backends are entry points of
the uninstalled distribution in ``tests/plugins`` (put on ``sys.path`` here, which spawned workers
inherit), found like any installed backend:

* detector ``slow``: the fake detector, sleeping ``DRIVER_DETECT_S`` seconds (default 0.3) per photo, so
  that a test can act while analysis runs; same model key as ``fake``, so its results equal the fake's;
* detector ``crashing``: the fake detector, but a photo with a face of identity :data:`CRASH_IDENTITY`
  kills its worker (SIGKILL), as the OOM killer would;
* detector ``broken``: fails to load its weights (ModelError), as a damaged model would.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from eventlens.backends.fake import PALETTE, FakeDetector
from eventlens.detections import Detections
from eventlens.errors import ModelError

CRASH_IDENTITY = PALETTE.index((255, 0, 255))


class SlowDetector(FakeDetector):
    def detect(self, rgb: np.ndarray) -> Detections:
        time.sleep(float(os.environ.get("DRIVER_DETECT_S", "0.3")))
        return super().detect(rgb)


class CrashingDetector(FakeDetector):
    def detect(self, rgb: np.ndarray) -> Detections:
        if np.all(rgb.reshape(-1, 3) == PALETTE[CRASH_IDENTITY], axis=1).sum() > 100:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().detect(rgb)


class BrokenDetector(FakeDetector):
    def load(self) -> None:
        raise ModelError("model file broken.bin is damaged: run `eventlens models install`")


if __name__ == "__main__":
    from eventlens.cli import main

    sys.path.insert(0, str(Path(__file__).with_name("plugins")))  # before the registry is first read

    main(prog_name="eventlens")
