"""The audit log's recorder (CONTRACT §10): every mutation a token calls, and every
hot-desk login or logout made at a phone, runs in one transaction with its
:class:`~app.core.models.AuditEvent`.

:func:`recorded` is the one place that does it. The mutation decorator
(:func:`app.core.errors.returns_user_errors`) calls it for every Mutation field, and the
phone-side hot-desk endpoints call it for theirs. What the change writes and its audit
event commit together, or neither does:

- ``OK`` (and ``USER_ERROR``, whose writes are kept as before: a wrong PIN is counted)
  commits the change with its event; an event that cannot be written rolls the change
  back and the call fails.
- A refusal with a top-level error (``FORBIDDEN``) rolls back what the call wrote and
  records the refusal alone.
- An internal error rolls everything back and records nothing (nothing happened).
- On PostgreSQL a statement that failed (a uniqueness race turned into a DUPLICATE
  userError) spoils its transaction: then the change is rolled back and the USER_ERROR
  event is written alone.

Work that must wait for others (``phoneProfileDeploy(wait: true)`` waits for the runner)
calls :func:`commit_now` first: the change and its ``OK`` event commit there, and the
wait runs outside any transaction. Messages for other tasks (the event bus, the job
runner's wake-up) go through :func:`after_commit`, so nobody is told of rows it cannot
see yet; they are dropped when the change rolls back.

The company an event belongs to (what a COMPANY_ADMIN sees): the token's company for a
COMPANY_ADMIN or USER token, the phone's for a call made at a phone; for a SYSTEM_ADMIN
the company of the first object the arguments name (``id``, ``mac``, then the other
``…Id`` arguments, in order, looked up through the object's scope rule before the
change), else of the object the payload returns (``companyCreate``), else none.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from graphql import GraphQLError
from strawberry.types.unset import UnsetType
from strawberry.utils.str_converters import to_camel_case
from tortoise.backends.base.client import TransactionContext
from tortoise.models import Model
from tortoise.transactions import in_transaction

from app.core.auth import Viewer
from app.core.crypto import mask_password_elements
from app.core.errors import AccessError, ErrorCode, UserInputError
from app.core.ids import parse_global_id
from app.core.models import AuditEvent, AuditOutcome, AuditTarget, Company

log = logging.getLogger(__name__)

R = TypeVar("R")

MASK = "********"
# Argument names (camelCase, compared case-insensitively) whose values are secrets, at
# any depth; names ending in "password" or "secret" are secrets too.
SECRET_NAMES = frozenset(
    {"password", "pin", "webpassword", "userpassword", "engineerpassword", "token", "secret"}
)
# A recorded string longer than this is cut (the log is not a copy of uploaded files).
MAX_STRING = 4096
# Ids longer than this are cut; an event names at most this many.
MAX_TARGET = 200
MAX_TARGETS = 1000
# Objects looked up for a SYSTEM_ADMIN's company, at most.
_COMPANY_LOOKUPS = 3


def is_secret(name: str) -> bool:
    key = name.replace("_", "").lower()
    return key in SECRET_NAMES or key.endswith(("password", "secret"))


# ---------------------------------------------------------------- arguments


def _jsonable(value: Any, depth: int = 0) -> Any:
    if depth > 20:
        return None
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, str):
        # A secret written inside a text (a cnfXml's authPassword) is masked before the
        # text is cut, so no part of it is kept.
        value = mask_password_elements(value, MASK)
        return value if len(value) <= MAX_STRING else value[:MAX_STRING] + "…"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        return _masked(value, depth + 1)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        given = {
            f.name: getattr(value, f.name)
            for f in dataclasses.fields(value)
            if not isinstance(getattr(value, f.name), UnsetType)
        }
        return _masked(given, depth + 1)
    return str(value)


def _masked(args: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in args.items():
        if isinstance(value, UnsetType):
            continue
        key = to_camel_case(name)
        out[key] = MASK if is_secret(key) and value is not None else _jsonable(value, depth)
    return out


def masked_arguments(args: dict[str, Any]) -> dict[str, Any]:
    """The arguments as JSON-able values, camelCase names, every secret ``"********"``."""
    return _masked(args)


def _ids_in(shown: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for name, value in shown.items():
        if value is None or value == MASK:
            continue
        if isinstance(value, dict):
            yield from _ids_in(value)
        elif isinstance(value, list):
            if name.endswith("Ids"):
                yield from ((name, str(v)) for v in value if v is not None)
            else:
                for item in value:
                    if isinstance(item, dict):
                        yield from _ids_in(item)
        elif name in ("id", "mac") or name.endswith("Id"):
            yield name, str(value)


def target_ids(shown: dict[str, Any]) -> list[tuple[str, str]]:
    """``(argument name, id)`` of every ``id``, ``mac``, ``…Id`` and ``…Ids`` argument, at
    any depth, once each, in order: ``id`` first, then ``mac``, then the others."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, value in sorted(_ids_in(shown), key=lambda t: {"id": 0, "mac": 1}.get(t[0], 2)):
        value = value[:MAX_TARGET]
        if value not in seen:
            seen.add(value)
            found.append((name, value))
        if len(found) >= MAX_TARGETS:
            break
    return found


