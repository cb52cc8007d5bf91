"""Registry of trackers: name -> factory ``fn(model, track_cfg, device) -> Tracker``."""

from siamtrack.models.registry import Registry

TRACKERS = Registry("tracker")
