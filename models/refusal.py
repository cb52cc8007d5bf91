"""Explaining a refused checkpoint: which globals its pickle would import, without torch's unsafe advice.

``torch.load(weights_only=True)`` refuses a pickle that imports anything but
tensors, plain containers and allow-listed globals, and its message advises
re-running with ``weights_only=False``, i.e. executing the file.
:func:`refusal_error` turns any such refusal into one line naming the globals
(``posix.system``), read from the pickle's opcodes with the standard
library's :mod:`pickletools` (nothing is unpickled), and never passes that
advice on.
"""

from __future__ import annotations

import re
import zipfile

from siamtrack.errors import SiamtrackError

__all__ = ["SAFE_LOADER_ADVICE", "refusal_error", "numpy_safe_globals"]


def numpy_safe_globals() -> list:
    """numpy globals that may appear in checkpoints (scalars and dtypes), under their pickled names."""
    import numpy as np
    from numpy._core.multiarray import scalar

    allowed = [(scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar"), np.dtype]
    for name in ("Float64DType", "Float32DType", "Int64DType", "Int32DType", "BoolDType"):
        if hasattr(np.dtypes, name):
            allowed.append(getattr(np.dtypes, name))
    return allowed


def _open_pickles(path: str):
    """The pickles of a checkpoint file as a binary file: ``<archive>/data.pkl`` of a zip checkpoint
    (read with :mod:`zipfile`), else the file itself (a raw pickle, or the legacy format's pickles one
    after another); ``None`` when a zip archive has no ``data.pkl``."""
    import io

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
            return io.BytesIO(z.read(min(names, key=len))) if names else None
    return open(path, "rb")


def _pickled_globals(path: str) -> list:
    """``module.name`` of every global a checkpoint's pickles import (in file order, each once), found by
    reading the opcodes with :mod:`pickletools`; nothing is unpickled. ``[]`` when nothing can be read.

    Names are those Python 3 unpickling would import: protocol 0-2 names of Python 2 modules
    (``__builtin__``, ``commands``, ...) are mapped as :mod:`pickle` does (``fix_imports``).
    """
    import _compat_pickle
    import collections
    import io
    import pickletools

    found = []
    try:
        f = _open_pickles(path)
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError):
        return found
    if f is None:
        return found
    with f:
        for _ in range(5):  # the legacy format: magic, protocol, sys info, the object, the storage keys
            if f.read(1) != b"\x80":  # every pickle torch reads starts with PROTO; raw data follows the last
                break
            f.seek(-1, io.SEEK_CUR)
            proto, strings, memo = 0, collections.deque(maxlen=2), {}  # strings: the last two pushes
            try:
                for op, arg, _pos in pickletools.genops(f):
                    module_name = None
                    if op.name in ("PROTO", "FRAME"):  # no push (FRAME may fall between a global's two strings)
                        proto = arg if op.name == "PROTO" else proto
                        continue
                    if op.name in ("GLOBAL", "INST"):
                        module_name = tuple(arg.split(" ", 1)) if " " in arg else None
                    elif op.name == "STACK_GLOBAL" and len(strings) == 2 and None not in strings:
                        module_name = (strings[0], strings[1])
                    elif op.name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                        memo[arg if op.name != "MEMOIZE" else len(memo)] = strings[-1] if strings else None
                        continue
                    elif op.name in ("GET", "BINGET", "LONG_BINGET"):
                        strings.append(memo.get(arg))
                        continue
                    if module_name is not None:
                        module, name = module_name
                        if proto < 3:
                            if (module, name) in _compat_pickle.NAME_MAPPING:
                                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
                            elif module in _compat_pickle.IMPORT_MAPPING:
                                module = _compat_pickle.IMPORT_MAPPING[module]
                        if f"{module}.{name}" not in found:
                            found.append(f"{module}.{name}")
                    if isinstance(arg, bytes) and "STRING" in op.name:  # protocol 0-2 str of Python 2
                        arg = arg.decode("latin-1")
                    strings.append(arg if isinstance(arg, str) and op.name not in ("GLOBAL", "INST") else None)
            except Exception:  # noqa: BLE001 - a truncated or garbled pickle: keep what was found
                break
    return found


def _unsafe_globals(path: str) -> list:
    """The globals of a checkpoint's pickles that ``weights_only`` loading does not allow."""
    found = _pickled_globals(path)
    allowed = {g[1] if isinstance(g, tuple) else f"{g.__module__}.{g.__qualname__}" for g in numpy_safe_globals()}
    try:
        from torch import _weights_only_unpickler

        allowed |= set(_weights_only_unpickler._get_allowed_globals())
    except Exception:  # noqa: BLE001 - a private API of torch: without it, torch's own globals count as allowed
        allowed |= {g for g in found if g.startswith("torch.") or g == "collections.OrderedDict"}
    return [g for g in found if g not in allowed]


SAFE_LOADER_ADVICE = ("weights_only", "likely succeed", "add_safe_globals", "safe_globals", "trusted source",
                       "Check the documentation", "Please file an issue")


def _refusal_detail(text: str) -> str:
    """The reason inside torch's ``weights_only`` refusal, without torch's advice (to load unsafely, to
    allowlist globals): e.g. ``Unsupported operand 149``; "" when none is left."""
    for line in text.replace("\x1b[1m", "").replace("\x1b[0m", "").splitlines():
        line = line.split("WeightsUnpickler error:")[-1].replace("Weights only load failed.", "").strip()
        line = re.split(r"\.? Please use |\.? Please file ", line)[0]
        line = re.sub(r" or (types|classes) allowlisted\s+via `add_safe_globals`", "", line).strip().rstrip(".")
        if line and not any(a in line for a in SAFE_LOADER_ADVICE):
            return line
    return ""


def _named_globals(detail: str) -> list:
    """``module.name`` named in torch's refusal text (``GLOBAL posix.system``, ``GLOBAL eval``, ...)."""
    names = []
    for name in re.findall(r"GLOBAL (\S+?)(?: was not an allowed global| whose module)", detail):
        names.append(name if "." in name else f"builtins.{name}")  # torch strips "builtins."
    return names


def refusal_error(path: str, text: str) -> SiamtrackError:
    """The one-line error for a checkpoint ``torch.load(weights_only=True)`` refused to unpickle.

    Names the globals the file would import (``posix.system``, ``builtins.eval``, ``__main__.Foo``):
    from the pickle's opcodes, else from torch's text. Never passes torch's advice on: re-running with
    ``weights_only=False`` would execute whatever the file holds.
    """
    detail = _refusal_detail(text)
    names = _unsafe_globals(path) or _named_globals(detail)
    refused = f"{path}: refused to load, the file holds objects other than weights"
    if names:
        more = f", ... {len(names) - 3} more" if len(names) > 3 else ""
        msg = f"{refused} ({', '.join(names[:3])}{more})"
    else:
        m = re.fullmatch(r"Unsupported operand (\d+)", detail)
        if m:
            import pickletools

            code = chr(int(m.group(1)))
            op = next((o.name for o in pickletools.opcodes if o.code == code), f"0x{int(m.group(1)):02x}")
            msg = (f"{path}: not a PyTorch checkpoint that loads safely: its pickle uses opcode {op}, "
                   f"which the safe loader does not support")
        else:
            msg = f"{refused} ({detail or 'unpickling refused'})"
    if any(a in msg[len(path):] for a in SAFE_LOADER_ADVICE):  # never pass torch's advice on, whatever its words
        msg = refused
    return SiamtrackError(msg)