# ---------------------------------------------------------------- the company concerned


async def _company_of_row(model: type[Model], pk: int | None = None, **where: Any) -> int | None:
    from app.core.scope import rule_of

    if model is Company:
        return pk
    try:
        path = rule_of(model).company_path
    except RuntimeError:
        return None
    if path is None:
        return None
    query = model.filter(id=pk) if pk is not None else model.filter(**where)
    found = await query.limit(1).values_list(path, flat=True)
    return int(found[0]) if found and found[0] is not None else None


async def _company_named_by(targets: list[tuple[str, str]]) -> int | None:
    from app.core.node import _REGISTRY

    for name, value in targets[:_COMPANY_LOOKUPS]:
        if name == "mac":
            # A MAC names a phone (the Phone node's model: core does not import devices).
            phone = _REGISTRY.get("Phone")
            company = await _company_of_row(phone.model, mac=value) if phone else None
        else:
            parsed = parse_global_id(value)
            kind = _REGISTRY.get(parsed[0]) if parsed else None
            company = await _company_of_row(kind.model, parsed[1]) if kind and parsed else None
        if company is not None:
            return company
    return None


def _company_in_payload(result: Any) -> int | None:
    """The company of the object a payload returns (a ``row`` with a ``company_id``)."""
    if not dataclasses.is_dataclass(result):
        return None
    for f in dataclasses.fields(result):
        row = getattr(getattr(result, f.name, None), "row", None)
        if isinstance(row, Company):
            return row.id
        company_id = getattr(row, "company_id", None)
        if isinstance(company_id, int):
            return company_id
    return None


# ---------------------------------------------------------------- the call and its transaction


