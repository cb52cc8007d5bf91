"""A ready VOT-toolkit workspace for siamtrack trackers (``siamtrack vot-workspace``).

Writes, for the official Python VOT toolkit (``vot-toolkit`` 0.9.0,
votchallenge/vot-toolkit-python), a workspace folder that ``vot evaluate``,
``vot analysis`` and ``vot test`` use offline::

    DIR/config.yaml            stack: <stack>.yaml, registry: [./trackers.ini]  (vot/workspace/__init__.py)
    DIR/<stack>.yaml           the year's supervised "baseline" experiment only
    DIR/siamtrack_votkit.py    that experiment's type (see SHIM_SOURCE): run the toolkit with PYTHONPATH=DIR
    DIR/trackers.ini           one [siamtrack_<model>] section per model, protocol trax
    DIR/sequences/list.txt     the sequence names (its presence also stops the toolkit's download)
    DIR/sequences/<seq>/sequence       metadata: channels.color=color/%08d.jpg, width, height, length, fps
    DIR/sequences/<seq>/color/%08d.jpg symbolic links to the dataset's frames (1-based numbering)
    DIR/sequences/<seq>/groundtruth.txt, *.tag, *.label, *.value   symbolic links to the dataset's files

Nothing of the dataset is copied: every frame and annotation is a symbolic
link to the ``--sequences`` folder (either VOT layout that
:func:`siamtrack.benchmarks.datasets.vot.load_vot` reads: ``color/`` + a
``sequence`` file, or the older flat ``%08d.jpg`` layout), so the toolkit
reads the VOT2017+ layout of ``vot/dataset/common.py`` (``read_sequence``)
for every sequence. ``DIR/results/`` is the toolkit's, kept when the
workspace is written again.

The stack files are those of vot-toolkit 0.9.0 ``vot/stack/vot2016/rgb.yaml``,
``vot/stack/vot2017.yaml`` and ``vot/stack/vot2018/shortterm.yaml``, reduced
to their ``baseline`` experiment (supervised, 15 repetitions -- 3 for a
deterministic tracker, ``MultiRunExperiment._can_stop`` -- re-initialisation
5 frames after a failure; AR with sensitivity 30, EAO over the year's length
range) and without their ``dataset`` download address.

The tracker command is ``<python> -m siamtrack.cli trax --model M --weights
W`` with the absolute path of this interpreter (``sys.executable``) and of
the weights resolved now, so the toolkit (its own virtual environment, a
temporary working folder) starts siamtrack from the main environment.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys

from siamtrack.errors import SiamtrackError

__all__ = ["STACKS", "tracker_identifier", "stack_yaml", "trackers_ini", "write_workspace"]

#: ``--stack`` -> (toolkit stack file it reduces, EAO ``low``, ``high``, extra analyses). vot-toolkit 0.9.0.
STACKS = {
    "vot2016": ("vot/stack/vot2016/rgb.yaml", 108, 371, ["cumulative_failures"]),
    "vot2017": ("vot/stack/vot2017.yaml", 100, 356, ["cumulative_failures"]),
    "vot2018": ("vot/stack/vot2018/shortterm.yaml", 100, 356, []),
}

_VALID = re.compile(r"^[a-zA-Z0-9_-]+$")  # vot/tracker/__init__.py VALID_IDENTIFIER


def tracker_identifier(model: str) -> str:
    """The toolkit identifier of a siamtrack model: ``siamtrack_<model>``, ``+`` spelt ``p``
    (``siamrpn++-r50`` -> ``siamtrack_siamrpnpp-r50``), other characters outside ``[A-Za-z0-9_-]`` as ``_``."""
    ident = "siamtrack_" + re.sub(r"[^a-zA-Z0-9_-]", "_", model.replace("+", "p"))
    assert _VALID.match(ident)
    return ident


def stack_yaml(stack: str) -> str:
    """The text of the workspace's stack file for ``stack`` (``vot2016`` / ``vot2017`` / ``vot2018``)."""
    source, low, high, extra = STACKS[stack]
    lines = [
        f"# siamtrack vot-workspace: the baseline experiment of vot-toolkit 0.9.0 {source}",
        f"title: {stack.upper()} baseline (siamtrack workspace)",
        "experiments:",
        "  baseline:",
        f"    type: {SHIM_MODULE}.SupervisedBaseline  # = supervised, see {SHIM_MODULE}.py",
        "    repetitions: 15",
        "    skip_initialize: 5",
        "    analyses:",
        "      - type: supervised_average_ar",
        "        sensitivity: 30",
    ]
    lines += [f"      - type: {a}" for a in extra]
    lines += [
        "      - type: supervised_eao_score",
        f"        low: {low}",
        f"        high: {high}",
        "      - type: supervised_eao_curve",
    ]
    return "\n".join(lines) + "\n"


