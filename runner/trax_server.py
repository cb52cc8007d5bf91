"""A TraX server around a siamtrack tracker (``siamtrack trax``), for the VOT toolkit.

The TraX protocol (votchallenge/trax; Python bindings: the ``vot-trax``
package, imported only here and only when a server starts) lets an
evaluation client (``vot evaluate``, ``vot test``) drive a tracker process:
the client sends ``initialize(image, region)`` and then ``frame(image)``
messages, the server answers each with the tracker's region and properties.

Conventions (vot-toolkit-python 0.9.0 ``vot/region/shapes.py`` and trax
``region.h``):

* rectangle regions are ``x, y, width, height`` floats, 0-based pixels, the
  top-left corner ``(x, y)`` (the same as siamtrack's ``[x, y, w, h]``);
* polygons are ``(x, y)`` vertices, 0-based pixels; a polygon given for
  initialisation becomes the area-preserving axis-aligned box of
  :func:`siamtrack.boxes.axis_aligned_init_box` (pysot ``tools/test.py``, as
  ``siamtrack bench`` initialises on VOT), other vertex counts their bounding box;
* masks are ``uint8`` arrays placed at an integer offset; a mask given for
  initialisation becomes the bounding box of its non-zero pixels.

Images come as file paths (TraX ``path`` image format, channel ``color``),
read with ``cv2.imread`` (BGR ``uint8``, as every siamtrack tracker expects).
Each answer carries the property ``confidence``: the tracker's
``TrackResult.score`` (1 on the initialisation frame).

Answer format: a rectangle ``[x, y, w, h]`` (the tracker's box); for mask
trackers (SiamMask, ``TrackResult.binary_mask`` / ``polygon``) the region
type the client initialised with: a mask for a mask, the rotated rectangle
polygon for a polygon, the box for a rectangle.
"""

from __future__ import annotations

import cv2
import numpy as np

from siamtrack.boxes import axis_aligned_init_box, polygon_bounds
from siamtrack.errors import SiamtrackError
from siamtrack.runner.sources import FrameSizeCheck

__all__ = ["import_trax", "region_to_box", "TraxTrackerServer", "serve"]


def import_trax():
    """The ``trax`` module of the ``vot-trax`` package; SiamtrackError when it is not installed."""
    try:
        import trax
        import trax.server  # noqa: F401 - the Server class lives there
    except ImportError as e:
        raise SiamtrackError(f"siamtrack trax needs the vot-trax package (pip install vot-trax): {e}") from None
    return trax


def region_to_box(region) -> np.ndarray:
    """Initial ``[x, y, w, h]`` (float64, 0-based pixels) from a TraX region.

    Args:
        region: a ``trax.Rectangle`` / ``trax.Polygon`` / ``trax.Mask`` (or
            anything with the same ``type`` and accessors).

    Raises:
        SiamtrackError: a special region, an empty mask or a degenerate region.
    """
    kind = getattr(region, "type", None)
    if kind == "rectangle":
        box = np.array(region.bounds(), dtype=np.float64)
    elif kind == "polygon":
        pts = np.array([region.get(i) for i in range(region.size())], dtype=np.float64).ravel()
        box = axis_aligned_init_box(pts) if pts.size == 8 else polygon_bounds(pts)
    elif kind == "mask":
        mask = np.asarray(region.array())
        ys, xs = np.nonzero(mask)
        if xs.size == 0:
            raise SiamtrackError("TraX initialisation: the mask region is empty")
        ox, oy = region.offset()
        box = np.array([xs.min() + ox, ys.min() + oy, xs.max() - xs.min() + 1, ys.max() - ys.min() + 1],
                       dtype=np.float64)
    else:
        raise SiamtrackError(f"TraX initialisation: region of type {kind!r} cannot start a tracker")
    if not (np.all(np.isfinite(box)) and box[2] > 0 and box[3] > 0):
        raise SiamtrackError(f"TraX initialisation: degenerate region {np.round(box, 3).tolist()}")
    return box


def _read_image(image, check: FrameSizeCheck | None = None) -> np.ndarray:
    """The frame of a TraX image (a file path); ``check`` (one per sequence) refuses a frame of another size
    than the initialisation frame's."""
    path = image.path() if hasattr(image, "path") else None
    if path is None:
        raise SiamtrackError("TraX: the client sent an image that is not a file path")
    frame = cv2.imread(path, cv2.IMREAD_COLOR)
    if frame is None:
        raise SiamtrackError(f"{path}: cannot read the image")
    if check is not None:
        check(frame, path)
    return frame


