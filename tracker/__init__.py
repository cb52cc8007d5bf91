"""Trackers: the per-frame algorithms around a model, and their registry."""
