"""Evaluation on tracking benchmarks and speed benchmarks.

``siamtrack bench`` (:mod:`.suite`): datasets (:mod:`.datasets`), protocols
(:mod:`.protocols`), measures (:mod:`.measures`), result files
(:mod:`.results`), runs (:mod:`.bench`), scoring (:mod:`.evaluate`) and
reports (:mod:`.report`). Speed scripts: ``speed_nanotrack``, ``speed_presets``
(frames per second against a named reference).
"""
