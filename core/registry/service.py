"""The function registry: logical functions with integer versions, one active version, an
optional canary split, a policy, and a gapless history of every change.

Every change reads the function, plans the new record and writes it only over the revision it
read (with the version and history entry that go with it, atomically); when another writer got
there first it reads again and re-plans. So concurrent switches serialise: each one that is
answered with success is one history entry, and the function always has exactly one active
version, which exists.

A version's target is stored clear: the registry is where it lives. Admins alone see it so;
every other reader sees it redacted (`visible_to`), and so does every record of its runs."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from core.auth.principal import Principal
from core.auth.scopes import require_invoke
from core.errors import (
    Conflict,
    FunctionDisabled,
    FunctionNotFound,
    InvalidRequest,
    NotFound,
    ServiceUnavailable,
)
from core.events.base import CloudEvent, EventBus
from core.invoke.archive import Archive
from core.invoke.retry import retry_write
from core.invoke.service import Invocation, InvocationRequest, InvocationService, parse_target
from core.models import (
    FUNCTION_NAME_PATTERN,
    ChangeAction,
    FunctionVersion,
    Page,
    RegisteredFunction,
    VersionChange,
)
from core.providers.registry import ProviderRegistry
from core.redaction import redact_target
from core.registry.aliases import (
    aliased_version,
    check_alias_name,
    check_room_for,
    check_unaliased,
)
from core.registry.policy import FunctionPolicy
from core.registry.ratelimit import RateLimiter
from core.store.base import FunctionRepository

logger = logging.getLogger("fnproxy.registry")

NAME_PATTERN = re.compile(FUNCTION_NAME_PATTERN.removesuffix("$"))
"""Function names: no `:`, so they never collide with provider keys like `local:echo`."""
COMMIT_ATTEMPTS = 20
MAX_VERSION = 2**63 - 1
"""The largest version number a store holds (SQLite's INTEGER; DynamoDB and Firestore keep
64-bit integers too). Numbers are never reused and grow by one, so none is ever larger: a
larger one asked for is not there, and is not sent to the store (it cannot bind it)."""
ACTIVATED_EVENT = "dev.fnproxy.function.activated"


@dataclass(frozen=True)
class Plan:
    """What one change does to a function: new field values and what goes with them."""

    action: str
    fields: dict[str, Any] = field(default_factory=dict)
    from_version: int | None = None
    to_version: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    add_version: FunctionVersion | None = None
    delete_version: int | None = None


@dataclass(frozen=True)
class Commit:
    function: RegisteredFunction
    """The function as it stands after the change (or unchanged, when there was none)."""
    change: VersionChange | None
    plan: Plan | None


@dataclass(frozen=True)
class NamedInvocation:
    """An invocation of a registered function by name."""

    payload: Any = None
    mode: str = "sync"
    version: int | None = None
    """A pinned version; None runs the active one (or the canary, by its weight)."""
    alias: str | None = None
    """An alias of the function (not with `version`): runs the version it names."""
    timeout_s: float | None = None
    session_id: str | None = None
    callback_url: str | None = None
    idempotency_key: str | None = None
    client_context: dict[str, Any] | None = None


class RegistryService:
    def __init__(
        self,
        functions: FunctionRepository,
        providers: ProviderRegistry,
        invocations: InvocationService,
        rate_limiter: RateLimiter,
        events: EventBus,
        *,
        archive: Archive | None = None,
        clock: Callable[[], float] = time.time,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self._functions = functions
        self._providers = providers
        self._invocations = invocations
        self._rate_limiter = rate_limiter
        self._events = events
        self._archive = archive
        self._clock = clock
        self._chance = chance

    # --- reading -------------------------------------------------------------------------

    async def get(self, name: str) -> RegisteredFunction:
        function = await self._functions.get(name)
        if function is None:
            raise FunctionNotFound(f"function {name!r} is not registered", function=name)
        return function

    async def list(self, limit: int, cursor: str | None) -> Page[RegisteredFunction]:
        return await self._functions.list(limit=limit, cursor=cursor)

    async def versions(
        self, name: str, limit: int, cursor: str | None = None
    ) -> Page[FunctionVersion]:
        page = await self._functions.list_versions(name, limit=limit, cursor=cursor)
        if not page.items:  # a function always has its active version: is it there at all?
            await self.get(name)
        return page

    async def existing_versions(self, name: str, numbers: range) -> list[FunctionVersion]:
        """Those of versions `numbers` the function has (a deleted one is left out), in the
        order of `numbers`, read concurrently."""
        found = await asyncio.gather(
            *(self._functions.get_version(name, number) for number in numbers)
        )
        return [version for version in found if version is not None]

    async def history(self, name: str, limit: int, cursor: str | None) -> Page[VersionChange]:
        page = await self._functions.list_changes(name, limit=limit, cursor=cursor)
        if not page.items:  # a function's history starts with its creation: is it there?
            await self.get(name)
        return page

    async def version(self, name: str, number: int) -> FunctionVersion:
        storable = 1 <= number <= MAX_VERSION
        version = await self._functions.get_version(name, number) if storable else None
        if version is None:
            await self.get(name)
            raise NotFound(f"function {name!r} has no version {number}", function=name)
        return version

    # --- changing ------------------------------------------------------------------------

    async def create(
        self,
        name: str,
        description: str,
        target: Any,
        policy: FunctionPolicy,
        principal: Principal,
    ) -> tuple[RegisteredFunction, FunctionVersion]:
        """Register `name` with `target` as version 1, active."""
        if not NAME_PATTERN.fullmatch(name):
            raise InvalidRequest(
                "a function name is 1-128 letters, digits, '_', '-' or '.', "
                "starting with a letter or digit"
            )
        now = self._clock()
        first = self._new_version(name, 1, target, principal, now)
        function = RegisteredFunction(
            name=name,
            description=description,
            active_version=1,
            latest_version=1,
            policy=policy.to_json(),
            created_at=now,
            created_by=principal.subject,
            updated_at=now,
        )
        change = VersionChange(
            name, function.revision, ChangeAction.CREATED, now, principal.subject, None, 1
        )
        await self._functions.create(function, first, change)
        await self._announce_activation(function, change)
        return function, first

    async def add_version(
        self, name: str, target: Any, activate: bool, principal: Principal
    ) -> tuple[RegisteredFunction, FunctionVersion]:
        def plan(function: RegisteredFunction) -> Plan:
            number = function.latest_version + 1
            version = self._new_version(name, number, target, principal, self._clock())
            fields: dict[str, Any] = {"latest_version": number}
            if activate:
                fields.update(self._activation_fields(function, number))
            return Plan(
                ChangeAction.ACTIVATED if activate else ChangeAction.VERSION_ADDED,
                fields,
                from_version=function.active_version if activate else None,
                to_version=number,
                detail={"version_added": number},
                add_version=version,
            )

        commit = await self._commit(name, principal, plan)
        if activate:
            await self._announce_activation(commit.function, commit.change)
        return commit.function, commit.plan.add_version

    async def activate(self, name: str, number: int, principal: Principal) -> RegisteredFunction:
        """Make version `number` the active one: a switch forward, or a rollback."""

        def plan(function: RegisteredFunction) -> Plan | None:
            if function.active_version == number:
                return None
            action = (
                ChangeAction.ROLLED_BACK
                if number < function.active_version
                else ChangeAction.ACTIVATED
            )
            return Plan(
                action,
                self._activation_fields(function, number),
                from_version=function.active_version,
                to_version=number,
            )

        commit = await self._commit_to_version(name, principal, plan, number)
        if commit.change is not None:
            await self._announce_activation(commit.function, commit.change)
        return commit.function

    async def set_canary(
        self, name: str, number: int, weight: int, principal: Principal
    ) -> RegisteredFunction:
        """Run version `number` for `weight` percent of the invocations that name no version."""

        def plan(function: RegisteredFunction) -> Plan:
            if number == function.active_version:
                raise Conflict(f"version {number} is the active version; pick another as canary")
            return Plan(
                ChangeAction.CANARY_SET,
                {"canary": {"version": number, "weight": weight}},
                from_version=function.active_version,
                to_version=number,
                detail={"weight": weight},
            )

        return (await self._commit_to_version(name, principal, plan, number)).function

    async def _commit_to_version(
        self,
        name: str,
        principal: Principal,
        plan_for: Callable[[RegisteredFunction], Plan | None],
        number: int,
    ) -> Commit:
        """`_commit` of a change to version `number`, named in a request's body: a version the
        function lacks is a conflict with its state (409), not a missing resource - the
        function, the request's resource, exists."""
        try:
            return await self._commit(name, principal, plan_for, needs_version=number)
        except FunctionNotFound:
            raise
        except NotFound as missing:
            raise Conflict(missing.detail, function=name) from None

    async def clear_canary(self, name: str, principal: Principal) -> RegisteredFunction:
        def plan(function: RegisteredFunction) -> Plan | None:
            if function.canary is None:
                return None
            return Plan(
                ChangeAction.CANARY_CLEARED,
                {"canary": None},
                from_version=function.canary["version"],
                to_version=function.active_version,
            )

        return (await self._commit(name, principal, plan)).function

    async def delete_version(self, name: str, number: int, principal: Principal) -> None:
        def plan(function: RegisteredFunction) -> Plan:
            if number == function.active_version:
                raise Conflict(
                    f"version {number} is active; activate another version first",
                    function=name,
                    active_version=number,
                )
            if function.canary is not None and function.canary["version"] == number:
                raise Conflict(f"version {number} is the canary; clear the canary first")
            check_unaliased(function, number)
            return Plan(ChangeAction.VERSION_DELETED, from_version=number, delete_version=number)

        await self._commit(name, principal, plan, needs_version=number)

    async def set_alias(
        self, name: str, alias: str, number: int, principal: Principal
    ) -> RegisteredFunction:
        """Point `alias` at version `number` (a new alias, or one moved); the same again
        changes nothing."""
        check_alias_name(alias)

        def plan(function: RegisteredFunction) -> Plan | None:
            former = function.aliases.get(alias)
            if former == number:
                return None
            check_room_for(function, alias)
            return Plan(
                ChangeAction.ALIAS_SET,
                {"aliases": function.aliases | {alias: number}},
                from_version=former,
                to_version=number,
                detail={"alias": alias},
            )

        return (await self._commit_to_version(name, principal, plan, number)).function

    async def delete_alias(self, name: str, alias: str, principal: Principal) -> RegisteredFunction:
        check_alias_name(alias)

        def plan(function: RegisteredFunction) -> Plan:
            former = aliased_version(function, alias)
            aliases = {kept: n for kept, n in function.aliases.items() if kept != alias}
            return Plan(
                ChangeAction.ALIAS_DELETED,
                {"aliases": aliases},
                from_version=former,
                detail={"alias": alias},
            )

        return (await self._commit(name, principal, plan)).function

    async def update(
        self,
        name: str,
        principal: Principal,
        *,
        description: str | None = None,
        policy: FunctionPolicy | None = None,
    ) -> RegisteredFunction:
        def plan(function: RegisteredFunction) -> Plan:
            fields: dict[str, Any] = {}
            if description is not None:
                fields["description"] = description
            if policy is not None:
                fields["policy"] = policy.to_json()
            return Plan(ChangeAction.POLICY_UPDATED, fields, detail={"changed": sorted(fields)})

        return (await self._commit(name, principal, plan)).function

    async def set_enabled(
        self, name: str, enabled: bool, principal: Principal
    ) -> RegisteredFunction:
        """Let the function's invocations run, or refuse them all (`invoke` raises
        `FunctionDisabled`). Asking for the state it is in changes nothing."""

        def plan(function: RegisteredFunction) -> Plan | None:
            if function.enabled == enabled:
                return None
            action = ChangeAction.ENABLED if enabled else ChangeAction.DISABLED
            return Plan(action, {"enabled": enabled})

        return (await self._commit(name, principal, plan)).function

    async def delete(self, name: str) -> None:
        """Delete the function's archived payloads, results and logs, then the function (its
        versions and change history). The objects go first: when the storage fails (503) the
        function stays, so the deletion can be asked again. Its execution records stay until
        their TTL; an object a run still going writes afterwards is left to the lifecycle."""
        await self.get(name)
        if self._archive is not None:
            await self._archive.forget(name)
        if not await self._functions.delete(name):
            raise FunctionNotFound(f"function {name!r} is not registered", function=name)

    # --- invoking ------------------------------------------------------------------------

    async def invoke(self, name: str, request: NamedInvocation, principal: Principal) -> Invocation:
        """Run the active version (or the canary by its weight, or the pinned version) under
        the function's policy: callers, rate limit, timeout and retries. A disabled function
        is refused like the policy's refusals, before anything is recorded or counted."""
        require_invoke(principal, name)  # before the store is read
        return await self.invoke_function(await self.get(name), request, principal)

    async def invoke_function(
        self, function: RegisteredFunction, request: NamedInvocation, principal: Principal
    ) -> Invocation:
        """`invoke` of a function already read (by a front that needed it first: its policy
        says how it is exposed, or how long it may run), without reading it again."""
        name = function.name
        require_invoke(principal, name)
        policy = FunctionPolicy.model_validate(function.policy)
        policy.check_caller(principal, name)
        if not function.enabled:
            raise FunctionDisabled(f"function {name!r} is disabled", function=name)
        pinned = self.pinned_version(function, request)
        version = await self.version(name, pinned or self.pick_version(function))
        if policy.rate_limit is not None:
            await self._rate_limiter.admit(name, principal.subject, policy.rate_limit)
        return await self._invocations.invoke(
            InvocationRequest(
                target=parse_target(version.target),
                payload=request.payload,
                mode=request.mode,
                timeout_s=policy.timeout_for(request.timeout_s),
                session_id=request.session_id,
                callback_url=request.callback_url,
                idempotency_key=request.idempotency_key,
                function_name=name,
                function_version=version.version,
                pinned_version=pinned,
                retry_policy=policy.retry_policy(),
                client_context=request.client_context,
            ),
            principal,
        )

    @staticmethod
    def pinned_version(function: RegisteredFunction, request: NamedInvocation) -> int | None:
        """The version `request` names by number or by alias (None: it names none)."""
        if request.alias is None:
            return request.version
        if request.version is not None:
            raise InvalidRequest("name a version or an alias, not both")
        return aliased_version(function, request.alias)

    def pick_version(self, function: RegisteredFunction) -> int:
        """The canary's version for its weight in percent of invocations, else the active."""
        canary = function.canary
        if canary is not None and self._chance() * 100 < canary["weight"]:
            return canary["version"]
        return function.active_version

    # --- helpers -------------------------------------------------------------------------

    def _new_version(
        self, name: str, number: int, target: Any, principal: Principal, now: float
    ) -> FunctionVersion:
        provider = self._providers.get(target.provider)
        provider.function_key(target)  # refuses a target its provider cannot address
        return FunctionVersion(
            name, number, target.model_dump(exclude_none=True), now, principal.subject
        )

    @staticmethod
    def _activation_fields(function: RegisteredFunction, number: int) -> dict[str, Any]:
        """Activating the canary's version promotes it: the split ends."""
        fields: dict[str, Any] = {"active_version": number}
        if function.canary is not None and function.canary["version"] == number:
            fields["canary"] = None
        return fields

    async def _commit(
        self,
        name: str,
        principal: Principal,
        plan_for: Callable[[RegisteredFunction], Plan | None],
        *,
        needs_version: int | None = None,
    ) -> Commit:
        """Apply `plan_for(current)` over the revision read, again from a fresh read when
        another change got there first. A plan of None changes nothing."""
        for attempt in range(COMMIT_ATTEMPTS):
            current = await self.get(name)
            if needs_version is not None:
                # Read after the record: a deletion from here on moves the revision on.
                await self.version(name, needs_version)
            plan = plan_for(current)
            if plan is None:
                return Commit(current, None, None)
            now = self._clock()
            updated = replace(current, revision=current.revision + 1, updated_at=now, **plan.fields)
            change = VersionChange(
                name,
                updated.revision,
                plan.action,
                now,
                principal.subject,
                plan.from_version,
                plan.to_version,
                plan.detail,
            )
            written = await self._functions.update(
                updated,
                current.revision,
                change,
                add_version=plan.add_version,
                delete_version=plan.delete_version,
            )
            if written:
                return Commit(updated, change, plan)
            await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise Conflict(f"function {name!r} is changing concurrently; retry", function=name)

    async def _announce_activation(
        self, function: RegisteredFunction, change: VersionChange
    ) -> None:
        event = activation_event(function, change)
        try:
            await retry_write(lambda: self._events.publish(event), "publish activation event")
        except RuntimeError as error:
            logger.error("activation event not published: %s; event: %s", error, event)
            raise ServiceUnavailable(
                f"version {function.active_version} of {function.name!r} is active, "
                "but its event could not be published",
                function=function.name,
                active_version=function.active_version,
            ) from error


def visible_to(principal: Principal, version: FunctionVersion) -> FunctionVersion:
    """`version` as `principal` may read it: the clear target for admins alone, else the
    target redacted (header values, URL userinfo and query values masked)."""
    if principal.is_admin:
        return version
    return replace(version, target=redact_target(version.target))


def activation_event(function: RegisteredFunction, change: VersionChange) -> CloudEvent:
    return CloudEvent(
        type=ACTIVATED_EVENT,
        subject=function.name,
        data={
            "function": function.name,
            "action": change.action,
            "from_version": change.from_version,
            "to_version": change.to_version,
            "revision": change.revision,
            "by": change.by,
        },
        time=change.at,
        attributes={"type": ACTIVATED_EVENT, "function": function.name},
    )
