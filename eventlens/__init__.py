"""eventlens: organise event photos by person with face AI, on one machine, offline.

The main job is :func:`eventlens.pipeline.process`; the ``eventlens`` command wraps it. Importing this
package loads no model and does no work.
"""

__version__ = "0.1.0"
