"""The hot statements run on psycopg directly: compiled once, prepared, no SQLAlchemy per call.

SQLAlchemy's cost for a short statement is several times psycopg's: a cache key computed by
walking the statement, an execution context, a result object and row processing, for every
call. The statements a worker runs for every check (:mod:`checks.statements`) are fixed, so each
is compiled once (for each set of parameter names it is given), its literal values and the
type processing of its parameters computed once, and then sent on the driver's connection of
the SQLAlchemy connection in hand, in the transaction that connection has open, as a prepared
statement; ``many`` sends a list of rows to an ``INSERT`` as one statement of several rows
(``VALUES (...), (...)``), and to anything else pipelined (psycopg 3's ``executemany``).

A write that runs several statements can be written as *steps* (:data:`Steps`): a generator
that yields each statement (:class:`Query` for one whose rows it needs next, :class:`Insert`
for rows it need not wait for) and is sent each answer. :func:`run` makes the steps one after
another; :func:`run_together` makes the steps of many writes in rounds, each round the next
statement of every write still running, pipelined, with one wait for the whole round. The
group-commit writer runs a batch of twenty checks' writes that way in two or three round trips
instead of forty.

Only PostgreSQL through psycopg takes this path; SQLite and an ORM session keep SQLAlchemy's
``execute``. Errors are SQLAlchemy's (``DBAPIError.instance``), and a lost connection is
invalidated, as SQLAlchemy would, so the caller sees the same thing on either path.
"""

from __future__ import annotations

import inspect
import re
import weakref
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, NoResultFound
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

if TYPE_CHECKING:  # imported where a psycopg connection is found: SQLite never loads it
    import psycopg

_POSTCOMPILE = re.compile(r"__\[POSTCOMPILE_(\w+)\]")
T = TypeVar("T")


@dataclass(frozen=True)
class _Compiled:
    """A statement as psycopg takes it, for one set of parameter names."""

    sql: str
    #: Values the statement carries itself (literals, an IN list, scalar column defaults).
    fixed: dict[str, Any]
    #: Per parameter, the processing its type does before it is sent (aware datetimes, JSON).
    processors: dict[str, Callable[[Any], Any]]

    def params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        out = {**self.fixed, **given}
        for name, process in self.processors.items():
            if name in out:
                out[name] = process(out[name])
        return out


def _compile(stmt: Executable, keys: tuple[str, ...], dialect: Dialect, many: bool) -> _Compiled:
    assert isinstance(stmt, ClauseElement)
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys), for_executemany=many)
    assert isinstance(compiled, SQLCompiler)
    fixed: dict[str, Any] = {}
    for name, bind in compiled.binds.items():
        if name.startswith("%(") or bind.required or name in keys:
            continue  # the object-keyed duplicate of a name, or a value the caller gives
        if bind.expanding:
            continue  # an IN list: expanded into the SQL below
        if bind.callable is not None:
            raise NotImplementedError(f"parameter {name} is computed at execution")
        fixed[name] = bind.effective_value
    for col in [*compiled.insert_prefetch, *compiled.update_prefetch]:
        if col.key not in keys:
            default = col.default
            if default is None or not getattr(default, "is_scalar", False):
                raise NotImplementedError(f"column {col.key} has a default computed at execution")
            fixed[col.key] = getattr(default, "arg", None)

    def expand(m: re.Match[str]) -> str:
        name = m.group(1)
        values = list(compiled.binds[name].effective_value or ())
        names = [f"{name}_{i}" for i in range(1, len(values) + 1)]
        fixed.update(zip(names, values, strict=True))
        return ", ".join(f"%({n})s" for n in names)

    sql = _POSTCOMPILE.sub(expand, compiled.string)
    processors: dict[str, Callable[[Any], Any]] = {}
    for name, process in compiled._bind_processors.items():  # the types' own processing
        assert callable(process)  # a tuple only for a tuple-typed parameter: none here
        if name in fixed:  # a literal is processed once, here
            fixed[name] = process(fixed[name])
        else:
            processors[name] = process
    # A state's enum goes as its value (as SQLAlchemy's String type sends it).
    fixed = {k: v.value if isinstance(v, Enum) else v for k, v in fixed.items()}
    return _Compiled(sql, fixed, processors)