@dataclass
class Call:
    """What is recorded of one call: the operation, its arguments, who made it."""

    operation: str
    arguments: dict[str, Any]
    viewer: Viewer | None = None
    # A hot-desk login or logout made at a phone: the phone and its company.
    phone_id: int | None = None
    phone_company_id: int | None = None
    shown: dict[str, Any] = field(init=False)
    targets: list[tuple[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.shown = masked_arguments(self.arguments)
        self.targets = target_ids(self.shown)


Hook = Callable[[], Awaitable[None] | None]


class _Recording:
    """One call's transaction, its audit event and what waits for its commit."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.hooks: list[Hook] = []
        self.company_id: int | None = None
        self.settled = False
        self._tx: TransactionContext | None = None

    async def begin(self) -> None:
        self._tx = in_transaction()
        await self._tx.__aenter__()

    async def _end(self, exc: BaseException | None) -> None:
        tx, self._tx = self._tx, None
        if tx is not None:
            if exc is None:
                await tx.__aexit__(None, None, None)
            else:
                # Always a rollback (Tortoise skips it for its own TransactionManagementError,
                # which is also what a statement in a spoilt transaction raises).
                await tx.__aexit__(Exception, exc, exc.__traceback__)

    async def _write(self, outcome: AuditOutcome, codes: list[str]) -> None:
        call = self.call
        viewer = call.viewer
        event = await AuditEvent.create(
            operation=call.operation,
            outcome=outcome,
            error_codes=codes,
            actor_token_id=viewer.token_id if viewer else None,
            actor_role=viewer.role if viewer else None,
            actor_phone_id=call.phone_id,
            company_id=self.company_id,
            target_ids=[value for _, value in call.targets],
            arguments=json.dumps(call.shown, ensure_ascii=False, sort_keys=True),
        )
        if call.targets:
            await AuditTarget.bulk_create(
                [AuditTarget(event_id=event.id, target=value) for _, value in call.targets]
            )

    async def _run_hooks(self) -> None:
        hooks, self.hooks = self.hooks, []
        for hook in hooks:
            try:
                done = hook()
                if inspect.isawaitable(done):
                    await done
            except Exception:
                log.warning("a notice after a committed change failed", exc_info=True)

    async def commit(self, outcome: AuditOutcome, codes: list[str]) -> None:
        """Write the event in the call's transaction and commit both."""
        self.settled = True
        try:
            if outcome == AuditOutcome.OK:
                await self._write(outcome, codes)
            else:
                # Inside a savepoint: on PostgreSQL a failed statement of the call may
                # have spoilt the transaction; then the event is written alone.
                async with in_transaction():
                    await self._write(outcome, codes)
        except Exception as exc:
            await self._end(exc)
            self.hooks.clear()
            if outcome == AuditOutcome.OK:
                raise
            await self.record_alone(outcome, codes)
            return
        await self._end(None)
        await self._run_hooks()

    async def rollback(self, exc: BaseException) -> None:
        self.settled = True
        self.hooks.clear()
        await self._end(exc)

    async def record_alone(self, outcome: AuditOutcome, codes: list[str]) -> None:
        """The event in a transaction of its own (after the call's was rolled back)."""
        self.settled = True
        async with in_transaction():
            await self._write(outcome, codes)


_current: ContextVar[_Recording | None] = ContextVar("audit_recording", default=None)


def _codes_of(result: Any) -> list[str]:
    errors = getattr(result, "user_errors", None) or []
    return [e.code.value if isinstance(e.code, ErrorCode) else str(e.code) for e in errors]


def _refusal_outcome(exc: GraphQLError) -> tuple[AuditOutcome, list[str]]:
    code = (exc.extensions or {}).get("code")
    if isinstance(exc, AccessError) and code == "FORBIDDEN":
        return AuditOutcome.FORBIDDEN, []
    return AuditOutcome.USER_ERROR, [code] if code in ErrorCode.__members__ else []


async def recorded(call: Call, action: Callable[[], Awaitable[R]]) -> R:
    """Run ``action`` in one transaction with the audit event of ``call`` (see the
    module's docstring for what is kept and recorded on each outcome)."""
    if _current.get() is not None:
        # Already inside a recorded call (a mutation calling another): one event.
        return await action()
    rec = _Recording(call)
    await rec.begin()
    token = _current.set(rec)
    try:
        try:
            rec.company_id = await _company_concerned(call)
            result = await action()
        except UserInputError as exc:
            if not rec.settled:
                await rec.commit(AuditOutcome.USER_ERROR, _codes_of_error(exc))
            raise
        except GraphQLError as exc:
            if not rec.settled:
                await rec.rollback(exc)
                outcome, codes = _refusal_outcome(exc)
                if call.viewer is not None or call.phone_id is not None:
                    await rec.record_alone(outcome, codes)
            raise
        except BaseException as exc:
            if not rec.settled:
                await rec.rollback(exc)
            raise
        if not rec.settled:
            codes = _codes_of(result)
            if rec.company_id is None and call.viewer is not None:
                rec.company_id = _company_in_payload(result)
            await rec.commit(AuditOutcome.USER_ERROR if codes else AuditOutcome.OK, codes)
        return result
    finally:
        _current.reset(token)
        if rec._tx is not None:  # never left open, whatever happened above
            await rec._end(RuntimeError("audit recording left unfinished"))


def _codes_of_error(exc: UserInputError) -> list[str]:
    return [e.code.value for e in exc.errors]


async def _company_concerned(call: Call) -> int | None:
    if call.phone_id is not None:
        return call.phone_company_id
    viewer = call.viewer
    if viewer is None:
        return None
    if not viewer.is_system_admin:
        return viewer.company_id
    return await _company_named_by(call.targets)


async def commit_now() -> None:
    """Commit the current call's change with its ``OK`` event now, before work that
    waits for other tasks (the rest of the call runs outside any transaction)."""
    rec = _current.get()
    if rec is not None and not rec.settled:
        await rec.commit(AuditOutcome.OK, [])


async def after_commit(hook: Hook) -> None:
    """Run ``hook`` once the current call's change has committed (at once outside a
    recorded call, or once it has committed already); never when it rolls back."""
    rec = _current.get()
    if rec is not None and not rec.settled:
        rec.hooks.append(hook)
        return
    done = hook()
    if inspect.isawaitable(done):
        await done


def call_after_commit(fn: Callable[[], None]) -> None:
    """:func:`after_commit` for a plain function (called from synchronous code)."""
    rec = _current.get()
    if rec is not None and not rec.settled:
        rec.hooks.append(fn)
    else:
        fn()


@contextlib.asynccontextmanager
async def outside_transaction() -> AsyncIterator[None]:
    """Run the block outside the current call's transaction, in transactions of its own.

    For bookkeeping that must stand whatever the call's outcome and be seen by parallel
    calls at once, and that waits (a wrong PIN counts even when the login fails, and is
    counted before its slow check; SQLite's one writer must not be held meanwhile). What
    the call did before is committed here, so only a call that has written nothing yet
    may use it; the call's own transaction begins afresh after the block."""
    rec = _current.get()
    if rec is None or rec.settled or rec._tx is None:
        yield
        return
    await rec._end(None)
    try:
        yield
    finally:
        await rec.begin()
