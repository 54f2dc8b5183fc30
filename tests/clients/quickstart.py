#!/usr/bin/env python3
"""Walk the harepay quickstart with the official MCP Python SDK (PyPI `mcp`).

Usage:
    python quickstart.py /path/to/harepay

For each protocol generation the installed SDK offers, the script spawns
`harepay stdio` on a fresh temporary database (demo merchant, key sk_test_demo)
and checks, through the SDK's own ClientSession (so the SDK validates every
non-error structuredContent against the tool's outputSchema):

  * mcp 2.x: ClientSession.discover()   -> protocol 2026-07-28 (stateless)
             ClientSession.initialize() -> protocol 2025-11-25 (session)
  * mcp 1.x: ClientSession.initialize() -> protocol 2025-11-25 (session)

It exits non-zero if any check fails; the last line is "N passed, M failed".
The settlement simulator is pushed far into the future (HAREPAY_TEST_AUTO_SETTLE_MS,
default 600000, override with the environment variable of the same name) so
that simulate_payment decides the outcome deterministically.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from importlib.metadata import version as dist_version
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

try:  # mcp 2.x
    from mcp.shared.exceptions import MCPError as ProtocolError
except ImportError:  # mcp 1.x
    from mcp.shared.exceptions import McpError as ProtocolError

SDK_VERSION = dist_version("mcp")
SDK_MAJOR = int(SDK_VERSION.split(".")[0])

CATALOG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")


def expected_maker_tools() -> set[str]:
    """What a maker key sees, from the checked-in catalog: every tool but the approvers' decisions
    and the admins' key management."""
    names = set()
    for file_name in os.listdir(CATALOG_DIR):
        with open(os.path.join(CATALOG_DIR, file_name), encoding="utf-8") as file:
            tool = json.load(file)
        if tool["permission"] not in ("decide_approval", "manage_keys"):
            names.add(tool["name"])
    return names


EXPECTED_TOOLS = expected_maker_tools()
DOCS_URI = "harepay://docs/llms.txt"
QUICKSTART_ARGS = {
    "amount": {"amount": 1000000, "currency": "NGN"},
    "method": "bank_transfer",
    "rail": "rubies",
}


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.prefix = ""
        self.notes: list[str] = []
        self.output_schemas: dict[str, Any] = {}

    def check(self, name: str, ok: bool, detail: Any = "") -> bool:
        if ok:
            self.passed += 1
            print(f"  ok   {self.prefix}{name}")
        else:
            self.failed += 1
            print(f"  FAIL {self.prefix}{name}: {detail}")
        return ok


# --- helpers that hide the 1.x (camelCase) / 2.x (snake_case) attribute names ---


def is_error(result: Any) -> bool:
    return bool(getattr(result, "is_error", getattr(result, "isError", False)))


def structured(result: Any) -> Any:
    if hasattr(result, "structured_content"):
        return result.structured_content
    return getattr(result, "structuredContent", None)


def text_of(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in (result.content or []))


def short(value: Any, limit: int = 400) -> str:
    s = json.dumps(value, default=str) if not isinstance(value, str) else value
    return s if len(s) <= limit else s[:limit] + "..."


def describe(e: BaseException) -> str:
    """The innermost errors of an (anyio) exception group, or the error itself."""
    if isinstance(getattr(e, "exceptions", None), tuple):  # ExceptionGroup (3.11+ or backport)
        return "; ".join(describe(x) for x in e.exceptions)
    return f"{type(e).__name__}: {e}"


def get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


async def call(c: Checks, session: ClientSession, label: str, tool: str, args: dict[str, Any]) -> Any:
    """Call a tool through the SDK. Returns the result, or None (and records a failure) if
    the SDK raised, which includes its outputSchema validation of structuredContent."""
    try:
        result = await session.call_tool(tool, args)
    except Exception as e:  # noqa: BLE001 - we report whatever the SDK raised
        c.check(f"{label}: call {tool} {short(args, 200)}", False, describe(e))
        return None
    note_error_schema_mismatch(c, tool, result)
    return result


