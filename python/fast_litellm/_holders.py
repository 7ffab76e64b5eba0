"""Where LiteLLM's modules hold the functions Fast LiteLLM patches, per LiteLLM release.

An applied patch's wrapper goes wherever a ``litellm.*`` module global is the original
object (``from x import f`` copies the reference). Finding those places by identity reads
every global of every loaded LiteLLM module (~1,200 modules after ``import litellm`` on
1.110.x): that search was most of what ``import fast_litellm`` cost. The names under which
LiteLLM's modules hold each function are fixed by its source, so :mod:`._holders_table`
(written by ``scripts/make-holders-table.py`` from an identity scan of every importable
LiteLLM module on each pinned release) lists them per release. Activation then asks each
loaded module only whether it has one of those names (a set test of its keys, in C) and
rewrites a global only when it is the very original object.

Checked at each activation, cheaply: every listed place in an already loaded module must
still hold the original (or our wrapper). When one does not, or the release or the patch is
not in the table, that patch falls back to the full identity search. Modules imported later
are searched in full by the import hook, as before.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any, Dict, Iterable, List, Optional, Tuple

Places = Tuple[Tuple[str, str], ...]


def table_for(version: Optional[str]) -> Optional[Dict[str, Places]]:
    """``{patch name: ((module, attr), ...)}`` for this LiteLLM release, or ``None``."""
    if version is None:
        return None
    try:
        from ._holders_table import HOLDERS
    except ImportError:  # a broken install: the full search still works
        return None
    return HOLDERS.get(version)


def holders_of(original: Any, target_module: str, modules: Iterable[ModuleType]) -> List[Tuple[str, str]]:
    """Every ``(module, attr)`` outside the target's own module whose global is ``original``
    (what the full search finds; used to write and to test the table)."""
    found = []
    for module in modules:
        name = getattr(module, "__name__", None)
        if name == target_module or not isinstance(name, str):
            continue
        for attr, value in list((getattr(module, "__dict__", None) or {}).items()):
            if value is original:
                found.append((name, attr))
    return sorted(found)


def _still_listed(patch: Any, places: Places) -> bool:
    """Every listed place in a loaded module holds the original or our wrapper."""
    modules = sys.modules
    for module_name, attr in places:
        module = modules.get(module_name)
        if module is None:
            continue
        value = (getattr(module, "__dict__", None) or {}).get(attr, places)
        if value is not patch.original and value is not patch.wrapper:
            return False
    return True


def install_listed(applied: List[Any], version: Optional[str]) -> List[Any]:
    """Install the wrappers of the patches the table covers in every loaded LiteLLM module
    that holds their original under a listed name; returns the patches it did not cover
    (the caller searches for those in full)."""
    table = table_for(version)
    if not table:
        return list(applied)
    covered: List[Tuple[Any, Tuple[str, ...]]] = []
    rest = []
    for patch in applied:
        places = table.get(patch.name)
        if places is None or not _still_listed(patch, places):
            rest.append(patch)
        elif places:  # a patch no module imports by name (a method) needs nothing here
            covered.append((patch, tuple(sorted({attr for _, attr in places}))))
    names = {attr for _, attrs in covered for attr in attrs}
    if not names:
        return rest
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name.startswith("litellm.") or module_name == "litellm"):
            continue
        namespace = getattr(module, "__dict__", None)
        if not namespace or namespace.keys().isdisjoint(names):
            continue
        for patch, attrs in covered:
            if module_name == patch.target_module:
                continue  # resolve() owns the defining module
            for attr in attrs:
                if namespace.get(attr) is patch.original:
                    setattr(module, attr, patch.wrapper)
    return rest
