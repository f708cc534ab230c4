"""The seeds' gRPC services (protos/, seeds/grpc-shapes.md) over the same services as the REST
routes: each RPC maps its message onto the seed route's own mapping (core/api/compat) and back.

Imported only by `fnproxy serve` with a gRPC port (handlers/local.py): grpcio is a dependency of
the `local` extra, never of the cloud entry points."""
