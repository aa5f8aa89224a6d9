"""Loading plugins: the core methods, the `viewbox` entry-point group and the plugins folder."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType

import pluggy

from .hooks import PROJECT, ViewboxHooks

log = logging.getLogger(__name__)


def plugin_manager(core: list[ModuleType], plugins_dir: Path | None = None,
                   entry_points: bool = True) -> pluggy.PluginManager:
    """A PluginManager with the core modules first, then entry points, then the folder's plugins."""
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(ViewboxHooks)
    for module in core:
        manager.register(module, name=f"core:{module.__name__}")
    if entry_points:
        for module in load_entry_points():
            if not manager.is_registered(module):
                manager.register(module, name=f"entry-point:{module.__name__}")
    if plugins_dir is not None:
        for module in load_folder(Path(plugins_dir)):
            if manager.is_registered(module):
                continue
            manager.register(module, name=f"folder:{module.__name__}")
    return manager


def load_entry_points() -> list[ModuleType]:
    """The modules named by entry points in group `viewbox` (a broken one is logged, skipped)."""
    modules = []
    for entry_point in importlib.metadata.entry_points(group=PROJECT):
        try:
            modules.append(entry_point.load())
        except Exception:  # noqa: BLE001 - one broken plugin must not stop the workstation
            log.exception("plugin entry point %s could not be loaded", entry_point.name)
    return modules


def load_folder(folder: Path) -> list[ModuleType]:
    """Import every `*.py` file and package of a plugins folder (sorted; broken ones logged)."""
    modules: list[ModuleType] = []
    if not folder.is_dir():
        log.warning("plugins folder %s does not exist", folder)
        return modules
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "_")):
            continue
        if path.is_dir() and (path / "__init__.py").is_file():
            location, submodules = path / "__init__.py", [str(path)]
        elif path.suffix == ".py" and path.is_file():
            location, submodules = path, None
        else:
            continue
        name = f"viewbox_plugin_{path.stem}"
        try:
            spec = importlib.util.spec_from_file_location(name, location,
                                                          submodule_search_locations=submodules)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {location}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        except Exception:  # noqa: BLE001 - one broken plugin must not stop the workstation
            sys.modules.pop(name, None)
            log.exception("plugin %s could not be loaded", path)
            continue
        modules.append(module)
    return modules
