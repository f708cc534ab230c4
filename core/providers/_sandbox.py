"""What keeps a local function away from the server's secrets, through the Linux kernel (ctypes,
no dependency): the server process is made non-dumpable, and each worker confines itself with
Landlock before it runs any user code.

- Non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`): a process of the same user can no longer open the
  server's `/proc/<pid>/environ` or `/proc/<pid>/mem`, nor ptrace it. It is not inherited
  across `exec`, so workers stay ordinary processes.
- Landlock (Linux 5.13+): a confined process cannot ptrace or read the `/proc` files of a
  process outside its domain (the server, another worker), and reaches the file system only
  where a rule allows it. Rules only allow, so to deny the private paths (the data folder, the
  database, `.env`) the worker allows every sibling of every folder on their way from `/`, and
  only listing (`READ_DIR`) on those folders themselves. A file created later beside one of
  them (in such a folder) is out of reach too: a data folder under `/tmp` costs a function
  `/tmp`, which is why the data folder belongs in the project.

- Landlock scopes (ABI 6+): a confined process cannot signal a process outside its domain (a
  function cannot kill the server) nor connect to its abstract unix sockets.

Landlock is not a general sandbox here: the network and everything outside the private paths
stay open, as documented in docs/security.md.
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
SYS_LANDLOCK_CREATE_RULESET = 444  # the same number on every architecture
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1

ACCESS_FS_EXECUTE = 1 << 0
ACCESS_FS_WRITE_FILE = 1 << 1
ACCESS_FS_READ_FILE = 1 << 2
ACCESS_FS_READ_DIR = 1 << 3
ACCESS_FS_TRUNCATE = 1 << 14
ACCESS_FS_IOCTL_DEV = 1 << 15
FILE_ACCESS = (
    ACCESS_FS_EXECUTE
    | ACCESS_FS_WRITE_FILE
    | ACCESS_FS_READ_FILE
    | ACCESS_FS_TRUNCATE
    | ACCESS_FS_IOCTL_DEV
)
"""The rights that make sense on a file (a rule for a file with any other right is EINVAL)."""
FS_ACCESS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
"""Every file-system right the kernel knows, by the Landlock ABI that introduced the last one."""
SCOPES_ABI = 6
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

_libc = ctypes.CDLL(None, use_errno=True)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def make_undumpable() -> None:
    """Close this process's `/proc/<pid>` files and ptrace to processes of the same user."""
    _check(_libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 where it has none (or it is disabled)."""
    version = _libc.syscall(
        SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), LANDLOCK_CREATE_RULESET_VERSION
    )
    return max(version, 0)


def confine(private_paths: Iterable[Path]) -> None:
    """Deny this process (for good, and its children) the private paths and the `/proc` files
    of every process outside it; a no-op where the kernel has no Landlock."""
    abi = landlock_abi()
    if not abi:
        return
    handled = FS_ACCESS_BY_ABI[max(known for known in FS_ACCESS_BY_ABI if known <= abi)]
    scoped = SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET if abi >= SCOPES_ABI else 0
    attr = _RulesetAttr(handled_access_fs=handled, scoped=scoped)  # older kernels accept the
    ruleset = _libc.syscall(  # larger struct as long as the members they lack are zero
        SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), 0
    )
    _check(ruleset, "landlock_create_ruleset")
    try:
        for path, access in allow_rules(private_paths, handled):
            _add_rule(ruleset, path, access)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        _check(_libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)


def allow_rules(private_paths: Iterable[Path], access: int) -> Iterator[tuple[Path, int]]:
    """(path, rights) to allow so that everything but the private paths keeps `access`: every
    sibling on the way to a private path, listing only for the folders on that way."""
    private = _outermost(Path(os.path.realpath(path)) for path in private_paths)
    if not private:
        yield Path("/"), access
        return
    ways = {folder for path in private for folder in path.parents}
    for folder in sorted(ways):
        yield folder, ACCESS_FS_READ_DIR & access
        for entry in _entries(folder):
            if entry in private or entry in ways:
                continue
            rights = _rights_for(entry, access)
            if rights:
                yield entry, rights


def _outermost(paths: Iterable[Path]) -> set[Path]:
    """The paths that are not inside another one (the database inside the data folder): the
    way to an inner one would open the rest of the outer one."""
    given = set(paths)
    return {path for path in given if not any(outer in given for outer in path.parents)}


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:  # unreadable: nothing in it is allowed
        return []


def _rights_for(entry: Path, access: int) -> int:
    """All of `access` on a folder, the file rights on anything else, none on a symbolic link
    (a rule would follow it, and a link resolves to a path that has its own rule anyway)."""
    try:
        mode = entry.lstat().st_mode
    except OSError:
        return 0
    if stat.S_ISLNK(mode):
        return 0
    return access if stat.S_ISDIR(mode) else access & FILE_ACCESS


def _add_rule(ruleset: int, path: Path, access: int) -> None:
    try:
        descriptor = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:  # gone since it was listed
        return
    try:
        rule = _PathBeneathAttr(allowed_access=access, parent_fd=descriptor)
        result = _libc.syscall(
            SYS_LANDLOCK_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0
        )
        _check(result, f"landlock_add_rule({path})")
    finally:
        os.close(descriptor)


def _check(result: int, call: str) -> None:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{call}: {os.strerror(errno)}")