def note_error_schema_mismatch(c: Checks, tool: str, result: Any) -> None:
    """The Python SDK skips outputSchema validation for isError results, but the MCP spec does not
    exempt them and MCP Inspector 2.12 validates them too. Check that error results conform."""
    schema = c.output_schemas.get(tool)
    sc = structured(result)
    if not is_error(result) or schema is None or sc is None:
        return
    import jsonschema  # a dependency of the mcp SDK

    errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(sc))
    c.check(
        f"{tool}: isError structuredContent conforms to the outputSchema",
        not errors,
        jsonschema.exceptions.best_match(errors).message if errors else "",
    )


async def walk(c: Checks, session: ClientSession, expected_version: str, negotiated: str | None) -> None:
    # --- protocol ---
    c.check(f"negotiated protocol {expected_version}", negotiated == expected_version, negotiated)

    # --- tools/list ---
    listed = await session.list_tools()
    names = {t.name for t in listed.tools}
    for t in listed.tools:
        c.output_schemas[t.name] = getattr(t, "output_schema", getattr(t, "outputSchema", None))
    c.check(
        f"tools/list returns the {len(EXPECTED_TOOLS)} tools a maker key sees (from the catalog)",
        names == EXPECTED_TOOLS,
        f"missing {sorted(EXPECTED_TOOLS - names)}, extra {sorted(names - EXPECTED_TOOLS)}",
    )
    no_schema = sorted(t.name for t in listed.tools if not getattr(t, "output_schema", getattr(t, "outputSchema", None)))
    c.check("every tool declares an outputSchema", not no_schema, no_schema)

    # --- the guide as a resource ---
    try:
        res = await session.read_resource(DOCS_URI)
        text = "".join(getattr(x, "text", "") or "" for x in res.contents)
        c.check(f"resources/read {DOCS_URI}", text.startswith("# harepay") and "Quickstart" in text, short(text, 200))
    except Exception as e:  # noqa: BLE001
        c.check(f"resources/read {DOCS_URI}", False, f"{type(e).__name__}: {e}")

    # --- create_payment_intent: preview, executed, replayed ---
    r = await call(c, session, "preview", "create_payment_intent", dict(QUICKSTART_ARGS))
    if r is not None:
        sc = structured(r)
        c.check("create_payment_intent without confirm -> outcome preview",
                not is_error(r) and get(sc, "outcome") == "preview", short(sc))

    create_args = dict(QUICKSTART_ARGS, confirm=True, idempotency_key="order-1001")
    r = await call(c, session, "executed", "create_payment_intent", create_args)
    pi_id = None
    if r is not None:
        sc = structured(r)
        pi_id = get(sc, "object", "id")
        c.check("create_payment_intent confirm -> outcome executed",
                not is_error(r) and get(sc, "outcome") == "executed", short(sc))
        c.check("created payment has an id pi_… and status requires_action",
                isinstance(pi_id, str) and pi_id.startswith("pi_")
                and get(sc, "object", "status") == "requires_action", short(sc))

    r = await call(c, session, "replayed", "create_payment_intent", create_args)
    if r is not None:
        sc = structured(r)
        c.check("same idempotency_key again -> outcome replayed, same id",
                not is_error(r) and get(sc, "outcome") == "replayed"
                and get(sc, "object", "id") == pi_id and pi_id is not None, short(sc))

    # --- simulate_payment to succeeded ---
    if pi_id is not None:
        r = await call(c, session, "simulate", "simulate_payment",
                       {"id": pi_id, "outcome": "succeeded", "confirm": True, "idempotency_key": "sim-1001"})
        if r is not None:
            sc = structured(r)
            c.check("simulate_payment succeeded -> executed, status succeeded",
                    not is_error(r) and get(sc, "outcome") == "executed"
                    and get(sc, "object", "status") == "succeeded", short(sc))
    else:
        c.check("simulate_payment succeeded", False, "no payment id from create_payment_intent")

    # --- list_payments ---
    r = await call(c, session, "list", "list_payments", {})
    if r is not None:
        sc = structured(r)
        data = get(sc, "data") or []
        c.check("list_payments shows the payment, succeeded",
                not is_error(r) and len(data) == 1 and data[0].get("id") == pi_id
                and data[0].get("status") == "succeeded", short(sc))

    # --- get_balance NGN: 1000000 less the 0.5% rubies fee ---
    r = await call(c, session, "balance", "get_balance", {"asset": "NGN"})
    if r is not None:
        sc = structured(r)
        c.check("get_balance NGN available 995000, pending 0",
                not is_error(r) and get(sc, "available", "amount") == 995000
                and get(sc, "pending", "amount") == 0 and get(sc, "currency") == "NGN", short(sc))

    # --- a tool error: a float amount ---
    r = await call(c, session, "float", "create_payment_intent",
                   dict(QUICKSTART_ARGS, amount={"amount": 10.5, "currency": "NGN"}))
    if r is not None:
        sc = structured(r)
        c.check("amount 10.5 -> isError with error.type invalid_request",
                is_error(r) and get(sc, "error", "type") == "invalid_request",
                f"isError={is_error(r)} structured={short(sc)} text={short(text_of(r), 200)}")

    # --- an unknown tool: a JSON-RPC error, not a tool result ---
    try:
        r = await session.call_tool("no_such_tool", {})
        c.check("unknown tool -> protocol error", False,
                f"got a result: isError={is_error(r)} {short(text_of(r), 200)}")
    except ProtocolError as e:
        c.check("unknown tool -> protocol error -32602", e.error.code == -32602, f"{e.error.code} {e.error.message}")
    except Exception as e:  # noqa: BLE001
        c.check("unknown tool -> protocol error", False, f"{type(e).__name__}: {e}")

    # --- every remaining tool once, so the SDK validates each outputSchema ---
    # (tool, arguments, expectation on structuredContent; "error:<type>" means an isError result)
    extra: list[tuple[str, dict[str, Any], Any]] = [
        ("whoami", {}, lambda sc: get(sc, "role") == "maker" and get(sc, "mode") == "test"),
        ("system_status", {}, lambda sc: get(sc, "status") == "ok" and get(sc, "ledger", "sound") is True),
        ("list_balances", {}, lambda sc: isinstance(sc, dict)),
        ("list_events", {}, lambda sc: len(get(sc, "data") or []) >= 3),
        ("list_audit_log", {}, lambda sc: len(get(sc, "data") or []) >= 4),
    ]
    if pi_id is not None:
        extra += [
            ("get_payment", {"id": pi_id}, lambda sc: get(sc, "payment_intent", "status") == "succeeded"),
            ("refund_payment", {"id": pi_id, "amount": 1000}, lambda sc: get(sc, "outcome") == "preview"),
            ("simulate_payment", {"id": pi_id, "outcome": "failed"}, "error:invalid_state"),
            ("cancel_payment_intent", {"id": pi_id}, "error:invalid_state"),
            ("get_payment", {"id": "pi_does_not_exist"}, "error:not_found"),
        ]
    for tool, args, expect in extra:
        r = await call(c, session, "schema", tool, args)
        if r is None:
            continue
        sc = structured(r)
        if isinstance(expect, str):
            want = expect.split(":", 1)[1]
            c.check(f"{tool} {short(args, 120)} -> isError, error.type {want}",
                    is_error(r) and get(sc, "error", "type") == want
                    and isinstance(get(sc, "error", "message"), str), short(sc))
        else:
            c.check(f"{tool} {short(args, 120)} -> accepted by the SDK's outputSchema check",
                    not is_error(r) and expect(sc), short(sc))


