// The dashboard in a real browser: Debian's Chromium driven by
// playwright-core (no browser download), through the reference's governance
// pipeline (issue 14). Started by scripts/browser.sh with the environment of
// the hermetic server (crates/server/examples/admin_dashboard.rs): SERVER_URL,
// DEV, TEST, PROD (the environments' audiences), AGENT_A_ID/SECRET,
// AGENT_B_ID/SECRET (two registered agent identities), ARTIFACTS.
//
// Each administrator has a browser context of its own (its own cookies):
// ada (identity admin, resource owner), april (approver), audrey (auditor),
// nobody (no role). The agents' calls are made from node with fetch.
//
// The steps run in order, each with its own time limit and a screenshot
// after it (ARTIFACTS/NN-name.png). Add a step by pushing to `steps`.
import { chromium } from "playwright-core";
import { randomUUID, webcrypto } from "node:crypto";
import { join } from "node:path";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const SERVER = env("SERVER_URL");
const ARTIFACTS = env("ARTIFACTS");
const DEV = env("DEV");
const TEST = env("TEST");
const PROD = env("PROD");
const A = { id: env("AGENT_A_ID"), secret: env("AGENT_A_SECRET") };
const B = { id: env("AGENT_B_ID"), secret: env("AGENT_B_SECRET") };
const STEP_TIMEOUT_MS = 30_000;
const JWT = "urn:ietf:params:oauth:token-type:jwt";

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const claimsOf = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());

/// An ES256 key and RFC 9449 proofs by it (Web Crypto: the signature is
/// r || s, as JWS wants).
async function dpopKey() {
  const key = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const { kty, crv, x, y } = await webcrypto.subtle.exportKey("jwk", key.publicKey);
  return async (htm, htu, nonce) => {
    const header = { typ: "dpop+jwt", alg: "ES256", jwk: { kty, crv, x, y } };
    const payload = { jti: randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000) };
    if (nonce) payload.nonce = nonce;
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    const sig = await webcrypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.privateKey, Buffer.from(input));
    return `${input}.${b64url(sig)}`;
  };
}

/// POSTs `form` to `path` as `agent` (HTTP Basic); with `prove`, a DPoP
/// proof (and a retry with the server's nonce if it asks for one).
async function post(path, agent, form, prove) {
  const url = `${SERVER}${path}`;
  let nonce;
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers = {
      authorization: `Basic ${Buffer.from(`${agent.id}:${agent.secret}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    };
    if (prove) headers.dpop = await prove("POST", url, nonce);
    const response = await fetch(url, {
      method: "POST",
      headers,
      body: new URLSearchParams(form),
      signal: AbortSignal.timeout(10_000),
    });
    const body = await response.json();
    if (prove && body.error === "use_dpop_nonce" && !nonce) {
      nonce = response.headers.get("dpop-nonce");
      continue;
    }
    return { status: response.status, body };
  }
  throw new Error("the DPoP nonce was refused twice");
}

/// A passport for `agent` to `resource` with `scope`: the token and its claims.
async function passport(agent, resource, scope, prove) {
  const r = await post("/token", agent, { grant_type: "client_credentials", resource, scope }, prove);
  check(r.status === 200, `/token for ${resource} answered ${r.status} ${JSON.stringify(r.body)}`);
  const claims = claimsOf(r.body.access_token);
  // the lifetime it was signed with (`expires_in` is counted when the
  // answer is written: a second less on a loaded machine)
  return { token: r.body.access_token, lifetime: claims.exp - claims.iat, claims };
}

async function introspect(agent, token) {
  const r = await post("/introspect", agent, { token });
  check(r.status === 200, `/introspect answered ${r.status}`);
  return r.body.active;
}

/// Logs in at the dashboard as `user` through the mock provider's page.
async function login(page, user) {
  await page.goto(`${SERVER}/admin`);
  // not logged in: sent to the login, then to the provider's user page
  await page.getByRole("heading", { name: "Mock provider: who logs in?" }).waitFor();
  await page.getByRole("button", { name: `Log in as ${user}` }).click();
}

/// A page of its own browser context (its own cookies), logged in as `user`.
async function administrator(user) {
  const context = await ctx.browser.newContext();
  const page = await context.newPage();
  await login(page, user);
  return page;
}

