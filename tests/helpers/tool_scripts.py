"""Import a lab script of tools/ by its path, for the tests that cover it.

tools/ is no package (nothing in models, optimize, bench or reports may import it), and its
scripts run as `python tools/NAME.py`; the tests load them the same way, from the file.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def load_tool(name: str) -> ModuleType:
    """tools/NAME.py as a module (loaded once per test session, like any import)."""
    module_name = f"tools_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, TOOLS / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no tool script {TOOLS / name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # before exec: dataclasses and pickling look the module up
    spec.loader.exec_module(module)
    return module
