"""Put first on PYTHONPATH (by bench/fleet/ray_import.py) only where the installed `amdsmi` package
cannot load its native library: Ray catches ImportError for amdsmi, and this makes it one."""

raise ImportError("amdsmi is installed but its native library (libamd_smi.so) is absent")
