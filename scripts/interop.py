#!/usr/bin/env python3
"""Interop with the Python reference, csp-agent-passport 0.2.1 (SPEC §3–§5).

Usage: python scripts/interop.py <dir>

<dir> holds what `cargo run -p passport-examples --example interop -- mint <dir>`
wrote. This script, using only the reference's public API:

  (a) verifies the Rust-minted root (`root.txt`) and 3-link chain (`chain.txt`,
      a bundle `grandchild~child~root`, leaf first) with the reference's
      `Verifier`, keyed by the Rust Ed25519 key (`issuer_public.jwk`);
  (b) mints a root and a 3-link chain with the reference's own `Issuer`
      (RS256) and writes `py_public.jwk`, `py_root.txt` and `py_chain.txt`
      (a bundle `leaf~parent~root`) for `interop verify <dir>`.

It never works around a refusal: any failure ends the script with status 1 and
the reference's exception type and message.

Run it through `scripts/interop.sh`, which installs the reference in a venv.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from csp_agent_passport import (
    DelegationRequest,
    InMemoryKeyStore,
    IssuanceRequest,
    Issuer,
    OIDCAssertion,
    Passport,
    VerificationPolicy,
    VerifiedPassport,
    Verifier,
)
from joserfc.jwk import OKPKey, RSAKey

# Must match examples/interop.rs.
RUST_ISSUER = "https://issuer.local"
PY_ISSUER = "https://py-issuer.local"
AUDIENCE = "https://tool.example"
ACR = "http://idmanagement.gov/ns/assurance/ial/2"
RUST_PRINCIPAL = "alice"
RUST_AGENTS = ["rust-planner", "rust-researcher", "rust-reader"]  # root first
PY_PRINCIPAL = "bob"
PY_AGENTS = ["py-planner", "py-researcher", "py-reader"]  # root first

T = TypeVar("T")


class InteropFailure(Exception):
    """A step failed; the message says which and why."""


def step(name: str, action: Callable[[], T]) -> T:
    """Runs one step; any exception becomes an InteropFailure naming the step.

    Warnings raised by joserfc (e.g. its RFC 9864 deprecation notice for
    `alg: EdDSA`) are reported once as notes, not hidden and not fatal.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = action()
        except InteropFailure:
            raise
        except Exception as e:  # noqa: BLE001 - report whatever the reference raised
            raise InteropFailure(f"{name}: {type(e).__module__}.{type(e).__name__}: {e}") from e
    for message in sorted({f"{w.category.__name__}: {w.message}" for w in caught}):
        print(f"   note ({name}): joserfc warned {message}")
    return result


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise InteropFailure(what)


def split_bundle(text: str) -> list[str]:
    """A bundle `leaf~parent~...~root` (leaf first) as its tokens."""
    tokens = text.strip().split("~")
    expect(all(t.count(".") == 2 for t in tokens), "bundle: a passport is not a compact JWS")
    return tokens


def check_chain(verified: VerifiedPassport, principal: str, agents_root_first: Sequence[str]) -> None:
    """The reference's view of the chain: principal, agents, actor nesting, links."""
    links: list[Passport] = [*verified.chain, verified.passport]  # root first
    found = [p.agent.agent_id for p in links]
    expect(
        found == list(agents_root_first),
        f"agents: expected {list(agents_root_first)}, got {found}",
    )
    expect(
        all(p.sub == principal for p in links),
        f"sub: expected {principal!r} on every link, got {[p.sub for p in links]}",
    )
    for parent, child in zip(links, links[1:]):
        expect(child.agent.parent_jti == parent.jti, "parent_jti does not name the parent")
        expect(child.act.act == parent.act, "act is not the parent's act wrapped once")
    expect(links[0].agent.parent_jti is None, "the root names a parent")
    expect(links[0].act.sub == links[0].agent.agent_id and links[0].act.act is None, "root act")


def describe(verified: VerifiedPassport) -> str:
    links = [*verified.chain, verified.passport]
    leaf = verified.passport
    return (
        f"sub={leaf.sub} agents={' -> '.join(p.agent.agent_id for p in links)} "
        f"scope={leaf.agent.tool_scope} IAL{leaf.ial} AAL{leaf.aal} FAL{leaf.fal} "
        f"iss={leaf.iss} jti={leaf.jti}"
    )


