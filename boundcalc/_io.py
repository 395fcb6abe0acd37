"""Output files and folders: atomic writes, deterministic JSON, safe ``--out`` folders.

* :func:`write_atomic` writes to a temporary file in the same folder and renames it over the
  target, so an interrupted export never leaves a half-written file; the file is created with the
  user's umask (``0o666 & ~umask``, e.g. 0644), as ``open`` would.
* :func:`dumps` turns results (with numpy and mpmath numbers inside) into JSON that is identical
  byte for byte for identical inputs.
* :func:`prepare_out_dir` checks, creates and locks an output folder for one run (one writer at a
  time; an existing result is not overwritten without ``force``); :func:`prepare_out_file` does the
  checks for a single output file; :func:`safe_name` keeps a file name inside its folder.

Every refusal is a :class:`~boundcalc._checks.BoundcalcError` whose single line names the option
(``--out`` by default), so the command line prints it and exits with status 2.
"""

from __future__ import annotations

import errno
import json
import math
import os
import secrets
import threading
from pathlib import Path

import mpmath
import numpy as np

from boundcalc._checks import BoundcalcError

try:  # POSIX; elsewhere folders are not locked (see prepare_out_dir)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


# ------------------------------------------------------------------------------------------------
# Atomic files
# ------------------------------------------------------------------------------------------------

