"""The service (``eventlens serve``): a REST API over the same catalog, stages and analysis pool as the
batch job — selfie matching for events with signed callbacks, and galleries of known people."""
