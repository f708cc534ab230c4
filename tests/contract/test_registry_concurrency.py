"""Concurrent registry changes through the real `RegistryService`, on every store backend:
however switches, rollbacks, additions and deletions interleave, the function keeps exactly one
active version that exists, and its history is one gapless chain of the changes that won."""

from __future__ import annotations

import asyncio
import random

from core.auth.principal import Principal
from core.errors import Conflict, NotFound
from core.events.base import CloudEvent
from core.events.local import LocalEventBus
from core.models import ChangeAction
from core.providers.http import HttpProvider
from core.providers.registry import ProviderRegistry
from core.registry.policy import FunctionPolicy
from core.registry.ratelimit import RateLimiter
from core.registry.service import ACTIVATED_EVENT, RegistryService
from core.store.base import Store
from core.targets import HttpTarget

ADMIN = Principal("client:admin", frozenset({"admin"}), "t1")
SWITCHERS = 12
SWITCHES_EACH = 4
SWITCHES = (ChangeAction.ACTIVATED, ChangeAction.ROLLED_BACK)


def target(n: int) -> HttpTarget:
    return HttpTarget(provider="http", url=f"http://127.0.0.1:9/v{n}")


async def registry_on(store: Store) -> tuple[RegistryService, list[CloudEvent]]:
    events = LocalEventBus()
    published: list[CloudEvent] = []

    async def collect(event: CloudEvent) -> None:
        published.append(event)

    events.subscribe(collect)
    providers = ProviderRegistry({"http": lambda: HttpProvider(pool_size=2)})
    # Nothing is invoked here: the invocation service is not needed.
    registry = RegistryService(
        store.functions, providers, None, RateLimiter(store.rate_limits), events
    )
    return registry, published


async def test_concurrent_switches_keep_one_active_version_and_a_gapless_history(
    store: Store,
) -> None:
    registry, published = await registry_on(store)
    await registry.create("orders", "", target(1), FunctionPolicy(), ADMIN)
    for n in range(2, 6):
        await registry.add_version("orders", target(n), False, ADMIN)
    rng = random.Random(7)
    wanted = [[rng.randint(1, 5) for _ in range(SWITCHES_EACH)] for _ in range(SWITCHERS)]

    async def switcher(versions: list[int]) -> None:
        for version in versions:
            try:
                switched = await registry.activate("orders", version, ADMIN)
            except Conflict:
                continue  # lost too many races in a row: refused, nothing half-done
            assert switched.active_version == version

    await asyncio.gather(*(switcher(versions) for versions in wanted))
    function = await registry.get("orders")
    await registry.version("orders", function.active_version)  # exists, or NotFound
    changes = (await registry.history("orders", 500, None)).items[::-1]
    assert [c.revision for c in changes] == list(range(1, function.revision + 1))
    switches = [c for c in changes if c.action in SWITCHES]
    assert switches, "no switch won"
    active = None
    for change in changes:
        if change.action in SWITCHES:
            assert change.from_version == active != change.to_version
        if change.action in SWITCHES or change.action == ChangeAction.CREATED:
            active = change.to_version
    assert active == function.active_version
    activations = [e for e in published if e.type == ACTIVATED_EVENT]
    assert len(activations) == len(switches) + 1  # and one for the creation


async def test_deleting_a_version_while_it_is_being_activated_never_orphans_the_function(
    store: Store,
) -> None:
    registry, _ = await registry_on(store)
    await registry.create("orders", "", target(1), FunctionPolicy(), ADMIN)
    for n in range(2, 4):
        await registry.add_version("orders", target(n), False, ADMIN)

    async def attempt(operation):
        try:
            await operation
        except (Conflict, NotFound):
            pass

    await asyncio.gather(
        *(attempt(registry.activate("orders", 3, ADMIN)) for _ in range(4)),
        *(attempt(registry.delete_version("orders", 3, ADMIN)) for _ in range(4)),
        *(attempt(registry.activate("orders", 2, ADMIN)) for _ in range(4)),
    )
    function = await registry.get("orders")
    remaining = [v.version for v in (await registry.versions("orders", 10)).items]
    assert function.active_version in remaining
