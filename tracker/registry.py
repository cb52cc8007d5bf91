"""Registry of trackers: name -> factory ``fn(model, track_cfg, device) -> Tracker``.

Built-in trackers register themselves when their module is imported; the
registry imports them before its first look-up.
"""

from siamtrack.models.registry import Registry

TRACKERS = Registry("tracker", ["siamtrack.tracker.nanotrack", "siamtrack.tracker.siamrpn",
                                "siamtrack.tracker.dasiamrpn", "siamtrack.tracker.siamfc", "siamtrack.tracker.cfnet",
                                "siamtrack.tracker.siammask"])
