"""Root pytest configuration of a clone: the suite's plugin, for runs that do not autoload it.

The suite's options, hooks and fixtures live in the package (bench/plugin.py, registered by
the `pytest11` entry point of an installed diffbench). Naming it here as well keeps
`pytest bench/` working with `PYTEST_DISABLE_PLUGIN_AUTOLOAD=1` or from a clone that is not
installed; where the entry point already loaded it, pytest skips it (same name).
"""

pytest_plugins = ("bench.plugin",)
