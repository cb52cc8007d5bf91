"""siamtrack: real-time Siamese visual object trackers (SiamFC, SiamRPN, SiamRPN++, SiamMask, NanoTrack).

Python API::

    from siamtrack import create_tracker
    tracker = create_tracker("nanotrack")           # weights found as the CLI finds them
    tracker.init(frame, (x, y, w, h))               # BGR uint8 frame, 0-based pixel box
    result = tracker.update(next_frame)             # result.box, result.score
"""

__version__ = "0.1.0"


def create_tracker(model: str = "nanotrack", weights=None, device: str = "cpu"):
    """Build the tracker of preset ``model`` with its weights; see :func:`siamtrack.tracker.factory.create_tracker`."""
    from siamtrack.tracker.factory import create_tracker as _create

    return _create(model, weights=weights, device=device)
