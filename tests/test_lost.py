"""The lost-target signal of the tracker API (``TrackResult.lost``, ``Tracker.lost``) on real frames.

Real NanoTrack v2 weights on VOT bag: while the camera shows another scene (a frame of OTB Basketball:
the bag is gone) the score collapses (0.02-0.07; a black frame still scores ~0.6 with these weights); the
target is reported lost only once the score has stayed below ``lost_threshold`` for ``lost_patience``
frames, and found again on the first confident frame after.
"""

import cv2

from siamtrack.tracker.factory import create_tracker

from conftest import nanotrack_weights


def test_lost_after_patience_and_found_again(shared_dir):
    bag = shared_dir / "data" / "vot" / "bag"
    frames = [cv2.imread(str(bag / f"{i:08d}.jpg")) for i in range(1, 6)]
    elsewhere = cv2.resize(cv2.imread(str(shared_dir / "data/otb/Basketball/img/0001.jpg")), frames[0].shape[1::-1])
    t = create_tracker("nanotrack-v2", weights=nanotrack_weights(shared_dir, 2))
    assert t.lost_threshold == 0.3 and t.lost_patience == 3
    t.init(frames[0], [312.64, 146.89, 106.13, 96.41])
    assert not t.lost

    seen = t.update(frames[1])
    assert seen.score > 0.9 and not seen.lost and not t.lost

    dark = [t.update(elsewhere) for _ in range(4)]
    assert all(r.score < t.lost_threshold for r in dark), [r.score for r in dark]
    assert [r.lost for r in dark] == [False, False, True, True]  # the third low frame in a row
    assert t.lost

    back = t.update(frames[2])
    assert back.score > 0.9 and not back.lost and not t.lost

    # A threshold set by the user (siamtrack run --lost-threshold) replaces the preset's.
    t.lost_threshold = 1.01  # above any probability: every frame is low
    t.lost_patience = 1
    r = t.update(frames[3])
    assert r.score > 0.9 and r.lost and t.lost
    t.init(frames[0], [312.64, 146.89, 106.13, 96.41])  # init forgets the low scores
    assert not t.lost and t._low_frames == 0
