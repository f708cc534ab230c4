"""One cold start, in a fresh process: import, build the app, run its lifespan startup, send ONE
POST /v1/invoke through the in-process ASGI client, print a marker line, shut down.

    python bench/_cold_child.py fnproxy|baseline FUNCTION_URL

Environment: MODULE_SECRET_KEY, BENCH_TOKEN, FNPROXY_DATA_DIR (a fresh folder per run). The
marker is `COLD {json}` with the status, whether it succeeded, the child's peak RSS (MiB) when
it answered and its milestones in ms since its first line: imported, built, started
(lifespan), answered.
"""

import time

STARTED = time.perf_counter()

import asyncio  # noqa: E402 - the clock above starts before every import
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from _asgi import Lifespan, post  # noqa: E402
from _peak import peak_rss_mib  # noqa: E402

MARKER = "COLD "


def import_fnproxy():
    from core.config import ensure_local_secret_key, load_settings
    from core.wiring import build_services
    from handlers.local import configure_logging, local_app

    def build():
        # exactly as `fnproxy serve` (handlers/cli/commands/serve.py, handlers/local.py) builds it
        settings = load_settings()
        configure_logging(settings.log_level)
        settings = ensure_local_secret_key(settings, lambda _line: None)
        return local_app(build_services(settings))

    return build


def import_baseline():
    import _baseline_app

    def build():
        database = Path(os.environ["FNPROXY_DATA_DIR"]) / "baseline.db"
        app, _handler = _baseline_app.build(os.environ["MODULE_SECRET_KEY"], database)
        return app

    return build


IMPORTERS = {"fnproxy": import_fnproxy, "baseline": import_baseline}


def elapsed_ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)


async def first_invoke(app, function_url: str, milestones: dict) -> None:
    body = json.dumps({"target": {"provider": "http", "url": function_url},
                       "payload": {"n": 1}}).encode()
    headers = {"content-type": "application/json",
               "authorization": f"Bearer {os.environ['BENCH_TOKEN']}"}
    async with Lifespan(app):
        milestones["started_ms"] = elapsed_ms(STARTED)
        status, answer = await post(app, "/v1/invoke", body, headers)
        milestones["answered_ms"] = elapsed_ms(STARTED)
        success = status == 200 and json.loads(answer).get("success") is True
        marker = {"status": status, "success": success, "peak_rss_mib": peak_rss_mib(),
                  **milestones}
        print(MARKER + json.dumps(marker), flush=True)
        if not success:
            print(answer.decode(errors="replace")[:500], file=sys.stderr)


def main() -> None:
    side, function_url = sys.argv[1], sys.argv[2]
    build = IMPORTERS[side]()
    milestones = {"imported_ms": elapsed_ms(STARTED)}
    app = build()
    milestones["built_ms"] = elapsed_ms(STARTED)
    asyncio.run(first_invoke(app, function_url, milestones))


if __name__ == "__main__":
    main()
