"""Model factories named on the command line: ``"PACKAGE.MODULE:FACTORY"`` or ``"path/to/file.py:FACTORY"``.

A factory is a callable ``FACTORY(width) -> torch.nn.Module`` that builds the same architecture at any
width (the user's own model code, untouched). ``load_factory(spec)`` imports it and returns a checked
callable; ``build(factory, width, spec)`` calls it and checks that a module came back. Every way a
spec can be wrong (no colon, a module that does not import, a missing or non-callable attribute, a
factory that raises or returns something else) is one ``InfwidthError`` sentence.

The current directory is put at the front of ``sys.path`` while importing, as ``python -m`` does, so
``mypkg.models:make`` works from a project root without installing the project. A file path
(anything ending in ``.py``) is imported from that file, which also works where the module name is
shadowed (e.g. a ``tests`` folder next to an installed ``tests`` package).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from torch import nn

from infwidth.errors import InfwidthError

Factory = Callable[[int], nn.Module]
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_EXAMPLE = "e.g. mypkg.models:make_model or path/to/models.py:make_model"


def _split(spec: str) -> tuple[str, str]:
    text = spec.strip()
    if text.count(":") < 1 or text.endswith(":") or text.startswith(":"):
        raise InfwidthError(f"--model {spec!r} is not of the form MODULE:FACTORY ({_EXAMPLE}).")
    where, attr = text.rsplit(":", 1)
    if not _IDENT.match(attr):
        raise InfwidthError(f"--model {spec!r}: {attr!r} is not a Python name; give MODULE:FACTORY ({_EXAMPLE}).")
    return where, attr


def _import_file(path: str, spec: str) -> ModuleType:
    file = Path(path).expanduser()
    if not file.is_file():
        raise InfwidthError(f"--model {spec!r}: the file {str(file)!r} does not exist; check the path.")
    name = f"_infwidth_factory_{abs(hash(str(file.resolve())))}"
    if name in sys.modules:
        return sys.modules[name]
    loader_spec = importlib.util.spec_from_file_location(name, file)
    if loader_spec is None or loader_spec.loader is None:  # pragma: no cover - any .py file has a loader
        raise InfwidthError(f"--model {spec!r}: cannot import {str(file)!r} as Python code.")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module
    try:
        loader_spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise InfwidthError(f"--model {spec!r}: importing {str(file)!r} failed with "
                            f"{type(e).__name__}: {e}.") from None
    return module


def _import_module(dotted: str, spec: str) -> ModuleType:
    if not _IDENT.match(dotted):
        raise InfwidthError(f"--model {spec!r}: {dotted!r} is neither a dotted module name nor a .py file "
                            f"({_EXAMPLE}).")
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as e:
        missing = e.name or dotted
        hint = ("run from the folder that contains it, install it, or give its file path (path/to/file.py:FACTORY)"
                if dotted == missing or dotted.startswith(missing + ".") else f"install {missing!r}")
        raise InfwidthError(f"--model {spec!r}: no module named {missing!r}; {hint}.") from None
    except Exception as e:
        raise InfwidthError(f"--model {spec!r}: importing {dotted!r} failed with {type(e).__name__}: {e}.") from None
    finally:
        if added and sys.path and sys.path[0] == cwd:
            sys.path.pop(0)


def load_factory(spec: str) -> Factory:
    """Import ``FACTORY`` from ``"PACKAGE.MODULE:FACTORY"`` or ``"path/to/file.py:FACTORY"``.

    Input: the spec string. Output: the callable (not yet called). Raises ``InfwidthError`` for a
    malformed spec, a module or file that does not import, or an attribute that is missing or not callable.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InfwidthError(f"--model is empty; give MODULE:FACTORY ({_EXAMPLE}).")
    where, attr = _split(spec)
    module = _import_file(where, spec) if where.endswith(".py") else _import_module(where, spec)
    if not hasattr(module, attr):
        names = sorted(n for n in vars(module) if not n.startswith("_") and callable(getattr(module, n)))
        listed = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise InfwidthError(f"--model {spec!r}: {where!r} has no attribute {attr!r}"
                            + (f"; callables there: {listed}." if names else "."))
    factory = getattr(module, attr)
    if not callable(factory):
        raise InfwidthError(f"--model {spec!r}: {attr!r} is a {type(factory).__name__}, not a callable "
                            "FACTORY(width) -> nn.Module.")
    return factory


def build(factory: Factory, width: int, spec: str = "the factory") -> nn.Module:
    """Call ``factory(width)`` and check that it returned an ``nn.Module``; errors become one sentence."""
    try:
        model = factory(width)
    except InfwidthError:
        raise
    except Exception as e:
        raise InfwidthError(f"{spec}({width}) raised {type(e).__name__}: {e}; the factory must build the "
                            "model at any width it is given (check the widths).") from None
    if not isinstance(model, nn.Module):
        raise InfwidthError(f"{spec}({width}) returned a {type(model).__name__}, not a torch.nn.Module; "
                            "FACTORY(width) must return the model.")
    return model


#: Small widths tried, in turn, to learn how a factory's parameter count grows (a factory may need multiples).
PROBE_WIDTHS = ((16, 32, 48), (64, 128, 192), (128, 256, 384))


def parameter_count(factory: Factory, spec: str = "the factory") -> Callable[[float], float] | None:
    """width -> number of parameters of ``factory(width)``, from three small models (None if none builds).

    Parameter counts of models built from width-sized layers are polynomials of degree <= 2 in the width
    (embeddings and biases linear, hidden matrices quadratic), so the quadratic through three widths is exact
    for them; used to refuse a width that cannot fit before any large model is built.
    """
    for ws in PROBE_WIDTHS:
        try:
            counts = [float(sum(p.numel() for p in build(factory, w, spec).parameters())) for w in ws]
        except InfwidthError:
            continue
        return _quadratic_through(ws, counts)
    return None


def _quadratic_through(xs: Sequence[float], ys: Sequence[float]) -> Callable[[float], float]:
    """The quadratic through three points (Lagrange form), never below the smallest ``ys``."""
    (x0, x1, x2), (y0, y1, y2) = xs, ys

    def q(w: float) -> float:
        w = float(w)
        return max(min(ys), y0 * (w - x1) * (w - x2) / ((x0 - x1) * (x0 - x2))
                   + y1 * (w - x0) * (w - x2) / ((x1 - x0) * (x1 - x2))
                   + y2 * (w - x0) * (w - x1) / ((x2 - x0) * (x2 - x1)))
    return q
