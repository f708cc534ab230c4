"""fnproxy's public HTTP API as the CLI calls it: JSON in and out, each failure one
`ServerError` line with a hint where one helps."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from handlers.cli.errors import ServerError, UsageError

DEFAULT_TIMEOUT_S = 120.0
TOKEN_PATH = "/v1/auth/token"
EXPIRED_HINT = "token expired or invalid: run `fnproxy token`"


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    """By lower-case name."""


def lowered(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def quoted(segment: str | int) -> str:
    """One path segment, percent-encoded (a name or id never adds a segment)."""
    return urllib.parse.quote(str(segment), safe="")


def query(**params: Any) -> str:
    """`?a=1&b=x` of the parameters that are not None (or "" when none is)."""
    given = {name: value for name, value in params.items() if value is not None}
    return f"?{urllib.parse.urlencode(given)}" if given else ""


class Api:
    """Calls to one fnproxy; `token` is sent as the bearer when set."""

    def __init__(self, url: str, token: str | None, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"--url {url!r}: expected http://HOST:PORT or https://HOST")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None, headers: dict | None = None) -> Any:
        """The answer's JSON body (None when empty)."""
        return self.request(method, path, body, headers).body

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict | None = None,
        accept: tuple[int, ...] = (),
    ) -> Answer:
        """The answer; an error status is a `ServerError` unless it is one of `accept`."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = Answer(
                    response.status, decoded(response.read()), lowered(response.headers)
                )
        except urllib.error.HTTPError as error:
            answer = Answer(error.code, decoded(error.read()), lowered(error.headers))
            if error.code in accept:
                return answer
            raise self.refused(answer, path) from None
        except TimeoutError:
            raise self.timed_out() from None
        except (http.client.HTTPException, ConnectionError) as error:  # it went away mid-answer
            raise ServerError(f"fnproxy at {self.url} broke off the answer: {error!r}") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise self.timed_out() from None
            raise ServerError(
                f"cannot reach fnproxy at {self.url} ({error.reason}): is `fnproxy serve` "
                "running? (--url / FNPROXY_URL)"
            ) from None
        if isinstance(answer.body, str):  # fnproxy always answers JSON
            raise ServerError(
                f"{self.url}{path} answered {answer.status} without JSON: is {self.url} fnproxy? "
                "(--url / FNPROXY_URL)"
            )
        return answer

    def timed_out(self) -> ServerError:
        return ServerError(
            f"no answer from fnproxy at {self.url} within {self.timeout:g} s (--timeout)"
        )

    def refused(self, answer: Answer, path: str) -> ServerError:
        """`HTTP 404 function_not_found: <detail>`, a problem+json answer's own words."""
        problem = answer.body if isinstance(answer.body, dict) else {}
        code = problem.get("code")
        detail = problem.get("detail") or (answer.body if isinstance(answer.body, str) else "")
        text = f"HTTP {answer.status}" + (f" {code}" if code else "") + f": {detail}".rstrip(": ")
        if answer.status == 401 and path != TOKEN_PATH:
            text = f"{EXPIRED_HINT} ({text})"
        return ServerError(text)


def decoded(raw: bytes) -> Any:
    """JSON when the body is JSON; otherwise its text (a proxy's HTML error page, say)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace").strip()[:500]
