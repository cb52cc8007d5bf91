"""``siamtrack bench``: load a dataset, run the trackers (or take their existing results), score, report.

:func:`run_benchmark` is the whole command without the command line: the
click command in :mod:`siamtrack.cli` only forwards its options.
"""

from __future__ import annotations

import os

from siamtrack.benchmarks import results as res
from siamtrack.benchmarks.bench import RunConfig, TrackerSpec, run_all
from siamtrack.benchmarks.datasets import load_dataset
from siamtrack.benchmarks.evaluate import evaluate
from siamtrack.benchmarks.report import format_table, write_json, write_plots
from siamtrack.errors import SiamtrackError

__all__ = ["resolve_trackers", "run_benchmark"]


def resolve_trackers(items: list[str], ds, results_dir: str, weights=None, name=None) -> list[TrackerSpec]:
    """Turn ``--model`` items into :class:`TrackerSpec`.

    An item is a preset (run, results in ``<results_dir>/<dataset>/<preset name>``
    or ``<name>``), a results folder path (scored only), or the name of a
    folder already under ``<results_dir>/<dataset>/`` (scored only).

    Raises:
        SiamtrackError: an item is none of these; ``--weights`` / ``--name``
            with more than one preset; two trackers with the same name.
    """
    from siamtrack.models.presets import get_preset

    specs = []
    for item in items:
        try:
            preset = get_preset(item)
        except SiamtrackError:
            preset = None
        if preset is not None:
            tname = name or preset["name"]
            specs.append(TrackerSpec(tname, res.tracker_dir(results_dir, ds, tname), preset["name"], weights))
        elif os.path.isdir(item):
            tdir = os.path.normpath(item)
            specs.append(TrackerSpec(os.path.basename(tdir), tdir))
        elif os.path.isdir(res.tracker_dir(results_dir, ds, item)):
            specs.append(TrackerSpec(item, res.tracker_dir(results_dir, ds, item)))
        else:
            raise SiamtrackError(f"--model {item}: not a preset (see `siamtrack models`), nor a results folder "
                                 f"({item} or {res.tracker_dir(results_dir, ds, item)})")
    runs = [s for s in specs if s.preset]
    if (weights or name) and len(runs) != 1:
        raise SiamtrackError("--weights and --name apply to a single preset in --model")
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SiamtrackError(f"--model: tracker {', '.join(dup)} given twice")
    return specs


def run_benchmark(dataset: str, root: str, models: list[str], *, weights=None, name=None,
                  results_dir: str = "results", report_dir: str | None = None, experiment: str = "baseline",
                  resume: bool = False, workers: int = 1, device: str = "cpu", threads: int = 1,
                  backend: str = "auto", precision: str = "fp32",
                  sequences=None, verbose: bool = False, progress: bool = True, plots: bool = True,
                  mask_threshold: float | None = None, echo=print) -> dict:
    """Run and score ``models`` on ``dataset`` read from ``root``; print the table with ``echo``.

    Returns:
        The JSON report: ``{"dataset", "root", "experiment", "sequences",
        "results_dir", "trackers": [evaluate() dicts], "report", "plots"}``.

    Raises:
        SiamtrackError: any input problem (dataset, model, weights, result files), or ``results_dir`` /
            ``report_dir`` being, or lying inside, the dataset root or the weights file
            (:func:`siamtrack.runner.protect.check_outputs`).
    """
    from siamtrack.runner.protect import check_outputs

    inputs = [("the dataset root", root), ("the weights file", weights)]
    for option, folder in (("--results-dir", results_dir), ("--report-dir", report_dir)):
        check_outputs([(option, folder)], inputs)  # the report folder may lie in the results folder
    ds = load_dataset(dataset, root, sequences)
    if experiment not in ("baseline", "unsupervised"):
        raise SiamtrackError(f"--experiment {experiment}: expected baseline or unsupervised")
    if experiment != "baseline" and ds.kind != "vot":
        raise SiamtrackError(f"--experiment {experiment}: only VOT datasets have experiments")
    specs = resolve_trackers(models, ds, results_dir, weights, name)
    if device != "cpu":
        from siamtrack.tracker.factory import resolve_device

        resolve_device(device)
    to_run = [s for s in specs if s.preset]
    if to_run:
        from siamtrack.models.presets import get_preset
        from siamtrack.models.weights import resolve_weights

        from siamtrack.backends import choose_backend
        from siamtrack.tracker.factory import resolve_device

        dev = resolve_device(device)
        for s in to_run:  # missing weights, a backend or precision that cannot run: one error before any work
            preset = get_preset(s.preset)
            resolve_weights(preset, s.weights)
            choose_backend(backend, precision, dev, preset)
        cfg = RunConfig(kind=ds.kind, experiment=experiment, device=device, backend=backend, precision=precision,
                        threads=threads, resume=resume,
                        progress=progress, mask_threshold=mask_threshold)
        run_all([(s, q) for s in to_run for q in ds.sequences], cfg, workers=workers, progress=progress)
    evals = [evaluate(ds, s.tdir, s.name, experiment) for s in specs]
    echo(format_table(ds, evals, experiment, verbose))
    out_dir = os.path.join(report_dir or os.path.join(results_dir, "reports"), ds.result_name)
    suffix = "_unsupervised" if ds.kind == "vot" and experiment == "unsupervised" else ""
    payload = {"dataset": ds.name, "root": os.path.abspath(root),
               "experiment": experiment if ds.kind == "vot" else None,
               "sequences": [s.name for s in ds.sequences], "results_dir": os.path.abspath(results_dir),
               "trackers": evals}
    payload["plots"] = write_plots(out_dir, ds, evals, experiment) if plots else []
    payload["report"] = os.path.join(out_dir, f"report{suffix}.json")
    write_json(payload["report"], payload)
    echo(f"report: {payload['report']}" + "".join(f"\nplot: {p}" for p in payload["plots"]))
    return payload
