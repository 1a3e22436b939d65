"""GraphiQL in a real browser with the network closed: the page, its scripts and the
API all come from this server, the token is typed into the headers editor, and a query
shows its result. Saves test-artifacts/graphiql.png."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app.core.ids import to_global_id
from tests.conftest import ADMIN_TOKEN, LiveServer
from tests.web.conftest import ARTIFACTS, chromium, json_lines, require_node_package, run_node


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """The page does not depend on the database: one backend is enough here."""
    path = tmp_path / "phonegraph.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite://{path}"


@pytest.fixture
def browser() -> str:
    require_node_package("playwright-core")
    found = chromium()
    if found is None:
        pytest.skip("no Chromium found (apt-get install chromium; .ci/run does)")
    return found


async def _drive(live_server: LiveServer, browser: str, tmp_path: Path, **extra: object) -> dict:
    ARTIFACTS.mkdir(exist_ok=True)
    options = {
        "baseUrl": live_server.url,
        "token": ADMIN_TOKEN,
        "chromium": browser,
        "userDataDir": str(tmp_path / "chromium-profile"),
        "screenshot": str(ARTIFACTS / "graphiql.png"),
        "timeoutMs": 30000,
        **extra,
    }
    options_file = tmp_path / "browser.json"
    options_file.write_text(json.dumps(options))
    (report,) = json_lines(await run_node("graphiql_browser.mjs", str(options_file), timeout=150))
    return report


async def test_graphiql_runs_a_query_with_a_token_on_a_closed_network(
    browser: str, live_server: LiveServer, tmp_path: Path
) -> None:
    report = await _drive(live_server, browser, tmp_path)

    assert report["pageStatus"] == 200
    assert report["pageContentType"].startswith("text/html")
    assert report["blockedRequests"] == [], "the page tried to reach another host"
    loaded = report["loopbackRequests"]
    assert any(url.endswith("/graphiql/static/vendor/graphiql.min.js") for url in loaded)
    assert report["pageErrors"] == []
    assert [e for e in report["consoleErrors"] if "Content Security Policy" in e] == []

    assert json.loads(report["headersEditor"]) == {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    result = json.loads(report["queryResult"])
    assert result == {"data": {"viewer": {"role": "SYSTEM_ADMIN", "tokenName": "bootstrap"}}}
    assert (ARTIFACTS / "graphiql.png").stat().st_size > 10_000


async def test_graphiql_subscription_authenticates_the_websocket_from_the_headers_editor(
    browser: str, live_server: LiveServer, tmp_path: Path
) -> None:
    from app.schema import schema

    if "deployJobProgress(" not in schema.as_str():
        pytest.skip("the schema has no deployJobProgress subscription")
    missing_job = to_global_id("DeployJob", 999_999)
    report = await _drive(
        live_server,
        browser,
        tmp_path,
        subscription=f'subscription {{ deployJobProgress(jobId: "{missing_job}") {{ __typename }} }}',
        subscriptionScreenshot=str(ARTIFACTS / "graphiql-subscription.png"),
    )

    assert report["blockedRequests"] == []
    (socket,) = report["websockets"]
    assert socket["url"] == live_server.ws_url
    init = json.loads(socket["sent"][0])
    assert init == {
        "type": "connection_init",
        "payload": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
    }
    assert "connection_ack" in [json.loads(m)["type"] for m in socket["received"]]
    # Authenticated and executed: the server answers about the job, not about the token.
    result = report["subscriptionResult"].lower()
    assert "not found" in result or "not_found" in result, result
    assert "4403" not in result


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("Bearer not-a-token", "this token is unknown, has been revoked or has expired."),
        ("Bearer <token>", "Authorization still holds the placeholder <token>; put your token there."),
    ],
    ids=["unknown-token", "placeholder"],
)
async def test_graphiql_subscription_with_a_bad_token_says_so_at_once(
    browser: str, live_server: LiveServer, tmp_path: Path, authorization: str, reason: str
) -> None:
    expected = "A valid API token is required — put it in the Headers tab."
    screenshot = ARTIFACTS / f"graphiql-refused-{authorization.split()[-1].strip('<>')}.png"
    report = await _drive(
        live_server,
        browser,
        tmp_path,
        refused={
            "headers": {"Authorization": authorization},
            "subscription": "subscription Watch { phoneEvents { step message } }",
            "expect": expected,
            "withinMs": 2000,
            "screenshot": str(screenshot),
        },
    )

    assert report["refusedShownWithinDeadline"], report["refusedResult"]
    result = json.loads(report["refusedResult"])
    assert result == {
        "errors": [
            {
                "message": expected,
                "extensions": {
                    "code": "UNAUTHENTICATED",
                    "closeCode": 4403,
                    "reason": f"A valid API token is required: {reason}",
                },
            }
        ]
    }
    assert "graphiql.min.js" not in report["refusedResult"]  # no stack trace
    # One socket, refused and closed: nothing retried behind the message.
    (socket,) = report["websockets"]
    assert socket["closed"]
    assert [json.loads(m)["type"] for m in socket["sent"]] == ["connection_init"]
    assert report["pageErrors"] == []
