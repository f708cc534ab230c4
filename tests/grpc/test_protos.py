"""fnproxy's .proto files are the seeds' wire table, and their committed message modules are
what grpcio-tools generates from them now."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.json_format import MessageToDict

from deploy import grpc_stubs
from tests.grpc.seed_stubs import compile_protos, seed_services, write_protos

SEED_RPC_COUNT = 17


def descriptors(protos: list[Path], out: Path) -> dict[str, dict]:
    """Each file's descriptor, messages and methods in name order (the wire knows no order)."""
    compile_protos(protos, out, f"--descriptor_set_out={out / 'set.pb'}")
    files = descriptor_pb2.FileDescriptorSet.FromString((out / "set.pb").read_bytes()).file
    normal = {}
    for file in files:
        file.message_type.sort(key=lambda message: message.name)
        for service in file.service:
            service.method.sort(key=lambda method: method.name)
        normal[file.name] = MessageToDict(file)
    return normal


def test_the_committed_message_modules_are_current():
    assert grpc_stubs.stale() == [], "run: python -m deploy.grpc_stubs"


def test_the_protos_are_the_seeds_wire_table(tmp_path):
    seed = descriptors(write_protos(tmp_path / "seed"), tmp_path / "seed-out")
    ours = descriptors(grpc_stubs.proto_files(), tmp_path / "our-out")

    assert sorted(seed) == [
        "gcp_functions_action.proto",
        "lambda_action.proto",
        "openwhisk_action.proto",
    ]
    assert ours == seed


def test_the_table_read_has_every_rpc_and_field():
    services = seed_services()

    assert sum(len(service.rpcs) for service in services) == SEED_RPC_COUNT
    lambda_action = next(service for service in services if service.package == "lambda_action")
    assert lambda_action.messages["InvokeFunctionRequest"][-1] == ("token", 6, "string")
    assert ("functions", 2, "repeated FunctionInfo") in lambda_action.messages[
        "ListFunctionsResponse"
    ]
