"""A process's peak resident set size (VmHWM), from /proc. The cold-start children read their
own when they answer: os.wait4's rusage is no measure of a child's peak, since a child that
subprocess spawns through vfork counts its parent's high-water mark in ru_maxrss (the
parent's memory is the child's until exec). Standard library only."""

from __future__ import annotations


def peak_rss_mib(pid: int | str = "self") -> float:
    """VmHWM of process `pid` (by default this one), in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")
