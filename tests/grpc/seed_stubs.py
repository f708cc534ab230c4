"""An old router's client stubs, made from the seeds' wire table alone: seed_shapes.md (a copy
of seeds/grpc-shapes.md) is read into .proto files named as the seeds named theirs, which
grpcio-tools compiles into `NAME_pb2` and `NAME_pb2_grpc` modules, as the seeds' READMEs did.

The stubs never see fnproxy's own protos (core/grpc/protos), so a call through them proves
that a client generated from the seeds' definitions works unchanged. Only this process imports
them: fnproxy runs in its own process, and fnproxy's generated modules register the same
names in protobuf's default pool."""

from __future__ import annotations

import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

SHAPES = Path(__file__).with_name("seed_shapes.md")
SCALARS = {"s": "string", "b": "bool", "i32": "int32", "i64": "int64", "map": "map<string, string>"}
PACKAGE = re.compile(r"^## package `(\w+)`, service `(\w+)`")
ROW = re.compile(r"^\| (\w+) \| (.+) \|$")
FIELD = re.compile(r"^(\w+)=(\d+):(rep )?(\w+)")


@dataclass
class SeedService:
    package: str
    service: str
    rpcs: dict[str, tuple[str, str]]
    """RPC name: (request message, response message)."""
    messages: dict[str, list[tuple[str, int, str]]]
    """Message name: its fields as (name, number, proto type), in the table's order."""

    @property
    def proto_name(self) -> str:
        return f"{self.package}.proto"


def _field(spec: str) -> tuple[str, int, str]:
    found = FIELD.match(spec.strip())
    if found is None:
        raise ValueError(f"not a field of the table: {spec!r}")
    name, number, repeated, kind = found.groups()
    proto_type = SCALARS.get(kind, kind)
    return name, int(number), f"repeated {proto_type}" if repeated else proto_type


def seed_services(text: str | None = None) -> list[SeedService]:
    """The table's services, RPCs and messages."""
    services: list[SeedService] = []
    for line in (text or SHAPES.read_text(encoding="utf-8")).splitlines():
        header = PACKAGE.match(line)
        if header:
            services.append(SeedService(*header.groups(), {}, {}))
            continue
        row = ROW.match(line)
        if not row or not services or row[1] in ("rpc", "message"):
            continue
        name, cells = row.groups()
        if "→" in cells:
            request, response = (part.strip() for part in cells.split("→"))
            services[-1].rpcs[name] = (request, response)
        else:
            services[-1].messages[name] = [_field(spec) for spec in cells.split(", ")]
    return services


def proto_text(service: SeedService) -> str:
    lines = ['syntax = "proto3";', "", f"package {service.package};", ""]
    lines.append(f"service {service.service} {{")
    lines += [
        f"  rpc {name}({request}) returns ({response});"
        for name, (request, response) in service.rpcs.items()
    ]
    lines.append("}")
    for name, fields in service.messages.items():
        lines += ["", f"message {name} {{"]
        lines += [f"  {kind} {field} = {number};" for field, number, kind in fields]
        lines.append("}")
    return "\n".join(lines) + "\n"


def write_protos(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for service in seed_services():
        path = folder / service.proto_name
        path.write_text(proto_text(service), encoding="utf-8")
        written.append(path)
    return written


def compile_protos(protos: list[Path], out: Path, *flags: str) -> None:
    from grpc_tools import protoc

    out.mkdir(parents=True, exist_ok=True)
    arguments = ["grpc_tools.protoc", f"--proto_path={protos[0].parent}", *flags]
    if protoc.main([*arguments, *(str(path) for path in protos)]) != 0:
        raise RuntimeError(f"protoc failed on {[path.name for path in protos]}")


@dataclass
class Stubs:
    """One seed service's generated modules."""

    messages: ModuleType
    grpc: ModuleType
    service: SeedService

    def stub(self, channel):
        return getattr(self.grpc, f"{self.service.service}Stub")(channel)


def generate(folder: Path) -> dict[str, Stubs]:
    """The seeds' stubs by package name, generated into `folder` and imported."""
    protos = write_protos(folder / "proto")
    out = folder / "stubs"
    compile_protos(protos, out, f"--python_out={out}", f"--grpc_python_out={out}")
    sys.path.insert(0, str(out))
    try:
        return {
            service.package: Stubs(
                importlib.import_module(f"{service.package}_pb2"),
                importlib.import_module(f"{service.package}_pb2_grpc"),
                service,
            )
            for service in seed_services()
        }
    finally:
        sys.path.remove(str(out))
