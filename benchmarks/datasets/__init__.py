"""Benchmark datasets read from a local folder (never downloaded).

``load_dataset(name, root)`` with ``name`` one of :data:`DATASETS`:

* ``otb`` (every OTB-layout sequence under root), ``otb2013``, ``otb2015``;
* ``vot2016``, ``vot2017``, ``vot2018`` (the root's ``list.txt``; the year
  selects the EAO length range);
* ``got10k`` (= ``got10k-val``), ``got10k-val``, ``got10k-test``;
* ``davis2016``.
"""

from __future__ import annotations

from siamtrack.benchmarks.datasets.base import Dataset, Sequence, image_size
from siamtrack.errors import SiamtrackError

__all__ = ["DATASETS", "load_dataset", "Dataset", "Sequence", "image_size"]


def _otb(version):
    def load(root):
        from siamtrack.benchmarks.datasets.otb import load_otb

        return load_otb(root, version)
    return load


def _vot(year):
    def load(root):
        from siamtrack.benchmarks.datasets.vot import load_vot

        return load_vot(root, year)
    return load


def _got10k(subset):
    def load(root):
        from siamtrack.benchmarks.datasets.got10k import load_got10k

        return load_got10k(root, subset)
    return load


def _davis(root):
    from siamtrack.benchmarks.datasets.davis import load_davis

    return load_davis(root)


#: ``--dataset`` name -> loader ``fn(root) -> Dataset``.
DATASETS = {
    "otb": _otb(None), "otb2013": _otb(2013), "otb2015": _otb(2015),
    "vot2016": _vot(2016), "vot2017": _vot(2017), "vot2018": _vot(2018),
    "got10k": _got10k("val"), "got10k-val": _got10k("val"), "got10k-test": _got10k("test"),
    "davis2016": _davis,
}


def load_dataset(name: str, root: str, sequences=None) -> Dataset:
    """Load dataset ``name`` from ``root``; keep only ``sequences`` (names, in dataset order) when given.

    Raises:
        SiamtrackError: unknown dataset name, unknown sequence name, or any loader error.
    """
    key = name.lower()
    if key not in DATASETS:
        raise SiamtrackError(f"--dataset {name}: unknown dataset (choose from {', '.join(DATASETS)})")
    ds = DATASETS[key](root)
    if sequences:
        known = {s.name for s in ds.sequences}
        unknown = [s for s in sequences if s not in known]
        if unknown:
            raise SiamtrackError(f"{ds.name}: no sequence {', '.join(unknown)} in {root}")
        ds.sequences = [s for s in ds.sequences if s.name in set(sequences)]
    return ds
