"""Save a run under the next free number, so two runs saving at the same instant both land.

pytest-benchmark names a saved run `<NNNN>_<name>.json` with NNNN one past the highest number
in the folder, then checks the name is free and writes it: two runs that list the folder at
the same moment pick the same number and the second one overwrites the first (or stops on an
assert). Here the number is claimed atomically instead:

- the complete file is written under a temporary name, then published with `os.link` onto
  `<NNNN>_<name>.json`; `link` fails with EEXIST when the name is taken, and the save retries
  with the next number. A reader never sees a half-written run (except on a filesystem without
  hard links, where the claimed name is filled in place and removed if the write fails), nothing
  is ever overwritten, and this holds against writers that know nothing of us;
- an exclusive `flock` on `<folder>/.save.lock` around choosing and publishing keeps our own
  saves from even picking the same number under different names.

Standard library only: `python -m bench.recover` saves through this without torch.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.quarantine import move_aside

LOCK_NAME = ".save.lock"
_NUMBERED = re.compile(r"(\d{4})_")  # the numbers pytest-benchmark itself counts
Warn = Callable[[str], None]


def next_number(folder: Path) -> int:
    """One past the highest `NNNN_` number of any saved run in the folder, whatever its name."""
    numbers = [int(m.group(1)) for p in folder.glob("*.json") if (m := _NUMBERED.match(p.name))]
    return max(numbers, default=0) + 1


def _temporary(folder: Path, data: bytes) -> Path:
    handle, temp = tempfile.mkstemp(prefix=".saving-", suffix=".tmp", dir=folder)
    os.fchmod(handle, 0o644)  # mkstemp's 0600 would follow the link: others on the box read runs too
    with os.fdopen(handle, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return Path(temp)


def _publish(temp: Path, target: Path) -> None:
    """Give `temp` the name `target` unless it is taken (FileExistsError); never overwrites."""
    try:
        os.link(temp, target)
    except OSError as error:
        if error.errno == errno.EEXIST:
            raise FileExistsError(error.errno, error.strerror, str(target)) from None
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # A filesystem without hard links: claim the name exclusively, then copy the bytes in.
        # Here a reader can see the file before it is complete; a failed write removes it.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(temp.read_bytes())
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            target.unlink(missing_ok=True)
            raise


def claim(folder: Path, name: str, data: bytes) -> Path:
    """Publish `data` as `<NNNN>_<name>.json` under the first free number from the folder's next."""
    temp = _temporary(folder, data)
    try:
        number = next_number(folder)
        while True:
            target = folder / f"{number:04d}_{name}.json"
            try:
                _publish(temp, target)
                return target
            except FileExistsError:
                number += 1  # somebody took it between our listing and our claim
    finally:
        temp.unlink(missing_ok=True)


@contextmanager
def _save_lock(folder: Path, storage: Path, warn: Warn) -> Iterator[None]:
    lock = folder / LOCK_NAME
    if lock.is_symlink() or (os.path.lexists(lock) and not lock.is_file()):
        move_aside(lock, storage, "not a regular file", warn)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def run_folder(storage: Path, machine_id: str | None, warn: Warn) -> Path:
    """`<storage>/<machine_id>` (or the storage itself), made a folder if something else sits there."""
    folder = storage / machine_id if machine_id else storage
    if os.path.lexists(folder) and not folder.is_dir():
        move_aside(folder, storage, "not a folder", warn)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_run(storage: Path, machine_id: str | None, name: str, data: bytes, warn: Warn) -> Path:
    """Save a run's JSON bytes in the storage's machine folder; returns the file it landed in."""
    folder = run_folder(storage, machine_id, warn)
    with _save_lock(folder, storage, warn):
        return claim(folder, name, data)