_COMPILED: dict[tuple[Executable, tuple[str, ...], bool], _Compiled] = {}


def _compiled(stmt: Executable, keys: tuple[str, ...], dialect: Dialect, many: bool) -> _Compiled:
    key = (stmt, keys, many)
    found = _COMPILED.get(key)
    if found is None:
        found = _COMPILED[key] = _compile(stmt, keys, dialect, many)
    return found


def _driver(c: Connection | Session) -> psycopg.Connection[Any] | None:
    """The psycopg connection under ``c``, or None where SQLAlchemy runs the statement."""
    if isinstance(c, Connection) and c.dialect.driver == "psycopg":
        import psycopg  # already loaded by SQLAlchemy's psycopg dialect

        driver = c.connection.driver_connection
        if isinstance(driver, psycopg.Connection):
            return driver
    return None


def _raise(c: Connection, sql: str, params: Any, exc: psycopg.Error) -> None:
    """Raise ``exc`` as SQLAlchemy would, invalidating a connection that was lost."""
    import psycopg  # already loaded: ``exc`` is one of its errors

    lost = c.dialect.is_disconnect(exc, c.connection.dbapi_connection, None)  # type: ignore[arg-type]
    if lost:
        c.invalidate(exc)
    raise DBAPIError.instance(
        sql, params, exc, psycopg.Error, connection_invalidated=lost, dialect=c.dialect
    ) from exc


#: One cursor per psycopg connection, used again for every statement: a new cursor per
#: statement (its adapters, its row maker from the result's description, its close) cost a
#: writer more than the statement's own execution.
_CURSORS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
#: Per statement, a row factory making the named tuple its rows are (known once it has
#: returned a row; until then psycopg's ``namedtuple_row`` works it out from the result).
_ROW_FACTORIES: dict[str, Callable[[Any], Callable[[Sequence[Any]], Any]]] = {}


#: Per psycopg connection, the cursors of a round of :func:`run_together` (one per write: each
#: holds its own statement's rows until the round is read).
_ROUND_CURSORS: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


