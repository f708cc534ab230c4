"""The store's DynamoDB table: keys, indexes and TTL, the one definition Terraform mirrors.

One table (single-table design), keys `pk` (hash) and `sk` (range), both strings:

    item          pk                     sk             other attributes
    execution     EXEC#<execution_id>    EXEC           status, execution_id, ttl, body,
                                                        lease_owner and lease_until (while
                                                        leased), and by_day, by_function,
                                                        by_status, by_function_status
                                                        (listing keys)
    idempotency   IDEM#<caller>          KEY#<key>      fingerprint, execution_id, expires_at, ttl
    session       SESS#<session_id>      SESS           version, expires_at, ttl, body
    client        CLIENTS                CLIENT#<id>    the client's fields, one attribute each
    API key       APIKEYS#<function>     KEY#<key_id>   the key's fields, one attribute each
    stats rollup  STATS#<bucket_start>   FN#<function>  count, successes, failures,
                                                        duration_sum_ms, h<slot> for each slot
                                                        (STATS#-1: all time, base.ALL_TIME)
    stats index   STATS#<bucket_start>   INDEX          function_names (string set: those with
                                                        a rollup in the bucket), complete,
                                                        overflowed (core.store.dynamodb_stats)
    function      FN#<name>              FN             revision, body
    directory     FUNCTIONS              FN#<name>      body (a copy of the function's)
    version       FN#<name>              V#<version>    body
    change        FN#<name>              C#<revision>   body
    rate window   RATE#<key>             W#<start>      n (requests counted), ttl

`ttl` (epoch seconds, Number) lets DynamoDB delete expired items; `body` is the whole record as
JSON (String), or zlib-compressed JSON (Binary) when large.

The function registry: a function's record is its own partition's `FN` item, read by key on
every invocation by name (so those reads spread over partitions), with the function's versions
and history entries beside it (`<version>` and `<revision>` zero-padded to 10 digits, so they
sort as numbers: one Query lists them newest first, one Query finds what a delete leaves). The
directory item in the one `FUNCTIONS` partition carries a copy of the record, written in the
same transaction as the record itself, so listing functions by name is one Query. Rate-limit
windows are one counter item each, deleted by TTL after the window.

Executions are listed newest first through four sparse, keys-only GSIs, one per filter
combination, all sorted by `execution_id` (which sorts by creation time). Their partition keys
start with the UTC day of the execution id's clock (`2026-11-26`, `2026-11-26#alpha`,
`2026-11-26#failed`, `2026-11-26#failed#alpha`), so no partition grows without bound and a
listing walks the days backwards.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from core.errors import InvalidRequest

TTL_ATTRIBUTE = "ttl"
LISTING_SORT_KEY = "execution_id"
# Each index's partition key attribute carries the index's own name.
LISTING_INDEXES = ("by_day", "by_function", "by_status", "by_function_status")
OUTBOX_INDEX = "by_outbox"
"""Sparse: only ended executions that still owe their announcement or callback have its key
(the UTC day of their id), so the outbox sweep reads those alone."""

TABLE_DEFINITION: dict[str, Any] = {
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "AttributeDefinitions": [
        {"AttributeName": name, "AttributeType": "S"}
        for name in ("pk", "sk", LISTING_SORT_KEY, *LISTING_INDEXES, OUTBOX_INDEX)
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": index,
            "KeySchema": [
                {"AttributeName": index, "KeyType": "HASH"},
                {"AttributeName": LISTING_SORT_KEY, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
        for index in (*LISTING_INDEXES, OUTBOX_INDEX)
    ],
    "BillingMode": "PAY_PER_REQUEST",
}

EXECUTION_SK = "EXEC"
FUNCTION_SK = "FN"
FUNCTIONS_PK = "FUNCTIONS"
VERSION_PREFIX = "V#"
CHANGE_PREFIX = "C#"
NUMBER_DIGITS = 10
MAX_NUMBER = 10**NUMBER_DIGITS - 1
"""The highest version or revision number the sort keys hold."""
SESSION_SK = "SESS"
ROLLUP_SK_PREFIX = "FN#"
STATS_INDEX_SK = "INDEX"
CLIENTS_PK = "CLIENTS"
DAY_S = 86400
_EPOCH_DAY = date(1970, 1, 1)
# core.models.new_id: a 48-bit millisecond clock in lowercase hex, then randomness.
_ID_CLOCK = re.compile("[0-9a-f]{12}")


def create_table(client: Any, table_name: str) -> None:
    """Create the table from `TABLE_DEFINITION`, wait until it is active and switch TTL on.
    `client` is a boto3 DynamoDB client."""
    client.create_table(TableName=table_name, **TABLE_DEFINITION)
    waiter = client.get_waiter("table_exists")
    waiter.wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )


def execution_key(execution_id: str) -> dict[str, str]:
    return {"pk": f"EXEC#{execution_id}", "sk": EXECUTION_SK}


def idempotency_key(caller: str, key: str) -> dict[str, str]:
    return {"pk": f"IDEM#{caller}", "sk": f"KEY#{key}"}


def session_key(session_id: str) -> dict[str, str]:
    return {"pk": f"SESS#{session_id}", "sk": SESSION_SK}


def client_key(client_id: str) -> dict[str, str]:
    return {"pk": CLIENTS_PK, "sk": f"CLIENT#{client_id}"}


def stats_pk(bucket_start: int) -> str:
    return f"STATS#{bucket_start}"


def stats_key(bucket_start: int, function: str) -> dict[str, str]:
    return {"pk": stats_pk(bucket_start), "sk": f"{ROLLUP_SK_PREFIX}{function}"}


def stats_index_key(bucket_start: int) -> dict[str, str]:
    """The bucket's directory of the functions with a rollup in it, beside those rollups."""
    return {"pk": stats_pk(bucket_start), "sk": STATS_INDEX_SK}


