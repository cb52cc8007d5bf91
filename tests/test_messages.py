"""User-facing messages (issue 14, points 7 and 8).

7. A checkpoint that ``torch.load(weights_only=True)`` refuses (a pickle calling
   ``os.system``, ``eval``, ``subprocess.Popen``, an unknown class, ...) is
   reported as ``FILE: refused to load, the file holds objects other than
   weights (posix.system)``, naming the globals it would import, and torch's
   advice to re-run with ``weights_only=False`` is never passed on. The payload
   never runs (its marker file never appears).
8. ``--init`` with NaN / inf is printed as the user typed it, not as a numpy
   repr; an empty ``groundtruth_rect.txt`` is reported as empty, not missing;
   every missing input path reads ``<path>: no such file or folder``.

CLI cases run the real command in a subprocess (CI-like environment: no
display, a temporary weights cache) and expect exactly one stderr line
``siamtrack: error: ...``, exit code 2 and no traceback.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from siamtrack.errors import SiamtrackError
from siamtrack.models.checkpoint import read_state_dict

REFUSED = "refused to load, the file holds objects other than weights"
NO_SUCH = "no such file or folder"
TORCH_ADVICE = ("weights_only", "will likely succeed", "add_safe_globals", "trusted source")


# ----------------------------------------------------------------------------- helpers


def _env(cache_home: Path) -> dict:
    """CI-like environment: no display, weights cache in ``cache_home``, no ``SIAMTRACK_WEIGHTS``."""
    env = dict(os.environ)
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "SIAMTRACK_WEIGHTS"):
        env.pop(var, None)
    env["XDG_CACHE_HOME"] = str(cache_home)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _cli(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "siamtrack.cli", *map(str, args)], env=_env(tmp_path / "cache"),
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=300)


def _error_line(proc: subprocess.CompletedProcess) -> str:
    """The one stderr line ``siamtrack: error: ...`` of a run that exited 2 without a traceback."""
    report = f"exit {proc.returncode}\n--- stdout:\n{proc.stdout}\n--- stderr:\n{proc.stderr}"
    assert proc.returncode == 2, report
    assert "Traceback" not in proc.stderr, report
    lines = [ln for ln in proc.stderr.replace("\r", "\n").splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected exactly one non-empty stderr line\n{report}"
    assert lines[0].startswith("siamtrack: error: "), report
    return lines[0]


def _no_torch_advice(message: str) -> None:
    for advice in TORCH_ADVICE:
        assert advice not in message, f"torch's advice {advice!r} passed on: {message}"


# ----------------------------------------------------------------------------- 7: hostile checkpoints


class _System:
    """Unpickling it runs ``os.system(command)`` (pickled as the global ``posix.system``)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class _Eval:
    def __reduce__(self):
        return eval, ("1 + 1",)


class _Popen:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import subprocess as sp

        return sp.Popen, (["touch", str(self.marker)],)


class Foo:
    """A class of the user's script: pickled as ``__main__.Foo`` (see :func:`_main_foo`)."""


@pytest.fixture
def _main_foo(monkeypatch):
    """``Foo`` importable as ``__main__.Foo``, as a class defined in a training script is pickled."""
    monkeypatch.setattr(Foo, "__module__", "__main__")
    monkeypatch.setattr(sys.modules["__main__"], "Foo", Foo, raising=False)
    return Foo


def _state(fmt: str = "zip") -> dict:
    """A small state dict; for raw pickles a plain number (``pickle.dump`` writes tensors with the global
    ``torch.storage._load_from_bytes``, itself refused: it unpickles without restriction)."""
    if fmt.startswith("pickle"):
        return {"epoch": 1}
    return {"conv.weight": torch.zeros(2, 1, 3, 3), "conv.bias": torch.zeros(2)}


def _write(path: Path, obj, fmt: str) -> Path:
    """``obj`` saved as ``fmt``: ``zip`` (torch.save), ``legacy`` (torch.save's pre-1.6 format),
    ``pickle2`` / ``pickle4`` (a raw pickle of that protocol, as ``pickle.dump`` writes it)."""
    if fmt == "zip":
        torch.save(obj, path)
    elif fmt == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(obj, protocol=int(fmt[-1])))
    return path


def _refusal(path: Path) -> str:
    with pytest.raises(SiamtrackError) as err:
        read_state_dict(path)
    message = str(err.value)
    _no_torch_advice(message)
    return message