def _cursor(driver: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
    cur = _CURSORS.get(driver)
    if cur is None or cur.closed:
        cur = _CURSORS[driver] = driver.cursor()
    return cur


def _round_cursors(driver: psycopg.Connection[Any], n: int) -> list[psycopg.Cursor[Any]]:
    kept = _ROUND_CURSORS.get(driver)
    if kept is None or any(cur.closed for cur in kept):
        kept = _ROUND_CURSORS[driver] = []
    while len(kept) < n:
        kept.append(driver.cursor())
    return kept


def _remember_rows(sql: str, found: Sequence[Any]) -> None:
    """Keep the row maker of a statement's first rows, for its later results."""
    if found and sql not in _ROW_FACTORIES:
        make = type(found[0])._make
        _ROW_FACTORIES[sql] = lambda _cur: make


def _fetch(cur: psycopg.Cursor[Any]) -> Sequence[Any]:
    result = cur.pgresult
    if result is None or not result.nfields:  # a statement that returns no rows
        return []
    return cur.fetchall()


def rows(c: Connection | Session, stmt: Executable, params: Mapping[str, Any]) -> Sequence[Any]:
    """Every row ``stmt`` returns (attribute access by column name)."""
    driver = _driver(c)
    if driver is None:
        return c.execute(stmt, params).all()
    assert isinstance(c, Connection)
    import psycopg  # already loaded: _driver found a psycopg connection
    from psycopg.rows import namedtuple_row

    compiled = _compiled(stmt, tuple(params), c.dialect, False)
    sent = compiled.params(params)
    cur = _cursor(driver)
    try:
        cur.row_factory = _ROW_FACTORIES.get(compiled.sql, namedtuple_row)
        cur.execute(compiled.sql, sent, prepare=True)
        found = _fetch(cur)
    except psycopg.Error as exc:
        _raise(c, compiled.sql, sent, exc)
        raise  # not reached: _raise raises
    _remember_rows(compiled.sql, found)
    return found


def first(c: Connection | Session, stmt: Executable, params: Mapping[str, Any]) -> Any | None:
    """The first row ``stmt`` returns, or None."""
    found = rows(c, stmt, params)
    return found[0] if found else None


def one(c: Connection | Session, stmt: Executable, params: Mapping[str, Any]) -> Any:
    """The one row ``stmt`` returns (``NoResultFound`` if none)."""
    found = rows(c, stmt, params)
    if not found:
        raise NoResultFound("No row was found when one was required")
    return found[0]


#: The most rows sent as one multi-row ``INSERT`` (so a statement has at most this many shapes
#: to prepare); more go pipelined, a statement a row, in one round trip.
MAX_ROWS = 16
#: A plain single-row insert: ``INSERT INTO t (..) VALUES (..)``, nothing after the values.
_PLAIN_INSERT = re.compile(r"(INSERT INTO [^()]+\([^()]*\) VALUES )(\(.*\))", re.DOTALL)
_PARAM = re.compile(r"%\((\w+)\)s")
#: Per (single-row statement, number of rows): the multi-row statement, or None if the
#: statement is not a plain insert (it is then pipelined row by row).
_MULTI: dict[tuple[str, int], _Compiled | None] = {}


def _suffixed(name: str, i: int) -> str:
    return f"{name}__r{i}"


def _row_values(values: str, i: int) -> str:
    """A row's ``(...)`` of values with its parameters suffixed with its number."""
    return _PARAM.sub(lambda m: f"%({_suffixed(m.group(1), i)})s", values)


def _multi_row(one: _Compiled, n: int) -> _Compiled | None:
    """``one`` (a single-row insert) as one statement inserting ``n`` rows: its values
    repeated, each row's parameters suffixed with the row's number; None if ``one`` is not
    a plain insert (a ``RETURNING`` or ``ON CONFLICT`` clause)."""
    key = (one.sql, n)
    if key in _MULTI:
        return _MULTI[key]
    found = _PLAIN_INSERT.fullmatch(one.sql)
    multi: _Compiled | None = None
    if found is not None and not any(w in found.group(2) for w in ("RETURNING", "ON CONFLICT")):
        head, values = found.groups()
        multi = _Compiled(
            head + ", ".join(_row_values(values, i) for i in range(n)),
            {_suffixed(k, i): v for i in range(n) for k, v in one.fixed.items()},
            {_suffixed(k, i): f for i in range(n) for k, f in one.processors.items()},
        )
    _MULTI[key] = multi
    return multi


def many(c: Connection | Session, stmt: Executable, rowlist: Sequence[Mapping[str, Any]]) -> None:
    """Run ``stmt`` for every row; the rows have the same keys.

    On psycopg an ``INSERT`` of up to :data:`MAX_ROWS` rows goes as one statement (one round
    trip and one statement for PostgreSQL to run: half the client CPU of a pipeline of one
    statement a row, ``bench.insert_rows``); more rows, or anything else, are pipelined.
    """
    if not rowlist:
        return
    driver = _driver(c)
    if driver is None:
        c.execute(stmt, list(rowlist))
        return
    assert isinstance(c, Connection)
    _send_insert(c, _cursor(driver), stmt, rowlist)


def _send_insert(
    c: Connection, cur: psycopg.Cursor[Any], stmt: Executable, rowlist: Sequence[Mapping[str, Any]]
) -> None:
    """Send an insert's rows on ``cur``: waited for, except inside a pipeline (whose end
    waits for them)."""
    import psycopg  # already loaded: ``cur`` is one of its cursors

    one = _compiled(stmt, tuple(rowlist[0]), c.dialect, True)
    multi = _multi_row(one, len(rowlist)) if len(rowlist) <= MAX_ROWS else None
    sent: Any
    if multi is None:  # many rows, or not a plain insert: a pipeline, a statement a row
        sent = [one.params(r) for r in rowlist]
        try:
            cur.executemany(one.sql, sent)
        except psycopg.Error as exc:
            _raise(c, one.sql, sent, exc)
        return
    sent = multi.params({_suffixed(k, i): v for i, r in enumerate(rowlist) for k, v in r.items()})
    try:
        cur.execute(multi.sql, sent, prepare=True)
    except psycopg.Error as exc:
        _raise(c, multi.sql, sent, exc)


# -- writes as steps ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """A step: run ``stmt`` and send its rows back (what :func:`rows` returns)."""

    stmt: Executable
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Insert:
    """A step: insert ``rows`` (as :func:`many`), answered at once with None. Its outcome is
    not waited for: an error fails the transaction, at the latest when it commits."""

    stmt: Executable
    rows: Sequence[Mapping[str, Any]]


Step: TypeAlias = "Query | Insert"
#: A write as steps: yields each statement, is sent each answer, returns the write's result.
Steps: TypeAlias = Generator[Step, Any, T]


def run(c: Connection | Session, steps: Steps[T]) -> T:
    """Make a write's steps one after another on ``c`` and return its result."""
    answer: Any = None
    try:
        while True:
            step = steps.send(answer)
            if isinstance(step, Query):
                answer = rows(c, step.stmt, step.params)
            else:
                many(c, step.stmt, step.rows)
                answer = None
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def finish(c: Connection, started: Any) -> Any:
    """A write's result: ``started`` itself, or, if it is steps, what they return when made."""
    return run(c, cast("Steps[Any]", started)) if inspect.isgenerator(started) else started


def run_together(
    c: Connection,
    started: Sequence[Any],
    then: Callable[[], Sequence[Insert]] | None = None,
) -> list[Any]:
    """The results of several writes, each already started (steps, or a result as it is);
    ``then``: inserts to make once every write has finished (a batch's audit events).

    On psycopg the steps are made in rounds. Every write still running is sent its answer
    and runs up to its next :class:`Query` (its own code runs then, outside any pipeline, so
    whatever else it executes runs as usual); the round's inserts and queries are then sent
    as one pipeline, waited for once, and each query's rows are the next answer. A write that
    raises, or a statement that fails, raises out of here (the caller rolls back).
    """
    driver = _driver(c)
    if driver is None:
        results = [finish(c, s) for s in started]
        for last in then() if then else ():
            many(c, last.stmt, last.rows)
        return results
    import psycopg  # already loaded: _driver found a psycopg connection
    from psycopg.rows import namedtuple_row

    results = list(started)
    running: list[tuple[int, Steps[Any], Any]] = [
        (i, cast("Steps[Any]", s), None) for i, s in enumerate(started) if inspect.isgenerator(s)
    ]
    while True:
        inserts: list[Insert] = []
        queries: list[tuple[int, Steps[Any], Query]] = []
        for i, steps, answer in running:
            try:
                step = steps.send(answer)
                while isinstance(step, Insert):
                    inserts.append(step)
                    step = steps.send(None)
            except StopIteration as stop:
                results[i] = stop.value
                continue
            queries.append((i, steps, step))
        if not queries and then is not None:
            inserts.extend(then())
        if not queries and not inserts:
            return results
        cursors = _round_cursors(driver, len(queries))
        sent: list[tuple[int, Steps[Any], psycopg.Cursor[Any], str]] = []
        try:
            with driver.pipeline():
                for insert in inserts:
                    if insert.rows:
                        _send_insert(c, _cursor(driver), insert.stmt, insert.rows)
                for cur, (i, steps, query) in zip(cursors, queries, strict=False):
                    compiled = _compiled(query.stmt, tuple(query.params), c.dialect, False)
                    cur.row_factory = _ROW_FACTORIES.get(compiled.sql, namedtuple_row)
                    cur.execute(compiled.sql, compiled.params(query.params), prepare=True)
                    sent.append((i, steps, cur, compiled.sql))
            # Leaving the block sent everything and read every result.
            running = []
            for i, steps, cur, sql in sent:
                found = _fetch(cur)
                _remember_rows(sql, found)
                running.append((i, steps, found))
        except psycopg.Error as exc:
            _raise(c, "(a pipeline of statements)", None, exc)
        if not queries:
            return results
