"""Import Ray where the `amdsmi` package is installed without its native library.

zeus (the energy meter, bench extra) depends on the `amdsmi` package, which on a machine without
ROCm raises KeyError('libamd_smi.so') at import. Ray 2.60 probes AMD GPUs by importing amdsmi and
catches only ImportError, so `import ray` fails, in the driver and in every Ray worker process.
Where (and only where) amdsmi is broken that way, a one-line stand-in module that raises
ImportError is put first on PYTHONPATH: this process, the Ray processes it starts and the suite
subprocesses they start then see "no amdsmi", which is the truth on such a machine.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

SHIM = Path(__file__).resolve().parent / "no_amdsmi"


@cache
def amdsmi_broken() -> bool:
    """True when `import amdsmi` fails with anything but ImportError (its library is absent)."""
    if str(SHIM) in sys.path:
        return True
    try:
        # Its failed search for the library prints two lines; they are noise for our users.
        with contextlib.redirect_stdout(io.StringIO()):
            importlib.import_module("amdsmi")
    except ImportError:
        return False
    except Exception:  # KeyError('libamd_smi.so'), OSError: the package without its library
        sys.modules.pop("amdsmi", None)
        return True
    return False


def shim_environment(environment: dict[str, str]) -> dict[str, str]:
    """`environment` with the stand-in first on PYTHONPATH where amdsmi is broken."""
    if not amdsmi_broken():
        return dict(environment)
    parts = [p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(SHIM)]
    return {**environment, "PYTHONPATH": os.pathsep.join([str(SHIM), *parts])}


def import_ray() -> ModuleType:
    """Ray, importable in this process and in the processes it starts."""
    if amdsmi_broken():
        os.environ.update(shim_environment(dict(os.environ)))
        if str(SHIM) not in sys.path:
            sys.path.insert(0, str(SHIM))
        sys.modules.pop("amdsmi", None)
    try:
        return importlib.import_module("ray")
    except ImportError as error:
        from bench.fleet.errors import FleetError

        raise FleetError(
            f"Ray is not installed ({error}); install the fleet extra: pip install -c constraints.txt "
            "-e '.[fleet]'"
        ) from None