@contextlib.asynccontextmanager
async def http_server(binary: str, env: dict[str, str], errlog: Any):
    """`harepay http --demo` on a free loopback port; yields its /mcp URL.

    `harepay http` creates no key by itself; `--demo` asks for the demo merchant and its
    test keys on the fresh database, as `harepay stdio` makes them for the stdio runs."""
    process = subprocess.Popen(
        [binary, "http", "--listen", "127.0.0.1:0", "--demo"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        for line in process.stderr:
            errlog.write(line)
            if "streamable HTTP at " in line:
                url = line.split("streamable HTTP at ")[1].split()[0]
                break
        if url is None:
            raise RuntimeError("harepay http exited before listening")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.asynccontextmanager
async def connect(binary: str, transport: str, env: dict[str, str], errlog: Any):
    """Yields (read, write) streams to a fresh harepay over stdio or streamable HTTP."""
    if transport == "stdio":
        params = StdioServerParameters(command=binary, args=["stdio"], env=env)
        async with stdio_client(params, errlog=errlog) as (read, write):
            yield read, write
        return
    from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

    async with http_server(binary, env, errlog) as url:
        headers = {"Authorization": f"Bearer {env['HAREPAY_SECRET_KEY']}"}
        async with create_mcp_http_client(headers=headers) as http_client:
            async with streamable_http_client(url, http_client=http_client) as streams:
                yield streams[0], streams[1]


async def run_generation(
    c: Checks, binary: str, label: str, handshake: str, expected_version: str, transport: str = "stdio"
) -> float:
    c.prefix = f"[{label} {transport}] "
    tmp = tempfile.mkdtemp(prefix="harepay-quickstart-")
    db = os.path.join(tmp, "harepay.db")
    log_path = os.path.join(tmp, "stderr.log")
    env = {
        "HAREPAY_DB": db,
        "HAREPAY_SECRET_KEY": "sk_test_demo",
        # Every toolset, so that the walk reaches the opt-in ones (events, audit log) too.
        "HAREPAY_TOOLSETS": "all",
        "HAREPAY_TEST_AUTO_SETTLE_MS": os.environ.get("HAREPAY_TEST_AUTO_SETTLE_MS", "600000"),
    }
    print(f"== mcp {SDK_VERSION} over {transport}, {handshake}() -> {expected_version}  (db {db})")
    failed_before = c.failed
    start = time.monotonic()
    with open(log_path, "w") as errlog:
        try:
            async with connect(binary, transport, env, errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    if handshake == "discover":
                        await session.discover()
                        negotiated = session.protocol_version
                    else:
                        init = await session.initialize()
                        negotiated = getattr(init, "protocol_version", None) or getattr(init, "protocolVersion", None)
                    await walk(c, session, expected_version, negotiated)
        except Exception as e:  # noqa: BLE001
            c.check("session ran to the end", False, describe(e))
            traceback.print_exc()
    elapsed = time.monotonic() - start
    if c.failed > failed_before:
        print(f"   kept for inspection: {db}, server stderr {log_path}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"   {elapsed * 1000:.0f} ms")
    return elapsed


async def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    binary = os.path.abspath(sys.argv[1])
    if not os.access(binary, os.X_OK):
        print(f"not an executable: {binary}")
        return 2
    c = Checks()
    if SDK_MAJOR >= 2:
        generations = [("2026-07-28", "discover", "2026-07-28"), ("2025-11-25", "initialize", "2025-11-25")]
    else:
        from mcp.types import LATEST_PROTOCOL_VERSION

        generations = [(LATEST_PROTOCOL_VERSION, "initialize", LATEST_PROTOCOL_VERSION)]
    for label, handshake, expected in generations:
        await run_generation(c, binary, label, handshake, expected)
    if SDK_MAJOR >= 2:
        for label, handshake, expected in generations:
            await run_generation(c, binary, label, handshake, expected, transport="http")
    c.prefix = ""
    for note in c.notes:
        print(f"note: {note}")
    print(f"{c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
