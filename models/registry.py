"""Registries of model building blocks: backbones, necks and heads.

A registry maps a name to a plain function that returns an ``nn.Module``; a
model preset (see :mod:`siamtrack.models.presets`) is data naming those
functions and their keyword arguments, e.g.
``{"type": "mobilenetv3_small", "width_mult": 1.0}``.
"""

from __future__ import annotations

import importlib
from typing import Callable, Dict, Sequence

from torch import nn

__all__ = ["Registry", "BACKBONES", "NECKS", "HEADS"]


class Registry:
    """Name -> builder function for one kind of block.

    ``register(name)`` is a decorator; ``build({"type": name, **kwargs})``
    calls the builder. Unknown names raise ``KeyError`` listing the known ones.
    ``builtin_modules`` are imported (once) before the first look-up, so the
    built-in entries are there whichever module is imported first.
    """

    def __init__(self, kind: str, builtin_modules: Sequence[str] = ()):
        self.kind = kind
        self._builders: Dict[str, Callable[..., nn.Module]] = {}
        self._builtin_modules = tuple(builtin_modules)
        self._loaded = False

    def _load_builtins(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._builtin_modules:
                importlib.import_module(module)

    def register(self, name: str) -> Callable:
        def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
            if name in self._builders:
                raise KeyError(f"{self.kind} {name!r} is registered twice")
            self._builders[name] = fn
            return fn

        return deco

    def get(self, name: str) -> Callable[..., nn.Module]:
        self._load_builtins()
        try:
            return self._builders[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._builders))}") from None

    def build(self, cfg: dict) -> nn.Module:
        cfg = dict(cfg)
        return self.get(cfg.pop("type"))(**cfg)

    def names(self) -> list:
        self._load_builtins()
        return sorted(self._builders)

    def __contains__(self, name: str) -> bool:
        self._load_builtins()
        return name in self._builders


_M = "siamtrack.models."
BACKBONES = Registry("backbone", [_M + "backbones." + m for m in ("mobilenetv3", "alexnet", "mobilenetv2",
                                                                   "resnet_atrous", "dasiamrpn_alexnet",
                                                                   "alexnet_v1")])
NECKS = Registry("neck", [_M + "necks.adjust"])
HEADS = Registry("head", [_M + "heads.nanotrack_ban", _M + "heads.rpn", _M + "heads.dasiamrpn",
                          _M + "heads.mask", _M + "heads.siamfc"])
# Weights loaders for presets whose weights are not a PyTorch state dict (a preset's ``loader`` key):
# name -> fn(preset, path) -> model with its weights loaded (see siamtrack.tracker.factory.load_weights).
LOADERS = Registry("weights loader", [_M + "cfnet"])
