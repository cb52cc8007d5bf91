"""Evaluation measures: region overlap (``overlap``), OTB (``otb``), VOT (``vot``), GOT-10k (``got10k``),
DAVIS (``davis``)."""
