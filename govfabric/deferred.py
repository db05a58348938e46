"""Modules a library imports when it loads, for features govfabric never calls, imported on first use.

Great-expectations imports scipy.stats (with scipy.spatial and scipy.linalg) and altair for one
expectation, KL divergence, that govfabric never builds: ≈ 1.2 s of CPU in every process that runs a
quality check, a third of importing GX. While the library is imported (:func:`deferred`), such a
module is a stand-in whose first attribute read imports the real one; afterwards the stand-in leaves
``sys.modules``, so any later ``import`` anywhere gets the real module, and the references the library
kept still work (they forward to it).

For a package whose ``__init__`` imports far more than the submodules govfabric uses,
:func:`without_init` registers it without running the ``__init__``: the submodules then import on their
own, and the ``__init__`` runs on the first read of anything else. For a module a library imports names
from (``from m import name``) only to use them in code govfabric never runs, :func:`deferred_names`
gives each name as a proxy that imports ``m`` when first used.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its attributes is read, then forwards to the real one."""

    def __getattr__(self, attr: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]  # read during the import itself: the real module takes over
        return getattr(importlib.import_module(self.__name__), attr)


@contextmanager
def deferred(*modules: str) -> Iterator[None]:
    """Within the block, each of ``modules`` not imported yet is a stand-in (``import m`` gives it;
    ``from m import name`` reads it, so imports the real module at once: defer only the former)."""
    with _standing_in(_Deferred, modules):
        yield


@contextmanager
def _standing_in(stub_class: type[types.ModuleType], modules: tuple[str, ...]) -> Iterator[None]:
    """Within the block, a ``stub_class`` in ``sys.modules`` for each of ``modules`` not imported yet;
    removed afterwards unless the real module has taken its place."""
    placed = []
    for module in modules:
        if module in sys.modules:
            continue
        stub = stub_class(module)
        stub.__spec__ = None
        sys.modules[module] = stub
        placed.append(module)
    try:
        yield
    finally:
        for module in placed:
            if isinstance(sys.modules.get(module), stub_class):
                del sys.modules[module]


class _Names(types.ModuleType):
    """Stands in for a module while a library imports names from it: each name is a :class:`_Name`."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Name(self.__name__, attr)


class _Name:
    """A name from a deferred module: the first call, attribute read or ``isinstance`` imports it."""

    __slots__ = ("_where",)

    def __init__(self, module: str, name: str) -> None:
        self._where = (module, name)

    def _target(self) -> Any:
        module, name = self._where
        real = importlib.import_module(module)
        if isinstance(real, _Names):
            raise AttributeError(f"{module}.{name} is deferred until the library's import ends")
        return getattr(real, name)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):  # typing and copy probe dunders: the proxy has none
            raise AttributeError(attr)
        return getattr(self._target(), attr)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._target()(*args, **kwargs)

    def __instancecheck__(self, obj: Any) -> bool:
        return isinstance(obj, self._target())

    def __subclasscheck__(self, cls: Any) -> bool:
        return issubclass(cls, self._target())

    def __or__(self, other: Any) -> Any:  # ``Name | None`` in annotations evaluated at import
        return typing.Union[self, other]  # noqa: UP007 (the proxy is no type: ``|`` would not do)

    def __ror__(self, other: Any) -> Any:
        return typing.Union[other, self]  # noqa: UP007

    def __repr__(self) -> str:
        return f"<deferred {'.'.join(self._where)}>"


@contextmanager
def deferred_names(*modules: str) -> Iterator[None]:
    """Within the block, ``from m import name`` for each of ``modules`` not imported yet gives a proxy
    (for calls, attribute reads and ``isinstance``; not for names subclassed while importing)."""
    with _standing_in(_Names, modules):
        yield


class _Package(types.ModuleType):
    """A package whose ``__init__`` has not run (see :func:`without_init`)."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        sub = f"{self.__name__}.{attr}"
        if sub in sys.modules or importlib.util.find_spec(sub) is not None:
            return importlib.import_module(sub)
        if (source := _REEXPORTS.get(self.__name__, {}).get(attr)) is not None:
            return getattr(importlib.import_module(f"{self.__name__}.{source}"), attr)
        with _INIT_LOCK:
            if isinstance(self, _Package):
                self.__class__ = types.ModuleType  # type: ignore[assignment]  # an ordinary module from now on: run the real __init__ into it
                assert self.__spec__ is not None and self.__spec__.loader is not None
                try:
                    self.__spec__.loader.exec_module(self)
                except BaseException:
                    sys.modules.pop(self.__name__, None)  # as a failed import: the next one starts afresh
                    raise
        return getattr(self, attr)


_INIT_LOCK = threading.RLock()
_REEXPORTS: dict[str, dict[str, str]] = {}


def without_init(package: str, reexports: dict[str, str] | None = None) -> None:
    """Register ``package`` without running its ``__init__`` (unless imported already): importing its
    submodules then costs only theirs; reading any other attribute of it runs the ``__init__``, except
    the ``reexports`` (name -> the submodule the ``__init__`` imports it from), read from their submodule."""
    if reexports:
        _REEXPORTS.setdefault(package, {}).update(reexports)
    if package in sys.modules:
        return
    parent, _, child = package.rpartition(".")
    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:  # its parent is not installed: nothing to do
        return
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _Package
    sys.modules[package] = module
    if parent:
        setattr(importlib.import_module(parent), child, module)
