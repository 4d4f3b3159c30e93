"""Writing files so that a reader never sees half of one: the one atomic write every script uses."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: Path | str, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` so that ``path`` holds either its old content or all of the new, never a part.

    The content goes to a uniquely named temporary file in the same folder, which then replaces ``path`` in one
    step (``os.replace``). Two processes writing the same path at once each leave a complete file (the last one
    wins), and neither can delete or truncate the other's temporary file. Returns ``path``.
    """
    if not isinstance(content, (str, bytes)):
        raise TypeError(f"content must be str or bytes, got {type(content).__name__}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a folder (expected a file path)")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {path.parent} does not exist")
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content.encode() if isinstance(content, str) else content)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600: keep the mode of the file replaced, or give a new one the usual umask-based mode
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
