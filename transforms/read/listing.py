"""What a file pattern names, and whether each entry can be read.

Beam's local filesystem matches a pattern by walking the folder it starts in and silently drops
what it cannot measure (broken symbolic links, symbolic link loops) and the folders it cannot
list. Here the same walk and the same pattern syntax (Beam's `translate_pattern`) keep those
entries, so the file stage can make each a dead letter that says what it is. Before anything is
opened, `check_readable` refuses what is not a regular file: opening a named pipe blocks until a
writer comes, and a device never ends.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import warnings

from apache_beam.io.filesystem import FileMetadata, FileSystem
from apache_beam.io.filesystems import FileSystems

from transforms.core.dead_letters import Rejected

_KINDS = {
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
}


def matched_files(pattern: str) -> list[FileMetadata]:
    """The entries a Beam file pattern matches, directories aside: on remote filesystems what
    Beam matches; on the local one also the broken links, link loops and special files Beam would
    skip, and the folders below the pattern's start that cannot be listed (size 0: reading each
    of these is a dead letter, see `check_readable`)."""
    if FileSystems.get_scheme(pattern) is not None:
        return list(FileSystems.match([pattern])[0].metadata_list)
    if pattern.endswith(os.sep):
        pattern += "*"
    prefix = re.match(r"^[^[*?]*", pattern).group(0)  # type: ignore[union-attr]  # always matches
    if prefix == pattern:  # no wildcard: the one path, as it is
        return [_metadata(pattern)] if os.path.lexists(pattern) and not os.path.isdir(pattern) else []
    with warnings.catch_warnings():  # Beam writes an escaped "[" as "[[]", which re calls a possible nested set
        warnings.simplefilter("ignore", FutureWarning)
        wanted = re.compile(FileSystem.translate_pattern(pattern))
    root = os.path.dirname(prefix) or "."
    unlistable: list[str] = []
    found = []
    for folder, _, names in os.walk(root, onerror=lambda exc: unlistable.append(str(exc.filename))):
        found += [path for path in (os.path.join(folder, name) for name in names) if wanted.match(path)]
    if "**" in pattern:  # a recursive pattern would have read what is in them
        found += [folder for folder in unlistable if folder != root]
    return [_metadata(path) for path in sorted(found)]


def _metadata(path: str) -> FileMetadata:
    try:
        info = os.stat(path)
    except OSError:
        return FileMetadata(path, 0, 0.0)
    return FileMetadata(path, info.st_size if stat.S_ISREG(info.st_mode) else 0, info.st_mtime)


def check_readable(path: str) -> None:
    """Raise `Rejected` for a local path that is not a regular file one can read, without
    opening it: a special file, a broken symbolic link, a link loop, a folder it cannot list."""
    if FileSystems.get_scheme(path) is not None:
        return
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Rejected("a symbolic link loop: not read", error_type="not_a_file") from None
        if os.path.islink(path):
            raise Rejected(
                f"a broken symbolic link (to {os.readlink(path)}, which does not exist): not read",
                error_type="not_a_file",
            ) from None
        if isinstance(exc, FileNotFoundError):
            raise Rejected("file not found (moved or deleted since it was listed?)") from None
        raise Rejected(f"cannot read file: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        try:
            os.listdir(path)
        except OSError as exc:
            raise Rejected(f"cannot list the folder: {exc.strerror}", error_type="not_a_file") from None
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a file")
        raise Rejected(f"not a regular file ({kind}): not read", error_type="not_a_file")
