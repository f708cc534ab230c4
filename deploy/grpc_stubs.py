"""Generate the gRPC message modules of core/grpc/protos/*.proto with grpcio-tools (a `dev`
dependency), next to the protos: `NAME_pb2.py` (the messages and the file's descriptor, which
the server binds its methods from) and `NAME_pb2.pyi` (their types).

    python -m deploy.grpc_stubs    # (re)write the stale modules

The modules are committed, so that running fnproxy needs grpcio and protobuf only (no protoc);
tests/grpc/test_protos.py checks that none is `stale()`, so a changed .proto fails the tests
until they are regenerated. No `NAME_pb2_grpc.py` is generated: it imports its
`NAME_pb2` as a top-level module (it cannot live in a package) and refuses any grpcio older
than grpcio-tools; core/grpc/server.py binds the services from the descriptors instead.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = Path("core/grpc/protos")
SUFFIXES = ("_pb2.py", "_pb2.pyi")


def proto_files(root: Path = ROOT) -> list[Path]:
    return sorted((root / PROTOS).glob("*.proto"))


def render(root: Path = ROOT) -> dict[Path, str]:
    """{path relative to `root`: the text grpcio-tools generates for it now}."""
    from grpc_tools import protoc

    protos = proto_files(root)
    with tempfile.TemporaryDirectory() as out:
        arguments = [
            "grpc_tools.protoc",
            f"--proto_path={root / PROTOS}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            *(str(proto) for proto in protos),
        ]
        if protoc.main(arguments) != 0:
            raise RuntimeError(f"protoc failed on {', '.join(p.name for p in protos)}")
        return {
            PROTOS / f"{proto.stem}{suffix}": (Path(out) / f"{proto.stem}{suffix}").read_text(
                encoding="utf-8"
            )
            for proto in protos
            for suffix in SUFFIXES
        }


def outdated(texts: dict[Path, str], root: Path) -> list[Path]:
    return [
        relative
        for relative, text in texts.items()
        if not (root / relative).is_file() or (root / relative).read_text(encoding="utf-8") != text
    ]


def stale(root: Path = ROOT) -> list[Path]:
    """The generated modules whose text differs from what the protos give now."""
    return outdated(render(root), root)


def write(root: Path = ROOT) -> list[Path]:
    """Rewrite the stale modules; the ones written."""
    texts = render(root)
    changed = outdated(texts, root)
    for relative in changed:
        (root / relative).write_text(texts[relative], encoding="utf-8")
    return changed


def main() -> int:
    for path in write():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
