"""GraphiQL is served by this server from its own files: the page, its script and the
GraphiQL/React builds npm installed, with nothing loaded from anywhere else."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from app.core import graphql_view
from tests.conftest import LiveServer

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def _get(live_server: LiveServer, path: str, accept: str = BROWSER_ACCEPT) -> httpx.Response:
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        return await client.get(path, headers={"accept": accept})


async def test_browser_gets_graphiql_page_loading_only_local_files(live_server: LiveServer) -> None:
    if graphql_view.graphiql_assets_missing():
        pytest.skip("GraphiQL's files are not installed: run `make assets` (make test does)")
    page = await _get(live_server, "/graphql")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "https://" not in page.text and "http://" not in page.text

    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/graphiql/static/vendor/graphiql.min.js" in urls
    assert "/graphiql/static/vendor/react.production.min.js" in urls
    for url in urls:
        assert url.startswith("/graphiql/static/"), url
        asset = await _get(live_server, url, accept="*/*")
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url


async def test_page_script_takes_the_token_from_the_headers_editor(live_server: LiveServer) -> None:
    script = await _get(live_server, "/graphiql/static/page.js", accept="*/*")
    assert script.status_code == 200
    assert "subscriptionUrl" in script.text
    assert 'Authorization: "Bearer <token>"' in script.text
    assert "shouldPersistHeaders: false" in script.text


async def test_api_clients_without_text_html_get_json_not_the_page(live_server: LiveServer) -> None:
    response = await _get(live_server, "/graphql", accept="*/*")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["message"].startswith("No GraphQL query")


async def test_missing_graphiql_files_give_a_page_saying_how_to_install_them(
    live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server installed without running npm: the folder exists, the vendor files do not.
    (tmp_path / "graphiql").mkdir()
    monkeypatch.setattr(graphql_view, "GRAPHIQL_DIR", tmp_path / "graphiql")
    page = await _get(live_server, "/graphql")
    assert page.status_code == 503
    assert "GraphiQL is not installed" in page.text
    assert "make assets" in page.text and "npm ci" in page.text
    assert "graphiql.min.js" in page.text
    assert "Loading" not in page.text


async def test_only_the_files_the_page_loads_are_served(tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    vendor = tmp_path / "vendor"
    vendor.mkdir()
    for name in graphql_view.GRAPHIQL_VENDOR_FILES:
        (vendor / name).write_text("/* vendor build */")
    (vendor / "LICENSE.graphiql").write_text("MIT")
    (vendor / "versions.json").write_text('{"graphiql": "3.0.0"}')
    (tmp_path / "page.js").write_text("// page")
    (tmp_path / "notes.txt").write_text("private")
    app = Starlette(
        routes=[
            Mount(
                graphql_view.GRAPHIQL_STATIC_URL,
                graphql_view.GraphiQLFiles(directory=tmp_path),
            )
        ]
    )
    base = "http://test" + graphql_view.GRAPHIQL_STATIC_URL
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        assert (await client.get(f"{base}/vendor/graphiql.min.js")).status_code == 200
        assert (await client.get(f"{base}/vendor/LICENSE.graphiql")).status_code == 200
        assert (await client.get(f"{base}/page.js")).status_code == 200
        for hidden in ("vendor/versions.json", "notes.txt", "vendor/../notes.txt", "vendor/"):
            response = await client.get(f"{base}/{hidden}")
            assert response.status_code == 404, hidden
            assert "graphiql" not in response.text.lower()