FORMATS = ["zip", "legacy", "pickle2", "pickle4"]


def test_hostile_payload_is_live(tmp_path):
    """Control: the payload of these files does run when unpickled without restriction (so that the
    marker checks of the other tests mean something)."""
    marker = tmp_path / "marker"
    data = pickle.dumps({"x": _System(f"echo pwned > {marker}")}, protocol=2)
    pickle.loads(data)  # the unrestricted unpickler executes os.system
    assert marker.read_text().strip() == "pwned"


@pytest.mark.parametrize("fmt", FORMATS)
def test_os_system_checkpoint_is_refused_by_name(tmp_path, fmt):
    """A checkpoint whose pickle calls ``os.system`` (a real state dict beside it): refused, naming
    ``posix.system``; torch's "re-run with weights_only=False" advice is not passed on; nothing runs."""
    marker = tmp_path / "marker"
    path = _write(tmp_path / "hostile.pth", {"state_dict": _state(fmt), "x": _System(f"echo pwned > {marker}")}, fmt)
    assert _refusal(path) == f"{path}: {REFUSED} (posix.system)"
    assert not marker.exists(), "the payload ran"


@pytest.mark.parametrize("fmt", ["zip", "legacy", "pickle4"])
@pytest.mark.parametrize("payload, name", [("eval", "builtins.eval"), ("popen", "subprocess.Popen"),
                                           ("foo", "__main__.Foo")])
def test_other_unsupported_globals_are_refused_by_name(tmp_path, _main_foo, fmt, payload, name):
    """``builtins.eval``, ``subprocess.Popen``, a class of the user's script: the global is named as
    Python imports it (torch writes ``eval`` and, for protocol-2 pickles, ``commands.Popen``)."""
    marker = tmp_path / "marker"
    obj = {"eval": _Eval(), "popen": _Popen(marker), "foo": Foo()}[payload]
    path = _write(tmp_path / "hostile.pth", {"state_dict": _state(fmt), "x": obj}, fmt)
    assert _refusal(path) == f"{path}: {REFUSED} ({name})"
    assert not marker.exists(), "the payload ran"


def test_several_unsafe_globals_are_all_named(tmp_path):
    marker = tmp_path / "marker"
    path = _write(tmp_path / "hostile.pth", [_Eval(), _System(f"echo pwned > {marker}")], "zip")
    assert _refusal(path) == f"{path}: {REFUSED} (builtins.eval, posix.system)"
    assert not marker.exists()


@pytest.mark.parametrize("data, detail", [
    (b"\x80\x02X\x03\x00\x00\x00abc)R.", "reduce"),  # REDUCE on a string: "Trying to call reduce for ..."
    (b"\x80\x02}}b.", "build"),  # BUILD on a dict: "Can only build Tensor, Parameter, OrderedDict ..."
])
def test_refusals_without_a_global_never_advise_unsafe_loading(tmp_path, data, detail):
    path = tmp_path / "odd.pth"
    path.write_bytes(data)
    message = _refusal(path)
    assert message.startswith(f"{path}: {REFUSED} (") and detail in message.lower(), message


def test_unsupported_opcode_never_advises_unsafe_loading(tmp_path):
    """A plain protocol-4 pickle (torch says "Unsupported operand 149"): named as a pickle the safe
    loader does not read, without torch's advice."""
    path = tmp_path / "plain.pth"
    path.write_bytes(pickle.dumps({"epoch": 1}, protocol=4))
    message = _refusal(path)
    assert message.startswith(f"{path}: not a PyTorch checkpoint") and "FRAME" in message, message


def test_torchscript_archive_never_advises_unsafe_loading(tmp_path):
    path = tmp_path / "scripted.pth"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script is deprecated, its files exist
        torch.jit.script(torch.nn.Linear(2, 2)).save(str(path))
    assert _refusal(path) == f"{path}: refused to load, the file is a TorchScript archive (a program, not only weights)"


def test_tensors_in_a_raw_pickle_are_refused_by_name(tmp_path):
    """Sibling: ``pickle.dump`` of a state dict: refused, naming the unsafe global it relies on."""
    path = _write(tmp_path / "raw.pth", _state(), "pickle2")
    assert _refusal(path) == f"{path}: {REFUSED} (torch.storage._load_from_bytes)"


