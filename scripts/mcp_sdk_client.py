#!/usr/bin/env python3
"""A client nobody here wrote: the official MCP Python SDK (`mcp` from PyPI).

It is the client of the example MCP server (passport-axum + passport-rmcp,
trusting `passport serve` by URL) and, through the SDK's own OAuth client,
of passport-server:

1. the first request is refused (401); the SDK reads the server's RFC 9728
   metadata, then passport-server's RFC 8414 metadata, registers (RFC 7591
   dynamic registration: client ID metadata documents need https), runs the
   authorization code flow with PKCE S256 and an RFC 8707 `resource`
   (the upstream login happens at the mock provider; `--auto-consent`
   approves), and receives a passport as a Bearer token;
2. a tool within the first grant succeeds;
3. a tool needing a scope the client may be granted is refused with 403
   `insufficient_scope`, and the SDK's step-up (a second authorization for
   the union of the scopes) makes the retried call succeed;
4. a tool needing a scope the client may not be granted stays refused.

The browser is a stand-in: `HeadlessBrowser` follows the authorization
redirects with plain HTTP until they reach the client's redirect URI, and
hands the SDK that redirect's parameters (its callback handler). Nothing
here speaks OAuth itself: discovery, registration, PKCE, state and `iss`
checks, the token request and the step-up are the SDK's.

Usage: mcp_sdk_client.py MCP_URL
Prints one `OK …` line per check and exits 0, or exits 1 naming the check
that failed.
"""

import asyncio
import logging
import sys
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from mcp import ClientSession
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

# The client's redirect URI. Nothing listens there: the headless browser
# stops at the redirect that names it and reads its parameters.
REDIRECT_URI = "http://127.0.0.1:9/callback"
MAX_HOPS = 10


class Refused(Exception):
    """The authorization server sent the browser back with an error."""

    def __init__(self, error: str, description: str):
        super().__init__(f"{error}: {description}")
        self.error = error


class MemoryStorage(TokenStorage):
    """Tokens and the registration, kept for this run only."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class HeadlessBrowser:
    """Follows the authorization redirects (passport-server, the upstream
    login, the callback, the consent) with one cookie jar, like a browser."""

    def __init__(self) -> None:
        self.result: AuthorizationCodeResult | None = None
        self.authorizations: list[str] = []

    async def open(self, url: str) -> None:
        self.result = None
        self.authorizations.append(url)
        async with httpx2.AsyncClient(follow_redirects=False, timeout=15.0) as http:
            for _ in range(MAX_HOPS):
                response = await http.get(url)
                location = response.headers.get("location")
                if response.status_code not in (301, 302, 303, 307, 308) or not location:
                    raise RuntimeError(
                        f"the authorization stopped at {url}: HTTP {response.status_code} "
                        f"{response.text[:300]!r}"
                    )
                url = urljoin(url, location)
                if url.startswith(REDIRECT_URI):
                    query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
                    if "error" in query:
                        raise Refused(query["error"], query.get("error_description", ""))
                    self.result = AuthorizationCodeResult(
                        code=query.get("code", ""),
                        state=query.get("state"),
                        iss=query.get("iss"),
                    )
                    return
        raise RuntimeError(f"more than {MAX_HOPS} redirects")

    async def callback(self) -> AuthorizationCodeResult:
        if self.result is None:
            raise RuntimeError("no authorization response")
        return self.result


def text_of(result) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


def failed(result) -> bool:
    return bool(getattr(result, "is_error", None) or getattr(result, "isError", None))


async def run(mcp_url: str) -> None:
    browser = HeadlessBrowser()
    storage = MemoryStorage()
    oauth = OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name="MCP Python SDK (passport test)",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )
    async with create_mcp_http_client(auth=oauth) as http:
        async with streamable_http_client(mcp_url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = sorted(t.name for t in (await session.list_tools()).tools)
                check(storage.client is not None, "the SDK registered (RFC 7591)")
                check(storage.tokens is not None, "the SDK holds a passport")
                check(
                    storage.tokens.token_type.lower() == "bearer",
                    f"the passport is a Bearer token (got {storage.tokens.token_type})",
                )
                check(
                    len(browser.authorizations) == 1,
                    f"one authorization so far (got {len(browser.authorizations)})",
                )
                first = browser.authorizations[0]
                query = parse_qs(urlparse(first).query)
                check(query.get("code_challenge_method") == ["S256"], "PKCE S256 was used")
                check(query.get("resource") == [mcp_url], f"resource = {mcp_url}")
                print(f"OK registered, authorized and connected; tools: {', '.join(tools)}")
                granted = storage.tokens.scope or ""
                print(f"OK first grant: {granted!r}")

                result = await session.call_tool("read_file", {"path": "notes/q3.txt"})
                check(not failed(result), f"read_file succeeded: {text_of(result)}")
                print(f"OK read_file within the first grant: {text_of(result)[:60]!r}")

                check(
                    "files:write" not in granted.split(),
                    "the first grant does not already hold files:write",
                )
                result = await session.call_tool(
                    "write_file", {"path": "notes/sdk.txt", "content": "written by the MCP Python SDK"}
                )
                check(not failed(result), f"write_file succeeded after step-up: {text_of(result)}")
                check(
                    len(browser.authorizations) == 2,
                    f"the step-up authorized once more (got {len(browser.authorizations)})",
                )
                step_up = parse_qs(urlparse(browser.authorizations[1]).query)
                asked = (step_up.get("scope") or [""])[0].split()
                check("files:write" in asked, f"the step-up asked for files:write (asked {asked})")
                print(f"OK write_file after the SDK's step-up (asked {' '.join(asked)})")

    # A scope the client may not be granted: the SDK's step-up asks for it,
    # passport-server refuses the authorization (invalid_scope), and the
    # call fails. The SDK raises that failure from its transport's task
    # group, which ends the session: a session of its own, then.
    # (The SDK logs the failed flow with its traceback: expected here.)
    logging.getLogger("mcp").setLevel(logging.CRITICAL)
    refused = await refused_call(mcp_url, oauth)
    check(refused is not None, "send_mail (mail:send, not grantable) was refused")
    check(
        len(browser.authorizations) == 3,
        f"the refused step-up was one authorization (got {len(browser.authorizations)})",
    )
    print(f"OK send_mail refused: {refused[:160]}")


def leaves(error: BaseException):
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from leaves(inner)
    else:
        yield error


async def refused_call(mcp_url: str, oauth: OAuthClientProvider) -> str | None:
    """Calls send_mail; the refusal's description, or None if it ran."""
    try:
        async with create_mcp_http_client(auth=oauth) as http:
            async with streamable_http_client(mcp_url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    result = await session.call_tool(
                        "send_mail", {"to": "bob@example.com", "subject": "hello"}
                    )
                    return text_of(result) if failed(result) else None
    except BaseException as e:  # noqa: BLE001 - the refusal is what we expect
        for leaf in leaves(e):
            if isinstance(leaf, Refused):
                check(leaf.error == "invalid_scope", f"refused as invalid_scope (got {leaf})")
                return str(leaf)
        raise


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        asyncio.run(run(sys.argv[1]))
    except BaseException as e:  # noqa: BLE001 - report any failure and exit 1
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print("OK the official MCP Python SDK completed the whole flow")
    return 0


if __name__ == "__main__":
    sys.exit(main())
