"""Reports of a benchmark run: a text table, a JSON file and PNG plots (matplotlib, Agg canvas).

One table / plot compares every tracker evaluated (see
:func:`siamtrack.benchmarks.evaluate.evaluate` for the dicts). Files are
written atomically. Plots: OTB success and precision plots (got10k
``ExperimentOTB.plot_curves`` style: legend ``name: [score]``, trackers sorted
by score), GOT-10k success plot, VOT expected-overlap curves with the EAO
length range shaded.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from siamtrack.benchmarks.measures import got10k as mgot
from siamtrack.benchmarks.measures import otb as motb
from siamtrack.errors import SiamtrackError
from siamtrack.runner.sinks import atomic_path

__all__ = ["COLUMNS", "format_table", "write_json", "write_plots"]

#: Columns of the table per dataset kind / experiment: ``(key, header, format)``.
COLUMNS = {
    "otb": [("success", "AUC", "{:.3f}"), ("precision", "Prec@20", "{:.3f}"),
            ("norm_precision", "NPrec", "{:.3f}")],
    "vot": [("accuracy", "A", "{:.3f}"), ("robustness", "R", "{:.3f}"), ("failures", "Fail", "{:.1f}"),
            ("eao", "EAO", "{:.3f}")],
    "vot-unsupervised": [("ao", "AO", "{:.3f}")],
    "got10k": [("ao", "AO", "{:.3f}"), ("sr50", "SR0.5", "{:.3f}"), ("sr75", "SR0.75", "{:.3f}")],
    "davis": [("J_mean", "J", "{:.3f}"), ("J_recall", "J-rec", "{:.3f}"), ("J_decay", "J-dec", "{:.3f}"),
              ("F_mean", "F", "{:.3f}"), ("F_recall", "F-rec", "{:.3f}"), ("F_decay", "F-dec", "{:.3f}")],
}


def _columns(kind: str, experiment: str):
    return COLUMNS["vot-unsupervised" if kind == "vot" and experiment == "unsupervised" else kind]


def _cell(fmt: str, v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return fmt.format(v)


def format_table(ds, evals: list[dict], experiment: str = "baseline", verbose: bool = False) -> str:
    """The comparison table (one row per tracker; with ``verbose`` first one row per tracker and sequence)."""
    cols = _columns(ds.kind, experiment)
    header = ["tracker"] + (["sequence"] if verbose else []) + [h for _, h, _ in cols] + ["fps"]
    rows = []
    for ev in evals:
        if verbose:
            for seq, m in ev["sequences"].items():
                rows.append([ev["tracker"], seq] + [_cell(f, m.get(k)) for k, _, f in cols] + [""])
        rows.append([ev["tracker"]] + (["(all)"] if verbose else []) +
                    [_cell(f, ev["overall"].get(k)) for k, _, f in cols] + [_cell("{:.1f}", ev.get("fps"))])
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i < (2 if verbose else 1) else c.rjust(w)  # noqa: E731
                               for i, (c, w) in enumerate(zip(r, widths)))
    title = f"{ds.name} ({len(ds.sequences)} sequences, {sum(len(s) for s in ds.sequences)} frames" + \
        (f", {experiment}" if ds.kind == "vot" else "") + ")"
    out = [title, line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
    for ev in evals:
        if ev.get("note"):
            out.append(f"{ev['tracker']}: {ev['note']}")
    return "\n".join(out)


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _nan_to_none(o):
    if isinstance(o, float) and math.isnan(o):
        return None
    if isinstance(o, dict):
        return {k: _nan_to_none(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_nan_to_none(v) for v in o]
    return o


def write_json(path: str, payload: dict) -> None:
    """Write ``payload`` as indented JSON (``nan`` -> ``null``), atomically."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    text = json.dumps(_nan_to_none(json.loads(json.dumps(payload, default=_json_default))), indent=2)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text + "\n")


def _save(fig, path: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight")
    except OSError as e:
        raise SiamtrackError(f"{path}: cannot write ({e.strerror or e})") from None


def _curve_plot(path, evals, key, score_key, x, xlabel, ylabel, title, xlim):
    from matplotlib.figure import Figure

    order = sorted(evals, key=lambda e: -(e["overall"].get(score_key) or 0))
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    styles = ["-", "--", "-."]
    for i, ev in enumerate(order):
        ax.plot(x, ev["curves"][key], styles[(i // 10) % 3], label=f"{ev['tracker']}: [{ev['overall'][score_key]:.3f}]")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, xlim=xlim, ylim=(0, 1))
    ax.grid(True)
    ax.legend(loc="lower left" if key != "precision" else "lower right", fontsize=8)
    _save(fig, path)


def _eao_plot(path, evals, low, high):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    n = 1
    for ev in sorted(evals, key=lambda e: -(e["overall"].get("eao") or 0)):
        curve = np.array([np.nan if v is None else v for v in ev["curves"]["eao"]], dtype=np.float64)
        n = max(n, len(curve))
        ax.plot(np.arange(len(curve)), curve, label=f"{ev['tracker']}: [{ev['overall']['eao']:.3f}]")
    # x: the curve index (vot-toolkit 0.9.0 EAOCurve: frames after the initialisation), EAO over low..high
    ax.axvspan(low, high, color="0.85", zorder=0, label=f"EAO range {low}-{high}")
    ax.set(xlabel="Frames after initialisation", ylabel="Expected overlap", title="Expected average overlap",
           xlim=(0, max(n, high)), ylim=(0, 1))
    ax.grid(True)
    ax.legend(loc="upper right", fontsize=8)
    _save(fig, path)


def write_plots(folder: str, ds, evals: list[dict], experiment: str = "baseline") -> list[str]:
    """Write the dataset's plots into ``folder``; returns their paths (none for DAVIS / VOT unsupervised)."""
    os.makedirs(folder, exist_ok=True)
    out = []
    if ds.kind == "otb":
        p = os.path.join(folder, "success_plot.png")
        _curve_plot(p, evals, "success", "success", motb.IOU_THRESHOLDS, "Overlap threshold", "Success rate",
                    f"Success plots of OPE on {ds.name}", (0, 1))
        out.append(p)
        p = os.path.join(folder, "precision_plot.png")
        _curve_plot(p, evals, "precision", "precision", motb.CE_THRESHOLDS, "Location error threshold (pixels)",
                    "Precision", f"Precision plots of OPE on {ds.name}", (0, 50))
        out.append(p)
    elif ds.kind == "got10k" and ds.scored:
        p = os.path.join(folder, "success_plot.png")
        _curve_plot(p, evals, "success", "ao", mgot.THRESHOLDS, "Overlap threshold", "Success rate",
                    f"Success plots on {ds.name}", (0, 1))
        out.append(p)
    elif ds.kind == "vot" and experiment == "baseline":
        p = os.path.join(folder, "eao_curve.png")
        low, high = evals[0]["overall"]["eao_range"]
        _eao_plot(p, evals, low, high)
        out.append(p)
    return out