def test_plain_checkpoints_still_load(tmp_path):
    """Sibling: the refusal path is not taken for real checkpoints (zip, legacy, wrapped with numpy scalars)."""
    for i, obj in enumerate([_state(), {"epoch": 3, "state_dict": _state(), "lr": np.float64(0.01)}]):
        for fmt in ("zip", "legacy"):
            sd = read_state_dict(_write(tmp_path / f"ok{i}-{fmt}.pth", obj, fmt))
            assert sorted(sd) == ["conv.bias", "conv.weight"]


def test_cli_refuses_hostile_checkpoint_in_one_line(tmp_path, shared_dir):
    """``weights import`` and ``run --weights`` of a hostile checkpoint: one line naming the global,
    nothing copied into the cache, the payload never run."""
    marker = tmp_path / "marker"
    path = _write(tmp_path / "nanotrackv2.pth", {"state_dict": _state(), "x": _System(f"echo pwned > {marker}")},
                  "zip")
    expected = f"siamtrack: error: {path}: {REFUSED} (posix.system)"
    line = _error_line(_cli(tmp_path, "weights", "import", path, "--model", "nanotrack"))
    assert line == expected
    assert not (tmp_path / "cache").exists() or not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))
    line = _error_line(_cli(tmp_path, "run", shared_dir / "data/videos/bag.avi", "--weights", path,
                            "--init", "10,10,20,20", "--no-show"))
    assert line == expected
    assert not marker.exists(), "the payload ran"


# ----------------------------------------------------------------------------- 8: --init with NaN / inf


@pytest.mark.parametrize("box", [[np.nan, 1, 2, 3], [1, 2, np.inf, 3], [1, -np.inf, 2, 3]])
def test_validate_box_names_the_values_not_a_numpy_repr(box):
    from siamtrack.tracker.base import validate_box

    text = ",".join("nan" if np.isnan(v) else "inf" if v == np.inf else "-inf" if v == -np.inf else f"{v:g}"
                    for v in box)
    for value in (np.array(box, dtype=np.float64), box):
        with pytest.raises(SiamtrackError) as err:
            validate_box(value, (360, 480, 3), "--init box")
        assert str(err.value) == f"--init box {text}: expected 4 finite numbers x,y,w,h"


def test_validate_box_other_messages_name_the_values():
    """Siblings: size and position messages use the same form (``10.5``, not ``10.500000``)."""
    from siamtrack.tracker.base import validate_box

    with pytest.raises(SiamtrackError, match=r"^init box 10\.5,10,0,20: zero or negative size \(w=0, h=20\)$"):
        validate_box(np.array([10.5, 10, 0, 20]), (360, 480, 3))
    with pytest.raises(SiamtrackError, match=r"^init box 500,10,20,20: lies outside the 480x360 image$"):
        validate_box(np.array([500.0, 10, 20, 20]), (360, 480, 3))
    with pytest.raises(SiamtrackError) as err:
        validate_box(np.float32([0.1, 1, 2, np.nan]), (360, 480, 3))
    assert str(err.value).startswith("init box 0.1,1,2,nan: ")
    np.testing.assert_array_equal(validate_box([1, 2, 3, 4], (360, 480, 3)), [1.0, 2.0, 3.0, 4.0])


@pytest.mark.parametrize("init", ["nan,1,2,3", "inf,1,2,3"])
def test_cli_init_with_nan_or_inf_prints_the_users_text(tmp_path, shared_dir, init):
    line = _error_line(_cli(tmp_path, "run", shared_dir / "data/videos/bag.avi", "--init", init, "--no-show",
                            "--weights", shared_dir / "weights/nanotrack/nanotrackv2.pth"))
    assert "--init" in line and init in line, line
    assert "array(" not in line, line


# ----------------------------------------------------------------------------- 8: one wording for missing paths


def test_missing_path_error_wording():
    from siamtrack.errors import missing_path_error

    err = missing_path_error("some/where.pth")
    assert isinstance(err, SiamtrackError) and str(err) == f"some/where.pth: {NO_SUCH}"


def test_loaders_word_missing_files_the_same(tmp_path):
    """``read_state_dict``, ``resolve_weights`` and CFNet's ``read_dagnn``: ``<path>: no such file or folder``."""
    from siamtrack.models.cfnet import read_dagnn
    from siamtrack.models.presets import get_preset
    from siamtrack.models.weights import resolve_weights

    missing = tmp_path / "missing.pth"
    for call in (lambda: read_state_dict(missing), lambda: resolve_weights(get_preset("nanotrack"), missing),
                 lambda: read_dagnn(tmp_path / "missing.mat")):
        with pytest.raises(SiamtrackError) as err:
            call()
        assert str(err.value).endswith(f": {NO_SUCH}") and "missing." in str(err.value), str(err.value)