#: Module written into the workspace as ``siamtrack_votkit.py`` (found through ``PYTHONPATH=DIR``) and named
#: by the stack's experiment ``type``. vot-toolkit 0.9.0 ``SupervisedExperiment.execute``
#: (``vot/experiment/multirun.py``) calls ``runtime.initialize(frame, ObjectStatus)`` and
#: ``runtime.update(frame)`` and reads one ``ObjectStatus`` back, while ``TraxTrackerRuntime``
#: (``vot/tracker/trax.py``) wants a list of one object / an empty list and answers lists: every TraX
#: tracker, the toolkit's own ``vot.tracker.dummy`` included, stops with "Tracker does not support
#: multiple objects, but multiple objects were provided for initialization". The experiment below is
#: the toolkit's, with the runtime calls adapted; nothing else changes (same trajectories, same files).
SHIM_MODULE = "siamtrack_votkit"
SHIM_SOURCE = '''"""Written by `siamtrack vot-workspace`: the VOT supervised experiment for single-object TraX trackers.

vot-toolkit 0.9.0 SupervisedExperiment.execute passes one ObjectStatus to runtime.initialize and
nothing to runtime.update, but TraxTrackerRuntime expects a list of one object / an empty list and
returns lists. SupervisedBaseline runs the toolkit's own SupervisedExperiment with the calls adapted.
"""

from vot.experiment.multirun import SupervisedExperiment
from vot.tracker import OnlineTrackerRuntime


class SingleObjectRuntime(OnlineTrackerRuntime):
    """Wraps an online runtime: initialize(frame, status) / update(frame) -> (status, seconds)."""

    def __init__(self, runtime):
        super().__init__(runtime.tracker)
        self._runtime = runtime

    @property
    def multiobject(self):
        return False

    def stop(self):
        self._runtime.stop()

    def restart(self):
        self._runtime.restart()

    def initialize(self, frame, new=None):
        status, elapsed = self._runtime.initialize(frame, [new])
        return status[0], elapsed

    def update(self, frame, new=None):
        status, elapsed = self._runtime.update(frame, [])
        return status[0], elapsed


class SupervisedBaseline(SupervisedExperiment):
    """vot.experiment.multirun.SupervisedExperiment with SingleObjectRuntime around the tracker runtime."""

    def _get_runtime(self, tracker, sequence, multiobject=False):
        runtime = super()._get_runtime(tracker, sequence, multiobject)
        return SingleObjectRuntime(runtime) if isinstance(runtime, OnlineTrackerRuntime) else runtime
'''


def _ini_value(text: str) -> str:
    # configparser's BasicInterpolation reads '%' as the start of a reference: double it.
    return text.replace("%", "%%")


def trackers_ini(entries, python: str = sys.executable, timeout: int = 120) -> str:
    """``trackers.ini`` text (vot/tracker/__init__.py ``Registry``: one section per tracker, keys
    ``label``, ``protocol``, ``command``, runtime arguments such as ``timeout``, ``env_*`` variables).

    Args:
        entries: ``(model, preset_name, weights_path)`` triples.
        python: interpreter that runs ``-m siamtrack.cli trax`` (absolute path).
        timeout: seconds the toolkit waits for each TraX answer (the start loads torch and the model).
    """
    out = ["# Written by `siamtrack vot-workspace`: one TraX tracker per siamtrack model.", ""]
    for model, name, weights in entries:
        cmd = [os.path.abspath(python), "-m", "siamtrack.cli", "trax", "--model", name, "--weights",
               os.path.abspath(weights)]
        out += [
            f"[{tracker_identifier(model)}]",
            _ini_value(f"label = siamtrack {name}"),
            "protocol = trax",
            _ini_value(f"command = {shlex.join(cmd)}"),
            f"timeout = {int(timeout)}",
            "",
        ]
    return "\n".join(out)


