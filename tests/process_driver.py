"""The ``eventlens`` command with test backends, for tests that run, kill and signal real processes.

Run as ``python tests/process_driver.py process PHOTOS --out OUT ...``. The backends are registered at
the top level, so spawned workers (which re-import this guarded script) know them too:

* detector ``slow``: the fake detector, sleeping ``DRIVER_DETECT_S`` seconds (default 0.3) per photo, so
  that a test can act while analysis runs; same model key as ``fake``, so its results equal the fake's;
* detector ``crashing``: the fake detector, but a photo with a face of identity :data:`CRASH_IDENTITY`
  kills its worker (SIGKILL), as the OOM killer would;
* detector ``broken``: fails to load its weights (ModelError), as a damaged model would.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from eventlens.backends import registry
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


registry.register("detector", "slow", "__main__:SlowDetector")
registry.register("detector", "crashing", "__main__:CrashingDetector")
registry.register("detector", "broken", "__main__:BrokenDetector")

if __name__ == "__main__":
    from eventlens.cli import main

    main(prog_name="eventlens")