@pytest.mark.parametrize("case", ["run-source", "run-weights", "import-pth", "import-mat"])
def test_cli_words_missing_paths_the_same(tmp_path, shared_dir, case):
    """``run missing.mp4``, ``run VIDEO --weights missing.pth``, ``weights import missing.pth``: one wording."""
    video = shared_dir / "data/videos/bag.avi"
    args, missing = {
        "run-source": (["run", "missing.mp4", "--init", "10,10,20,20", "--no-show"], "missing.mp4"),
        "run-weights": (["run", video, "--weights", "missing.pth", "--init", "10,10,20,20", "--no-show"],
                        "missing.pth"),
        "import-pth": (["weights", "import", "missing.pth", "--model", "nanotrack"], "missing.pth"),
        "import-mat": (["weights", "import", "missing.mat", "--model", "cfnet-conv2"], "missing.mat"),
    }[case]
    assert _error_line(_cli(tmp_path, *args)) == f"siamtrack: error: {missing}: {NO_SUCH}"


# ----------------------------------------------------------------------------- 8: empty groundtruth_rect.txt


def _otb(shared: Path, root: Path, gt_files: dict, seq: str = "Crossing", n: int = 4) -> Path:
    """An OTB-layout sequence ``root/seq`` with ``n`` real frames and the given ground-truth files
    (name -> text; ``None``: the real first ``n`` lines)."""
    src = shared / "data/otb" / seq
    (root / seq / "img").mkdir(parents=True)
    for p in sorted((src / "img").glob("*.jpg"))[:n]:
        (root / seq / "img" / p.name).symlink_to(p)
    real = "\n".join((src / "groundtruth_rect.txt").read_text().splitlines()[:n]) + "\n"
    for name, text in gt_files.items():
        (root / seq / name).write_text(real if text is None else text)
    return root


@pytest.mark.parametrize("text", ["", " \n\n\t\n"], ids=["zero-bytes", "whitespace"])
def test_cli_bench_reports_empty_groundtruth_as_empty(tmp_path, shared_dir, text):
    root = _otb(shared_dir, tmp_path / "otb", {"groundtruth_rect.txt": text})
    line = _error_line(_cli(tmp_path, "bench", "--dataset", "otb", "--root", root, "-q", "--no-plots",
                            "--results-dir", tmp_path / "results"))
    gt = root / "Crossing" / "groundtruth_rect.txt"
    assert line == f"siamtrack: error: otb sequence Crossing: {gt} is empty"


def test_otb_groundtruth_files_empty_and_missing(tmp_path, shared_dir):
    """Siblings: an empty extra file beside a real one is skipped (got10k's convention, Jogging has
    ``groundtruth_rect.1.txt`` and ``.2.txt``); all empty: named; none: still "no groundtruth_rect.txt"."""
    from siamtrack.benchmarks.datasets.otb import load_otb

    root = _otb(shared_dir, tmp_path / "a", {"groundtruth_rect.1.txt": None, "groundtruth_rect.2.txt": ""})
    ds = load_otb(str(root))
    assert [s.name for s in ds.sequences] == ["Crossing"] and len(ds.sequences[0]) == 4

    root = _otb(shared_dir, tmp_path / "b", {"groundtruth_rect.1.txt": None, "groundtruth_rect.2.txt": None})
    assert [s.name for s in load_otb(str(root)).sequences] == ["Crossing.1", "Crossing.2"]

    root = _otb(shared_dir, tmp_path / "c", {"groundtruth_rect.1.txt": "", "groundtruth_rect.2.txt": "\n"})
    folder = root / "Crossing"
    with pytest.raises(SiamtrackError) as err:
        load_otb(str(root))
    assert str(err.value) == (f"otb sequence Crossing: {folder / 'groundtruth_rect.1.txt'} and "
                              f"{folder / 'groundtruth_rect.2.txt'} are empty")

    root = _otb(shared_dir, tmp_path / "d", {})
    with pytest.raises(SiamtrackError, match="no groundtruth_rect.txt"):
        load_otb(str(root))
