"""Evaluation on tracking benchmarks and speed benchmarks.

``siamtrack bench`` (:mod:`.suite`): datasets (:mod:`.datasets`), protocols
(:mod:`.protocols`), measures (:mod:`.measures`), result files
(:mod:`.results`), runs (:mod:`.bench`), scoring (:mod:`.evaluate`) and
reports (:mod:`.report`). Speed: :mod:`.speed` (``make bench``: every preset x
backend x precision x thread count in alternating rounds, beside
``cv2.TrackerNano`` and, given ``--pysot DIR``, pysot's own trackers; time to
first frame with a cold and a warm graph cache).
"""