def _write(path: str, text: str) -> None:
    from siamtrack.runner.sinks import atomic_path

    with atomic_path(path) as tmp:
        try:
            with open(tmp, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
        except OSError as e:
            raise SiamtrackError(f"{path}: cannot write ({e.strerror or e})") from None


def _link(src: str, dst: str) -> None:
    try:
        os.symlink(os.path.abspath(src), dst)
    except OSError as e:
        raise SiamtrackError(f"{dst}: cannot create a symbolic link to {src} ({e.strerror or e})") from None


def _sequence_folder(seq, source_dir: str, dest: str) -> None:
    """Fill ``dest`` (created) with the toolkit layout of ``seq`` (links to ``source_dir``'s files)."""
    from siamtrack.benchmarks.datasets.base import image_size

    width, height = image_size(seq)
    ext = os.path.splitext(seq.frames[0])[1].lower() or ".jpg"
    color = os.path.join(dest, "color")
    os.makedirs(color)
    for i, frame in enumerate(seq.frames, 1):
        _link(frame, os.path.join(color, f"{i:08d}{ext}"))
    _link(os.path.join(source_dir, "groundtruth.txt"), os.path.join(dest, "groundtruth.txt"))
    for entry in sorted(os.listdir(source_dir)):
        if os.path.splitext(entry)[1] in (".tag", ".label", ".value"):
            _link(os.path.join(source_dir, entry), os.path.join(dest, entry))
    meta = (f"channels.color=color/%08d{ext}\nformat=default\nfps=30\nname={seq.name}\n"
            f"width={width}\nheight={height}\nlength={len(seq)}\n")
    with open(os.path.join(dest, "sequence"), "w", encoding="utf-8", newline="\n") as f:
        f.write(meta)


def write_workspace(directory: str, stack: str, sequences_root: str, models, weights=None, sequences=None,
                    python: str = sys.executable) -> dict:
    """Write (or refresh) a VOT-toolkit workspace in ``directory``; see the module docstring.

    Args:
        directory: the workspace folder (created; an existing one must be empty or a VOT workspace,
            i.e. hold a ``config.yaml``; its ``results/`` and ``analysis/`` are kept).
        stack: ``vot2016``, ``vot2017`` or ``vot2018``.
        sequences_root: a VOT dataset folder (``list.txt`` + sequence folders).
        models: siamtrack preset names (``siamtrack models``).
        weights: checkpoint for a single model (default: the weights search path).
        sequences: names of a subset of the sequences (default: all).
        python: interpreter the toolkit runs the trackers with.

    Returns:
        ``{"workspace", "stack", "trackers": [identifiers], "sequences": [names]}``.

    Raises:
        SiamtrackError: unknown stack or model, missing weights, missing or malformed sequences
            folder, a non-empty folder that is not a workspace, an unwritable folder.
    """
    from siamtrack.benchmarks.datasets import load_dataset
    from siamtrack.models.presets import get_preset
    from siamtrack.models.weights import resolve_weights
    from siamtrack.runner.protect import check_outputs

    if stack not in STACKS:
        raise SiamtrackError(f"--stack {stack}: unknown stack (choose from {', '.join(STACKS)})")
    models = list(models)
    if not models:
        raise SiamtrackError("--model: give at least one model")
    if weights is not None and len(models) != 1:
        raise SiamtrackError("--weights: only with a single --model")
    entries = []
    for m in models:
        preset = get_preset(m)
        entries.append((m, preset["name"], str(resolve_weights(preset, weights))))
    idents = [tracker_identifier(m) for m in models]
    if len(set(idents)) != len(idents):
        raise SiamtrackError(f"--model {','.join(models)}: two models with the same tracker identifier")
    if not os.path.isdir(sequences_root):
        raise SiamtrackError(f"--sequences {sequences_root}: folder not found")
    check_outputs([("the workspace", directory)],
                  [("the --sequences folder", sequences_root)] + [("the weights file", w) for _, _, w in entries])
    ds = load_dataset(stack, sequences_root, sequences)

    directory = os.path.abspath(directory)
    if os.path.isfile(directory):
        raise SiamtrackError(f"{directory}: is a file, not a folder")
    is_workspace = os.path.isfile(os.path.join(directory, "config.yaml"))
    if os.path.isdir(directory) and os.listdir(directory) and not is_workspace:
        raise SiamtrackError(f"{directory}: folder is not empty and not a VOT workspace (no config.yaml)")
    try:
        os.makedirs(os.path.join(directory, "results"), exist_ok=True)
    except OSError as e:
        raise SiamtrackError(f"{directory}: cannot create the workspace ({e.strerror or e})") from None

    # sequences/ is built beside and swapped in whole: a failure leaves the previous one untouched.
    seq_dir = os.path.join(directory, "sequences")
    tmp_dir = os.path.join(directory, ".sequences.tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    try:
        os.makedirs(tmp_dir)
        for seq in ds.sequences:
            _sequence_folder(seq, os.path.join(ds.root, seq.name), os.path.join(tmp_dir, seq.name))
        with open(os.path.join(tmp_dir, "list.txt"), "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(f"{s.name}\n" for s in ds.sequences))
        if os.path.lexists(seq_dir):
            old = os.path.join(directory, ".sequences.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(seq_dir, old)
            os.replace(tmp_dir, seq_dir)
            shutil.rmtree(old, ignore_errors=True)  # links and small text files written here, never data
        else:
            os.replace(tmp_dir, seq_dir)
    except OSError as e:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise SiamtrackError(f"{seq_dir}: cannot write ({e.strerror or e})") from None
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise

    _write(os.path.join(directory, f"{SHIM_MODULE}.py"), SHIM_SOURCE)
    _write(os.path.join(directory, f"{stack}.yaml"), stack_yaml(stack))
    _write(os.path.join(directory, "trackers.ini"), trackers_ini(entries, python=python))
    _write(os.path.join(directory, "config.yaml"),
           f"# Written by `siamtrack vot-workspace`.\nregistry:\n- ./trackers.ini\nsequences: sequences\n"
           f"stack: {stack}.yaml\n")
    return {"workspace": directory, "stack": stack, "trackers": idents, "sequences": [s.name for s in ds.sequences]}


def score_workspace(directory: str, tracker: str) -> dict:
    """Score the toolkit's baseline results of ``tracker`` in a workspace as ``siamtrack bench`` does.

    Reads ``DIR/results/<tracker>/baseline/<seq>/<seq>_NNN.txt`` (the toolkit's text results:
    run it with ``VOT_RESULTS_BINARY=false``) and ``DIR/sequences`` with siamtrack's VOT loader, and
    scores them with :func:`siamtrack.benchmarks.evaluate.evaluate`, i.e. with the same functions as
    ``siamtrack bench`` (:mod:`siamtrack.benchmarks.measures.vot`, vot-toolkit 0.9.0's definitions:
    ``tests/test_trax.py`` checks them equal to ``vot analysis`` to 1e-6).

    Returns:
        :func:`~siamtrack.benchmarks.evaluate.evaluate`'s dict: ``overall`` ``accuracy``,
        ``robustness`` (the toolkit's R), ``ar_robustness``, ``eao`` (over the stack's ``low``,
        ``high`` of :data:`STACKS`), ``failures``, ...; ``sequences``; ``curves["eao"]``.

    Raises:
        SiamtrackError: not a workspace written by ``siamtrack vot-workspace``, missing or malformed results.
    """
    from siamtrack.benchmarks.datasets import load_dataset
    from siamtrack.benchmarks.evaluate import evaluate

    stacks = [s for s in STACKS if os.path.isfile(os.path.join(directory, f"{s}.yaml"))]
    if not os.path.isfile(os.path.join(directory, "config.yaml")) or len(stacks) != 1:
        raise SiamtrackError(f"{directory}: not a workspace written by siamtrack vot-workspace")
    ds = load_dataset(stacks[0], os.path.join(directory, "sequences"))
    return evaluate(ds, os.path.join(directory, "results", tracker), tracker)