class TraxTrackerServer:
    """Answers TraX requests with a siamtrack tracker.

    Args:
        tracker: an initialised-on-demand :class:`siamtrack.tracker.base.Tracker`.
        mask: the tracker gives masks (``TrackResult.binary_mask`` / ``polygon``).
        name: tracker name announced in the TraX handshake.
        log: TraX protocol log file (``None``: no log).
    """

    def __init__(self, tracker, mask: bool = False, name: str = "siamtrack", log: str | None = None):
        self.trax = import_trax()
        self.tracker = tracker
        self.mask = mask
        self.name = name
        self.log = log
        self._reply_as = "rectangle"
        self._sizes = FrameSizeCheck()  # renewed at each initialisation (a new sequence may have another size)

    def formats(self) -> list[str]:
        """Region formats announced to the client: rectangle and polygon, and mask for mask trackers."""
        r = self.trax.Region
        return [r.RECTANGLE, r.POLYGON] + ([r.MASK] if self.mask else [])

    def _answer(self, result):
        """The TraX region for a :class:`~siamtrack.tracker.base.TrackResult` (see the module docstring)."""
        t = self.trax
        if self.mask and self._reply_as == "mask" and result.binary_mask is not None:
            return t.Mask.create(np.ascontiguousarray(result.binary_mask, dtype=np.uint8))
        if self.mask and self._reply_as == "polygon" and result.polygon is not None:
            p = np.asarray(result.polygon, dtype=np.float64).reshape(-1, 2)
            return t.Polygon.create([(float(x), float(y)) for x, y in p])
        x, y, w, h = (float(v) for v in np.asarray(result.box, dtype=np.float64).ravel())
        return t.Rectangle.create(x, y, w, h)

    def initialize(self, request):
        """Start the tracker on an ``INITIALIZE`` request; returns the objects to send back."""
        objects = request.objects or []
        if len(objects) != 1:
            raise SiamtrackError(f"TraX initialisation: expected one object, got {len(objects)}")
        region = objects[0][0]
        self._sizes = FrameSizeCheck()
        frame = _read_image(request.image["color"], self._sizes) if "color" in request.image else None
        if frame is None:
            raise SiamtrackError("TraX initialisation: no colour image")
        self.tracker.init(frame, region_to_box(region))
        self._reply_as = region.type
        return [(region, {"confidence": 1.0})]

    def frame(self, request):
        """Track one ``FRAME`` request; returns the objects to send back."""
        if "color" not in request.image:
            raise SiamtrackError("TraX frame: no colour image")
        result = self.tracker.update(_read_image(request.image["color"], self._sizes))
        return [(self._answer(result), {"confidence": float(result.score)})]

    def run(self) -> int:
        """Serve until the client quits; returns the number of frames tracked.

        Raises:
            SiamtrackError: a bad image or region (the session is terminated
                first, with the message as the TraX quit reason).
        """
        t = self.trax
        server = t.Server(self.formats(), [t.Image.PATH], image_channels=[t.ImageChannel.COLOR],
                        tracker_name=self.name, tracker_family="siamtrack",
                        log=self.log if self.log else False)
        frames = 0
        try:
            while True:
                request = server.wait()
                if request.type == t.TraxStatus.QUIT:
                    break
                if request.type == t.TraxStatus.INITIALIZE:
                    server.status(self.initialize(request))
                elif request.type == t.TraxStatus.FRAME:
                    if request.objects:
                        raise SiamtrackError("TraX frame: new objects during tracking are not supported")
                    server.status(self.frame(request))
                    frames += 1
        except SiamtrackError as e:
            _quit(server, str(e))
            raise
        except t.TraxException as e:
            raise SiamtrackError(f"TraX session ended: {e}") from None
        _quit(server, None)
        return frames


def _quit(server, reason):
    try:
        server.quit(reason=reason)
    except Exception:  # the client is already gone: nothing left to tell it
        pass


def serve(tracker, mask: bool = False, name: str = "siamtrack", log: str | None = None) -> int:
    """Run a TraX server for ``tracker`` on this process's standard streams (or ``$TRAX_SOCKET``).

    See :class:`TraxTrackerServer`; returns the number of frames tracked.
    """
    return TraxTrackerServer(tracker, mask=mask, name=name, log=log).run()
