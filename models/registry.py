"""Registries of model building blocks: backbones, necks and heads.

A registry maps a name to a plain function that returns an ``nn.Module``; a
model preset (see :mod:`siamtrack.models.presets`) is data naming those
functions and their keyword arguments, e.g.
``{"type": "mobilenetv3_small", "width_mult": 1.0}``.
"""

from __future__ import annotations

from typing import Callable, Dict

from torch import nn

__all__ = ["Registry", "BACKBONES", "NECKS", "HEADS"]


class Registry:
    """Name -> builder function for one kind of block.

    ``register(name)`` is a decorator; ``build({"type": name, **kwargs})``
    calls the builder. Unknown names raise ``KeyError`` listing the known ones.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._builders: Dict[str, Callable[..., nn.Module]] = {}

    def register(self, name: str) -> Callable:
        def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
            if name in self._builders:
                raise KeyError(f"{self.kind} {name!r} is registered twice")
            self._builders[name] = fn
            return fn

        return deco

    def get(self, name: str) -> Callable[..., nn.Module]:
        try:
            return self._builders[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._builders))}") from None

    def build(self, cfg: dict) -> nn.Module:
        cfg = dict(cfg)
        return self.get(cfg.pop("type"))(**cfg)

    def names(self) -> list:
        return sorted(self._builders)

    def __contains__(self, name: str) -> bool:
        return name in self._builders


BACKBONES = Registry("backbone")
NECKS = Registry("neck")
HEADS = Registry("head")
