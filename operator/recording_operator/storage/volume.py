"""Deleting one recorded file from a mounted PersistentVolumeClaim, without ever leaving the claim.

Used by `recording-operator delete-volume-file` (the command of a RecordedFile's deletion Job, see
`controllers/recordedfile/`). The path comes from a RecordedFile's `spec.location.volume.path`,
which anyone allowed to create RecordedFiles can write, so it is treated as untrusted:

- it must be relative, non-empty, without NUL bytes and without `.`/`..` components;
- every directory on the way is opened relative to the previous one with `O_NOFOLLOW`: a symbolic
  link in a directory position is refused (it could lead anywhere, also out of the claim), and a
  directory swapped for a link between the checks cannot redirect the unlink either;
- the last component is removed with `unlink` relative to its directory, so a symbolic link there
  is removed itself, never its target; a link whose target resolves outside the root is refused;
- a file (or directory on the way) that does not exist counts as deleted: Jobs are retried;
- directories are never removed: those under a claim come from `storage.prefix` and `subPath`,
  are shared by every recording writing there and may be written by a running recorder at the
  same moment (OpenDAL creates them right before each write), and the root is the claim itself.
"""

from __future__ import annotations

import errno
import os
import stat
from enum import Enum
from pathlib import Path


class UnsafePath(ValueError):
    """The path is refused: absolute, empty, with `..`, or through a symbolic link."""


class Outcome(Enum):
    """What `delete_under` did."""

    DELETED = "deleted"
    MISSING = "missing"


def path_parts(relative: str) -> list[str]:
    """The components of an untrusted relative path (`a//b/` → `["a", "b"]`).

    Raises:
        UnsafePath: empty, absolute, NUL bytes, or a `.`/`..` component.
    """
    if not relative or "\x00" in relative:
        raise UnsafePath("the path is empty or contains a NUL byte")
    if relative.startswith("/"):
        raise UnsafePath(f"{relative!r} is absolute: paths are relative to the claim's root")
    parts = [p for p in relative.split("/") if p]
    if not parts:
        raise UnsafePath(f"{relative!r} names no file")
    if any(p in (".", "..") for p in parts):
        raise UnsafePath(f"{relative!r} has a '.' or '..' component")
    return parts


def delete_under(root: Path, relative: str) -> Outcome:
    """Delete the file `relative` (a `/`-separated path) under the directory `root`.

    Returns `Outcome.DELETED`, or `Outcome.MISSING` when the file or a directory on its way does
    not exist. `root` itself is trusted (the mount point) and followed if it is a link.

    Raises:
        UnsafePath: the path is refused (see `path_parts`), a directory on the way is a symbolic
            link, or the file is a symbolic link whose target resolves outside `root`.
        NotADirectoryError: `root`, or a component on the way, is not a directory.
        IsADirectoryError: the path names a directory.
        OSError: any other failure (permission denied, I/O error, read-only filesystem).
    """
    parts = path_parts(relative)
    real_root = os.path.realpath(root)
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
    fd = os.open(real_root, flags)
    try:
        walked = real_root
        for name in parts[:-1]:
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return Outcome.MISSING
            if stat.S_ISLNK(info.st_mode):
                raise UnsafePath(f"{os.path.join(walked, name)} is a symbolic link: refused")
            if not stat.S_ISDIR(info.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", os.path.join(walked, name))
            child = os.open(name, flags | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd, walked = child, os.path.join(walked, name)
        name = parts[-1]
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return Outcome.MISSING
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", os.path.join(walked, name))
        if stat.S_ISLNK(info.st_mode):
            target = os.path.realpath(os.path.join(walked, name))
            if os.path.commonpath([real_root, target]) != real_root:
                raise UnsafePath(f"{os.path.join(walked, name)} is a symbolic link leading out of the root")
        try:
            os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            return Outcome.MISSING
        return Outcome.DELETED
    finally:
        os.close(fd)


__all__ = ["Outcome", "UnsafePath", "delete_under", "path_parts"]