/// The registry row of `jti` on `page`.
const rowOf = (page, jti) => page.locator(`tr[data-jti="${jti}"]`);

const ctx = {};
const steps = [
  {
    // (1) dev and test passports issued, shown with their capped TTLs
    name: "dev-and-test-passports-issued",
    run: async () => {
      ctx.dev = await passport(A, DEV, "build:run");
      ctx.test = await passport(A, TEST, "test:run");
      check(ctx.dev.lifetime === 120 && ctx.test.lifetime === 90,
        `dev and test capped at 120 s and 90 s, not ${ctx.dev.lifetime} s and ${ctx.test.lifetime} s`);
      ctx.ada = await administrator("ada");
      await ctx.ada.getByRole("heading", { name: "Registry" }).waitFor();
      check((await ctx.ada.textContent("header")).includes("ada"), "logged in as ada");
      for (const [p, ttl] of [[ctx.dev, 120], [ctx.test, 90]]) {
        const row = rowOf(ctx.ada, p.claims.jti);
        await row.waitFor();
        check((await row.locator(".state").textContent()).trim() === "ACTIVE", `${p.claims.jti} ACTIVE`);
        check((await row.locator(".ttl-of").textContent()).trim() === `of ${ttl} s`, `${p.claims.jti} capped at ${ttl} s`);
        check(Number(await row.locator("progress.ttl").getAttribute("max")) === ttl, `the bar's maximum is ${ttl}`);
      }
      await ctx.ada.getByText("Live updates on.").waitFor();
      return ctx.ada;
    },
  },
  {
    name: "keyboard-reaches-the-navigation",
    run: async () => {
      await ctx.ada.keyboard.press("Tab");
      const focused = await ctx.ada.evaluate(() => document.activeElement?.textContent);
      check(focused === "Skip to the content", `the first Tab stop is the skip link, not ${focused}`);
      return ctx.ada;
    },
  },
  {
    // (2) prod blocked: authorization_pending, and the approval appears
    // live in an auditor's tab and on the approver's page
    name: "prod-blocked-until-approved",
    run: async () => {
      ctx.audrey = await administrator("audrey");
      await ctx.audrey.getByRole("heading", { name: "Registry" }).waitFor();
      await ctx.audrey.getByRole("link", { name: "Approvals" }).click();
      await ctx.audrey.getByRole("heading", { name: "Pending approvals" }).waitFor();
      await ctx.audrey.getByText("Live updates on.").waitFor();
      await ctx.audrey.evaluate(() => { window.__notReloaded = true; });
      const r = await post("/token", A, { grant_type: "client_credentials", resource: PROD, scope: "deploy:run" });
      check(r.status === 400 && r.body.error === "authorization_pending", `prod answered ${r.status} ${JSON.stringify(r.body)}`);
      check(r.body.error_description.startsWith("policy: environments.prod.approval:"), r.body.error_description);
      ctx.approval = r.body.approval_id;
      const live = ctx.audrey.locator(`tr[data-approval="${ctx.approval}"]`);
      await live.waitFor();
      check(await ctx.audrey.evaluate(() => window.__notReloaded === true), "the auditor's tab was not reloaded");
      check(await live.getByRole("button").count() === 0, "an auditor gets no decide buttons");
      // the approver logs in and lands on the approvals
      ctx.april = await administrator("april");
      await ctx.april.getByRole("heading", { name: "Pending approvals" }).waitFor();
      const row = ctx.april.locator(`tr[data-approval="${ctx.approval}"]`);
      await row.waitFor();
      const text = await row.textContent();
      for (const shown of [A.id, "prod", PROD, "deploy:run", "alice"]) check(text.includes(shown), `the approval shows ${shown}`);
      return ctx.april;
    },
  },
  {
    // (3) april (not the owner alice, not the requester) approves with a
    // mouse click; prod is issued and shows in the registry
    name: "approve-then-prod-issued",
    run: async () => {
      await ctx.april.bringToFront();
      const row = ctx.april.locator(`tr[data-approval="${ctx.approval}"]`);
      await row.getByRole("button", { name: new RegExp(`^Approve ${A.id} in prod`) }).click();
      await ctx.april.getByText(`Request ${ctx.approval} approved.`).waitFor();
      // the auditor's tab sees it leave the pending list, live
      await ctx.audrey.locator(`tr[data-approval="${ctx.approval}"]`).waitFor({ state: "detached" });
      ctx.prod = await passport(A, PROD, "deploy:run");
      check(ctx.prod.lifetime === 45, `prod capped at 45 s, not ${ctx.prod.lifetime}`);
      await ctx.ada.bringToFront();
      await ctx.ada.reload();
      const issued = rowOf(ctx.ada, ctx.prod.claims.jti);
      await issued.waitFor();
      check((await issued.locator(".ttl-of").textContent()).trim() === "of 45 s", "prod capped at 45 s in the registry");
      check((await issued.textContent()).includes(PROD), "the prod audience");
      return ctx.ada;
    },
  },
  {
    // (4) agent-to-agent handoff: A exchanges its dev passport naming B,
    // by B's own (DPoP-bound) passport as the RFC 8693 actor_token; the
    // child is B's, bound to B's key, under A's passport in the tree
    name: "agent-to-agent-handoff",
    run: async () => {
      const prove = await dpopKey();
      ctx.b = await passport(B, DEV, "build:run", prove);
      check(ctx.b.claims.cnf?.jkt, "B's own passport is bound to its key");
      const r = await post("/token", A, {
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        subject_token: ctx.dev.token,
        subject_token_type: JWT,
        actor_token: ctx.b.token,
        actor_token_type: JWT,
        resource: DEV,
        scope: "build:run",
      });
      check(r.status === 200, `the exchange answered ${r.status} ${JSON.stringify(r.body)}`);
      // a bundle: the leaf first, then its parent
      const [leaf, parent] = r.body.access_token.split("~");
      const child = claimsOf(leaf);
      check(claimsOf(parent).jti === ctx.dev.claims.jti, "the bundle carries A's passport as the parent");
      ctx.child = child.jti;
      check(child.cnf?.jkt === ctx.b.claims.cnf.jkt, "the child is bound to B's key");
      await ctx.ada.reload();
      const row = rowOf(ctx.ada, ctx.child);
      await row.waitFor();
      const lineage = row.locator("th.lineage");
      check(await lineage.evaluate((th) => th.classList.contains("depth-1")), "the child is nested one level");
      check((await lineage.textContent()).includes(`delegated (level 1) from ${ctx.dev.claims.jti}`), "the child names its parent");
      check((await row.textContent()).includes(B.id), "the child's agent is B");
      // the tree: the child follows its parent
      const order = await ctx.ada.locator("tr[data-jti]").evaluateAll((rows) => rows.map((r) => r.dataset.jti));
      check(order.indexOf(ctx.child) === order.indexOf(ctx.dev.claims.jti) + 1, "the child right under its parent");
      return ctx.ada;
    },
  },
  {
    // revoke by mouse in one tab; a second tab sees it live, never reloaded
    name: "revoke-through-the-form-updates-another-tab-live",
    run: async () => {
      const jti = ctx.b.claims.jti;
      ctx.watcher = await ctx.ada.context().newPage();
      await ctx.watcher.goto(`${SERVER}/admin`);
      await ctx.watcher.getByText("Live updates on.").waitFor();
      await ctx.watcher.evaluate(() => { window.__notReloaded = true; });
      await ctx.ada.bringToFront();
      // the skip link focused first (keyboard), then a mouse click: when
      // the focused skip link joined the page's flow, the press moved focus,
      // the layout shifted under the pointer, and the click was lost
      await ctx.ada.keyboard.press("Tab");
      check(await ctx.ada.evaluate(() => document.activeElement?.textContent) === "Skip to the content", "the skip link is focused");
      let posted = false;
      ctx.ada.on("request", (q) => { if (q.method() === "POST" && q.url().endsWith("/admin/passports/revoke")) posted = true; });
      await rowOf(ctx.ada, jti).getByRole("button", { name: `Revoke ${jti} and its descendants` }).click();
      await ctx.ada.getByText(`Revoked ${jti}`).waitFor();
      check(posted, "the mouse click posted the form");
      const watched = rowOf(ctx.watcher, jti);
      await watched.locator(".state").filter({ hasText: "REVOKED" }).waitFor();
      // its TTL bar stopped, saying why
      await watched.locator(".ttl-text").filter({ hasText: "stopped: revoked" }).waitFor();
      check(await watched.locator("[data-exp]").count() === 0, "the stopped bar no longer counts down");
      check(await ctx.watcher.evaluate(() => window.__notReloaded === true), "the watching tab was not reloaded");
      const shot = ctx.watcher;
      ctx.watcher = undefined;
      return shot;
    },
  },
  {
    // (5) the kill-switch engaged in the browser on agent A: its next call
    // is refused, its passports (and the child) are inactive, and the
    // auditor's live stream shows it
    name: "kill-switch-then-the-next-call-refused",
    run: async () => {
      await ctx.audrey.bringToFront();
      await ctx.audrey.getByRole("link", { name: "Audit" }).click();
      await ctx.audrey.getByRole("heading", { name: "Audit trail" }).waitFor();
      await ctx.audrey.getByText("Live updates on.").waitFor();
      await ctx.audrey.evaluate(() => { window.__notReloaded = true; });
      await ctx.ada.bringToFront();
      await ctx.ada.getByRole("link", { name: "Kill-switches" }).click();
      await ctx.ada.getByRole("heading", { name: "Kill-switches" }).waitFor();
      await ctx.ada.getByLabel("Kind").selectOption("agent");
      await ctx.ada.getByLabel("Subject").fill(A.id);
      await ctx.ada.getByLabel("Reason").fill("browser drill: agent A compromised");
      await ctx.ada.getByRole("button", { name: "Engage kill-switch" }).click();
      await ctx.ada.getByText(`Kill-switch engaged for agent ${A.id}`).waitFor();
      await ctx.ada.getByRole("button", { name: `Lift the kill-switch of agent ${A.id}` }).waitFor();
      const r = await post("/token", A, { grant_type: "client_credentials", resource: DEV, scope: "build:run" });
      check(r.status === 400 && r.body.error === "access_denied", `the next call answered ${r.status} ${JSON.stringify(r.body)}`);
      check(r.body.error_description === `kill-switch: agent ${A.id}`, r.body.error_description);
      for (const p of [ctx.dev, ctx.test, ctx.prod]) {
        check(await introspect(B, p.token) === false, `${p.claims.jti} is inactive`);
      }
      // the record arrives in the auditor's tab without a reload
      const record = ctx.audrey.locator('#audit-log li[data-action="kill_switch_engaged"]').filter({ hasText: A.id });
      await record.waitFor({ timeout: 10_000 }).catch(() => {
        throw new Error("no kill_switch_engaged record in the live audit stream");
      });
      check(await ctx.audrey.evaluate(() => window.__notReloaded === true), "the audit tab was not reloaded");
      return ctx.audrey;
    },
  },
  {
    name: "a-user-without-roles-gets-403",
    run: async () => {
      const context = await ctx.browser.newContext();
      const page = await context.newPage();
      let status = 0;
      page.on("response", (r) => { if (r.url().includes("/authorize/callback")) status = r.status(); });
      await login(page, "nobody");
      await page.getByText("hold no administrator role").waitFor();
      check(status === 403, `the callback answered ${status}`);
      const cookies = await context.cookies(SERVER);
      check(!cookies.some((c) => c.name === "passport-admin"), "no session cookie");
      return page;
    },
  },
];

async function main() {
  ctx.browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    timeout: 60_000,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  let failed = false;
  try {
    for (const [i, step] of steps.entries()) {
      const label = `${String(i + 1).padStart(2, "0")}-${step.name}`;
      let page;
      try {
        let timer;
        const limit = new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
        });
        page = await Promise.race([step.run(), limit]).finally(() => clearTimeout(timer));
        console.log(`ok   ${label}`);
      } catch (e) {
        failed = true;
        console.error(`FAIL ${label}: ${e.message}`);
        page = ctx.ada;
      }
      if (page) {
        await page.screenshot({ path: join(ARTIFACTS, `${label}.png`), fullPage: true, timeout: 10_000 }).catch(() => {});
      }
      if (failed) break;
    }
  } finally {
    await ctx.browser.close().catch(() => {});
  }
  if (failed) process.exit(1);
  console.log("browser tests passed");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