def parse_stats_key(pk: str, sk: str) -> tuple[int, str]:
    """(bucket_start, function) of a rollup item's keys."""
    return int(pk.removeprefix("STATS#")), sk.removeprefix(ROLLUP_SK_PREFIX)


def function_pk(name: str) -> str:
    """The partition of a function's record, versions and history."""
    return f"FN#{name}"


def function_key(name: str) -> dict[str, str]:
    return {"pk": function_pk(name), "sk": FUNCTION_SK}


def directory_key(name: str) -> dict[str, str]:
    return {"pk": FUNCTIONS_PK, "sk": f"FN#{name}"}


def numbered_sk(prefix: str, number: int) -> str:
    """`V#0000000007`: a version's or a change's sort key, which sorts as the number does."""
    if not 0 <= number <= MAX_NUMBER:
        raise InvalidRequest(f"{number} is out of the range 0..{MAX_NUMBER} the store keeps")
    return f"{prefix}{number:0{NUMBER_DIGITS}d}"


def version_key(name: str, version: int) -> dict[str, str]:
    return {"pk": function_pk(name), "sk": numbered_sk(VERSION_PREFIX, version)}


def change_key(name: str, revision: int) -> dict[str, str]:
    return {"pk": function_pk(name), "sk": numbered_sk(CHANGE_PREFIX, revision)}


def numbered_range(prefix: str, below: int | None) -> tuple[str, str] | None:
    """The sort keys (lowest, highest; inclusive) of the numbers under `below` (all of them
    with None); None when there is none."""
    highest = MAX_NUMBER if below is None else min(below - 1, MAX_NUMBER)
    if highest < 0:
        return None
    return numbered_sk(prefix, 0), numbered_sk(prefix, highest)


def rate_limit_key(key: str, window_start: int) -> dict[str, str]:
    return {"pk": f"RATE#{key}", "sk": f"W#{window_start}"}


def utc_day(epoch: float) -> date:
    return _EPOCH_DAY + timedelta(days=int(epoch // DAY_S))


def execution_day(execution_id: str) -> date:
    """The UTC day of the clock an execution id starts with; InvalidRequest for other ids."""
    clock = _ID_CLOCK.match(execution_id)
    try:
        if clock is None:
            raise ValueError(execution_id)
        return utc_day(int(clock.group(), 16) / 1000)
    except (ValueError, OverflowError, OSError):
        raise InvalidRequest(
            f"execution id {execution_id!r} does not start with a 12-digit hex millisecond "
            "clock (see core.models.new_id)"
        ) from None


def listing_partition(day: date, function: str | None, status: str | None) -> tuple[str, str]:
    """(index, partition key) listing one day's executions with these filters. The key is
    unambiguous: the day and status have fixed forms without `#`, and the function comes last."""
    if function is not None and status is not None:
        return "by_function_status", f"{day.isoformat()}#{status}#{function}"
    if function is not None:
        return "by_function", f"{day.isoformat()}#{function}"
    if status is not None:
        return "by_status", f"{day.isoformat()}#{status}"
    return "by_day", day.isoformat()


def listing_keys(day: date, function: str, status: str) -> dict[str, str]:
    """An execution's partition key in every listing index."""
    return dict(
        listing_partition(day, chosen_function, chosen_status)
        for chosen_function in (function, None)
        for chosen_status in (status, None)
    )