def verify_rust(directory: Path) -> None:
    """(a) The reference's Verifier on Rust-minted passports."""
    jwk: dict[str, Any] = step(
        "read issuer_public.jwk", lambda: json.loads((directory / "issuer_public.jwk").read_text())
    )
    key = step("import the Rust Ed25519 JWK", lambda: OKPKey.import_key(jwk))
    kid = jwk.get("kid")
    thumbprint = key.thumbprint()
    expect(
        kid == thumbprint,
        f"the Rust kid {kid!r} is not joserfc's RFC 7638 thumbprint {thumbprint!r}",
    )
    print("OK python thumbprint of the rust key equals its kid")

    verifier = Verifier(
        VerificationPolicy(issuers=frozenset({RUST_ISSUER}), audience=AUDIENCE),
        InMemoryKeyStore({kid: key}),
    )

    root = (directory / "root.txt").read_text().strip()
    expect(len(split_bundle(root)) == 1, "root.txt is not a bundle of one")
    verified = step("python verifies the rust root", lambda: verifier.verify(root))
    check_chain(verified, RUST_PRINCIPAL, RUST_AGENTS[:1])
    print("OK python-verified rust root")
    print(f"   {describe(verified)}")

    # The Rust bundle is leaf first; the reference's `chain=` is root first.
    tokens = split_bundle((directory / "chain.txt").read_text())
    expect(len(tokens) == 3, f"chain.txt has {len(tokens)} passports, expected 3")
    leaf, ancestors = tokens[0], list(reversed(tokens[1:]))
    verified = step(
        "python verifies the rust chain", lambda: verifier.verify(leaf, chain=ancestors)
    )
    check_chain(verified, RUST_PRINCIPAL, RUST_AGENTS)
    print(f"OK python-verified rust chain ({len(verified.chain) + 1} links)")
    print(f"   {describe(verified)}")


class StubOIDCClient:
    """An `OIDCClient` that vouches for bob at IAL/AAL/FAL 2 (no network)."""

    def validate(self, id_token: str) -> OIDCAssertion:
        return OIDCAssertion(
            iss="https://py-idp.local",
            sub=PY_PRINCIPAL,
            aud="interop-client",
            acr=ACR,
            ial=2,
            aal=2,
            fal=2,
            raw_claims={"iss": "https://py-idp.local", "sub": PY_PRINCIPAL, "acr": ACR},
        )


def mint_python(directory: Path) -> None:
    """(b) The reference's own Issuer: a root and a 3-link chain, RS256."""
    signing_key = step("generate the RSA key", lambda: RSAKey.generate_key(2048))
    issuer = Issuer(PY_ISSUER, signing_key, StubOIDCClient())
    verifier = Verifier(
        VerificationPolicy(issuers=frozenset({PY_ISSUER}), audience=AUDIENCE),
        InMemoryKeyStore({issuer.kid: issuer.public_jwk}),
    )

    root = step(
        "python issues the root",
        lambda: issuer.issue(
            IssuanceRequest(
                id_token="stub-id-token",
                audience=AUDIENCE,
                agent_id=PY_AGENTS[0],
                agent_model="py-model-a",
                tool_scope=["files:*", "mail:send"],
            )
        ),
    )
    verified_root = step("python verifies its root", lambda: verifier.verify(root))
    child = step(
        "python delegates the child",
        lambda: issuer.delegate(
            DelegationRequest(
                parent=verified_root,
                audience=AUDIENCE,
                agent_id=PY_AGENTS[1],
                agent_model="py-model-b",
                tool_scope=["files:*"],
            )
        ),
    )
    verified_child = step(
        "python verifies its child", lambda: verifier.verify(child, chain=[root])
    )
    grandchild = step(
        "python delegates the grandchild",
        lambda: issuer.delegate(
            DelegationRequest(
                parent=verified_child,
                audience=AUDIENCE,
                agent_id=PY_AGENTS[2],
                agent_model="py-model-c",
                tool_scope=["files:read"],
            )
        ),
    )
    verified = step(
        "python verifies its chain", lambda: verifier.verify(grandchild, chain=[root, child])
    )
    check_chain(verified, PY_PRINCIPAL, PY_AGENTS)

    public = issuer.public_jwk.as_dict(private=False)
    public["kid"] = signing_key.thumbprint()
    expect("d" not in public, "the public JWK carries a private member")
    (directory / "py_public.jwk").write_text(json.dumps(public) + "\n")
    (directory / "py_root.txt").write_text(root + "\n")
    # A bundle, leaf first (SPEC §4).
    (directory / "py_chain.txt").write_text(f"{grandchild}~{child}~{root}\n")
    print(f"minted python root and 3-link chain (RS256, kid {issuer.kid}) in {directory}")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: interop.py <dir>", file=sys.stderr)
        return 2
    directory = Path(argv[1])
    try:
        verify_rust(directory)
        mint_python(directory)
    except InteropFailure as e:
        print(f"FAIL {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"FAIL {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