def _temporary(folder: Path, name: str) -> tuple[int, Path]:
    """Create a new empty file next to the target with mode ``0o666`` filtered by the umask (the
    kernel applies the umask on ``O_CREAT``; ``tempfile.mkstemp`` would force 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {folder / name}")  # pragma: no cover


def write_atomic(path, data: str | bytes, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder + ``os.replace``).

    Text is written as UTF-8 with ``\\n`` line ends on every platform.  The parent folder is
    created if needed.  The new file's mode follows the umask (``0o666 & ~umask``).  With
    ``fsync=False`` the data is not forced to disk before the rename (still atomic for readers;
    for many small files whose loss in a machine crash is harmless, such as a validator's units).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    fd, tmp = _temporary(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


# ------------------------------------------------------------------------------------------------
# Output folders and names
# ------------------------------------------------------------------------------------------------

def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def check_out_path(value, option: str = "--out") -> Path:
    """``value`` as a :class:`~pathlib.Path`; refuses ``None`` and the empty string (which would
    otherwise mean the current folder)."""
    if value is None or (isinstance(value, str) and not value.strip()) or str(value) == "":
        raise BoundcalcError(f"{option} must name a folder or file, got an empty string")
    if "\0" in str(value):
        raise BoundcalcError(f"{option} must not contain a NUL character, got {str(value)!r}")
    return Path(value)


def safe_name(name, option: str = "--name") -> str:
    """A plain file name that stays inside its folder: no path separator, not ``.`` or ``..``, no
    leading dot (hidden files and the lock are ours), no NUL; refused with one line otherwise."""
    text = "" if name is None else str(name)
    bad = ("/" in text or "\\" in text or "\0" in text or text.strip() in ("", ".", "..")
           or text.startswith(".") or (os.altsep is not None and os.altsep in text))
    if bad:
        raise BoundcalcError(f"{option} must be a plain file name (no folder, no '/', no '..', not starting "
                             f"with '.'), got {text!r}")
    return text


def prepare_out_file(path, option: str = "--out") -> Path:
    """Check an output *file* before any work: a non-empty path, not an existing folder, whose
    folder can be created and written.  Returns the path; one-line error naming ``option`` otherwise."""
    path = check_out_path(path, option)
    try:
        is_dir = path.is_dir()
    except OSError as exc:  # a name too long, a loop of links: is_dir raises instead of saying False
        raise BoundcalcError(f"{option} {path}: cannot write there ({_why(exc)}); choose another place") from None
    if is_dir:
        raise BoundcalcError(f"{option} must be a file path, got the directory {path}")
    _writable_folder(path.parent if str(path.parent) else Path("."), option, str(path))
    return path


def _writable_folder(folder: Path, option: str, shown: str) -> None:
    """Create ``folder`` (with parents) and write and remove a probe file in it."""
    try:
        if folder.exists() and not folder.is_dir():
            raise BoundcalcError(f"{option} {shown}: {folder} exists and is not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = _temporary(folder, "boundcalc-write-test")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BoundcalcError(f"{option} {shown}: cannot write there ({_why(exc)}); "
                             "choose another place") from None


def _relative_inside(name) -> str:
    """A result name for :func:`prepare_out_dir`: a relative path (``kde_state.json``,
    ``units/kde``) with no ``..`` part, so that ``--force`` can only remove things inside the folder."""
    text = str(name)
    parts = Path(text).parts
    if not text or Path(text).is_absolute() or not parts or any(p in ("..", ".") for p in parts) or "\0" in text:
        raise BoundcalcError(f"a result name must be a relative path inside the folder, got {text!r}")
    return text


def _missing_ancestors(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, innermost first."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists() or candidate.is_symlink():
            break
        missing.append(candidate)
    return missing


#: folders locked by this process: (st_dev, st_ino) -> [file descriptor, nesting count]
_HELD: dict[tuple[int, int], list] = {}
_HELD_GUARD = threading.Lock()


class OutDir:
    """The context manager returned by :func:`prepare_out_dir`; ``with`` gives the folder's Path.

    On entry: the checks, the folder, the lock and the result check (see :func:`prepare_out_dir`).
    Inside, an ``OSError`` about a file in the folder (disk full, removed folder) becomes a one-line
    :class:`BoundcalcError` naming the option.  On exit the lock is released; when the block raised,
    the folders this entry created are removed again if they are still empty.
    """

    def __init__(self, path, *, resume: bool = False, force: bool = False, results=(), option: str = "--out"):
        self.path = check_out_path(path, option)
        if resume and force:
            raise BoundcalcError("--resume and --force exclude each other: --resume continues the result "
                                 f"in {option} {self.path}, --force replaces it")
        self.resume, self.force, self.option = bool(resume), bool(force), option
        self.results = tuple(_relative_inside(r) for r in results)
        self._key = None
        self._created: list[Path] = []

    # -- entering ------------------------------------------------------------------------------
    def __enter__(self) -> Path:
        folder, shown = self.path, f"{self.option} {self.path}"
        try:  # a name too long or a loop of links makes exists() raise instead of saying False
            not_a_folder = folder.exists() and not folder.is_dir()
            self._created = _missing_ancestors(folder)
        except OSError as exc:
            raise BoundcalcError(f"{shown}: cannot write there ({_why(exc)}); choose another place") from None
        if not_a_folder:
            raise BoundcalcError(f"{shown}: exists and is not a folder; choose another place")
        try:
            _writable_folder(folder, self.option, str(folder))
            outermost = self._lock(folder, shown)
        except BaseException:
            self._remove_created()
            raise
        if outermost:
            try:
                self._check_results(folder, shown)
            except BaseException:
                self._unlock()
                raise
        else:
            self._created = []  # the outer holder owns the folder
        return folder

    def _lock(self, folder: Path, shown: str) -> bool:
        """Take the folder's lock; True for the outermost holder in this process."""
        st = folder.stat()
        key = (st.st_dev, st.st_ino)
        with _HELD_GUARD:
            if key in _HELD:
                _HELD[key][1] += 1
                self._key = key
                return False
            if fcntl is None:  # pragma: no cover - no advisory locks on this platform
                _HELD[key] = [None, 1]
                self._key = key
                return True
            try:
                fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
            except OSError as exc:
                raise BoundcalcError(f"{shown}: cannot be locked ({_why(exc)}); choose another place") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    raise BoundcalcError(f"{shown} is in use by another boundcalc run; wait for it to finish or "
                                         "choose another folder") from None
                raise BoundcalcError(f"{shown}: cannot be locked ({_why(exc)}); choose another place") from None
            _HELD[key] = [fd, 1]
            self._key = key
            return True

    def _unlock(self) -> None:
        with _HELD_GUARD:
            entry = _HELD.get(self._key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] == 0:
                del _HELD[self._key]
                if entry[0] is not None:
                    os.close(entry[0])  # closing the descriptor releases the flock
            self._key = None

    def _check_results(self, folder: Path, shown: str) -> None:
        if self.resume:
            return
        present = [name for name in self.results if os.path.lexists(folder / name)]
        if not present:
            return
        if not self.force:
            raise BoundcalcError(f"{shown} already holds a result ({', '.join(present)}); continue it with "
                                 "--resume or replace it with --force")
        import shutil
        for name in present:
            target = folder / name
            try:
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink()
            except OSError as exc:
                raise BoundcalcError(f"{shown}: cannot remove the old {name} ({_why(exc)})") from None

    # -- leaving -------------------------------------------------------------------------------
    def _remove_created(self) -> None:
        """Remove the folders this entry created, innermost first, as long as they are empty."""
        for folder in self._created:
            try:
                folder.rmdir()
            except OSError:
                break
        self._created = []

    def __exit__(self, kind, exc, tb):
        self._unlock()
        if exc is not None:  # a failed run leaves no empty folder behind (bad options, early errors)
            self._remove_created()
        if isinstance(exc, OSError) and not isinstance(exc, BoundcalcError) and self._inside(exc):
            name = Path(exc.filename).name
            raise BoundcalcError(f"{self.option} {self.path}: cannot write {name} ({_why(exc)})") from None
        return False

    def _inside(self, exc: OSError) -> bool:
        if not exc.filename:
            return False
        try:
            here = os.path.realpath(self.path)
            there = os.path.realpath(os.path.dirname(os.fspath(exc.filename)) or ".")
        except (OSError, TypeError, ValueError):
            return False
        return there == here


