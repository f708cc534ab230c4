"""moto_server with every DynamoDB request handled one at a time.

moto checks a write's condition and then writes without a lock, and rolls a failed transaction
back by restoring a copy of the whole table taken when it began: under concurrent requests two
conditional writes can both win, and a failed transaction can undo another's write. DynamoDB
itself makes each conditional write and each transaction atomic; serialising moto's DynamoDB
requests gives the contract tests that guarantee. Run as `python tests/moto_serialized.py
-H HOST -p PORT` (moto_server's arguments)."""

from __future__ import annotations

import threading
from typing import Any

from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_DYNAMODB = threading.Lock()


class _SerialDynamoDB(DomainDispatcherApplication):
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return super().__call__(environ, start_response)
        with _DYNAMODB:
            return list(super().__call__(environ, start_response))


if __name__ == "__main__":
    server.DomainDispatcherApplication = _SerialDynamoDB
    server.main()
