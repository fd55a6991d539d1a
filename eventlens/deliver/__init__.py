"""Delivering an event: enhanced copies of photos and face-aware crops (``eventlens enhance``).

Modules: ``crop_geometry`` (crop boxes, pure geometry), ``correction`` (measure a photo, decide bounded
corrections, apply them), ``files`` (read originals, write new files atomically with EXIF and sRGB),
``worker`` (one photo, in a worker process) and ``stage`` (the catalog -> jobs -> files and metadata.json).
"""