def prepare_out_dir(path, *, resume: bool = False, force: bool = False, results=(),
                    option: str = "--out") -> OutDir:
    """Check, create and lock the output folder of one run; use as ``with prepare_out_dir(...) as folder``.

    On entry, in this order (each refusal is one :class:`BoundcalcError` line naming ``option``):

    1. the path is not empty (``--out ''`` would mean the current folder), and ``resume`` and
       ``force`` are not both set;
    2. the folder is created with its parents, and a probe file is written and removed in it (an
       existing file, a parent that is a file, ``/proc``, ``/sys``, a read-only or unpermitted
       folder are refused here, before any work);
    3. an exclusive non-blocking ``flock`` is taken on the folder itself, so a second run into the
       same folder is refused while the first is running (no lock file is left; the kernel releases
       the lock if the process dies).  The lock is re-entrant within one process: a nested
       ``prepare_out_dir`` of the same folder only counts and skips step 4;
    4. without ``resume``, if any file named in ``results`` exists, the run is refused unless
       ``force`` (then those files are removed before the run starts, so a crash cannot leave an
       old result beside a new state).

    Parameters
    ----------
    path : str or Path
        The ``--out`` folder.
    resume : bool
        The run continues the result already in the folder (the caller checks its state file).
    force : bool
        Replace a result already in the folder.
    results : iterable of str
        Files or folders, relative to ``path`` (e.g. ``"kde_validation.json"``, ``"units/kde"``), that
        mark a finished or interrupted result of this command; with ``force`` they are removed
        (folders with their contents).
    option : str
        The option named in the messages.

    Examples
    --------
    >>> import tempfile, os
    >>> folder = os.path.join(tempfile.mkdtemp(), "run")
    >>> with prepare_out_dir(folder, results=("r.json",)) as out:
    ...     _ = write_atomic(out / "r.json", "{}\\n")
    >>> prepare_out_dir(folder, results=("r.json",)).__enter__()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    boundcalc._checks.BoundcalcError: --out ... already holds a result (r.json); continue it with --resume or replace it with --force
    """
    return OutDir(path, resume=resume, force=force, results=results, option=option)


def jsonable(x):
    """Convert numpy / mpmath / tuples into plain JSON types.

    An mpmath number that a double cannot hold (|x| > 1.8e308, or a non-zero |x| < 2.2e-308)
    is written as a string in mpmath's notation rather than silently becoming 0 or inf.
    """
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, mpmath.mpf):
        f = float(x)
        if (math.isinf(f) and not mpmath.isinf(x)) or (f == 0 and x != 0):
            return mpmath.nstr(x, 17)
        return f
    if isinstance(x, (float, np.floating)):
        f = float(x)
        return f if math.isfinite(f) else str(f)
    return x


def dumps(obj) -> str:
    """Deterministic JSON text (keys in insertion order, two-space indent, newline at end)."""
    return json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n"
