// The dashboard in a real browser: Debian's Chromium driven by
// playwright-core (no browser download). Started by scripts/browser.sh with
// the environment of the hermetic server (examples/admin_dashboard.rs):
// SERVER_URL, MOCK_URL, CLIENT_ID, CLIENT_SECRET, RESOURCE, ARTIFACTS.
//
// The steps run in order, each with its own time limit and a screenshot
// after it (ARTIFACTS/NN-name.png). Add a step by pushing to `steps`.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const SERVER = env("SERVER_URL");
const ARTIFACTS = env("ARTIFACTS");
const STEP_TIMEOUT_MS = 30_000;

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

async function mintPassport() {
  const auth = Buffer.from(`${env("CLIENT_ID")}:${env("CLIENT_SECRET")}`).toString("base64");
  const response = await fetch(`${SERVER}/token`, {
    method: "POST",
    headers: { authorization: `Basic ${auth}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", resource: env("RESOURCE"), scope: "tools:read" }),
    signal: AbortSignal.timeout(10_000),
  });
  check(response.status === 200, `/token answered ${response.status}`);
  const body = await response.json();
  const payload = JSON.parse(Buffer.from(body.access_token.split(".")[1], "base64url").toString());
  return payload.jti;
}

/// Logs in at the dashboard as `user` through the mock provider's page.
async function login(page, user) {
  await page.goto(`${SERVER}/admin`);
  // not logged in: sent to the login, then to the provider's user page
  await page.getByRole("heading", { name: "Mock provider: who logs in?" }).waitFor();
  await page.getByRole("button", { name: `Log in as ${user}` }).click();
}

const ctx = {};
const steps = [
  {
    name: "mint-a-passport-over-http",
    run: async () => {
      ctx.jti = await mintPassport();
      check(/^[\w-]+$/.test(ctx.jti), `a jti: ${ctx.jti}`);
    },
  },
  {
    name: "administrator-logs-in-and-sees-the-registry",
    run: async () => {
      ctx.page = await ctx.browser.newPage();
      await login(ctx.page, "ada");
      await ctx.page.getByRole("heading", { name: "Registry" }).waitFor();
      check((await ctx.page.textContent("header")).includes("ada"), "logged in as ada");
      const row = ctx.page.locator(`tr[data-jti="${ctx.jti}"]`);
      await row.waitFor();
      check((await row.locator(".state").textContent()).trim() === "ACTIVE", "the passport is ACTIVE");
      // the live stream is on
      await ctx.page.getByText("Live updates on.").waitFor();
      return ctx.page;
    },
  },
  {
    name: "keyboard-reaches-the-navigation",
    run: async () => {
      await ctx.page.keyboard.press("Tab");
      const focused = await ctx.page.evaluate(() => document.activeElement?.textContent);
      check(focused === "Skip to the content", `the first Tab stop is the skip link, not ${focused}`);
      return ctx.page;
    },
  },
  {
    name: "revoke-through-the-form-updates-another-tab-live",
    run: async () => {
      // a second tab on the registry, marked to prove it is never reloaded
      ctx.watcher = await ctx.browser.newPage();
      await ctx.watcher.goto(`${SERVER}/admin`);
      await ctx.watcher.getByText("Live updates on.").waitFor();
      await ctx.watcher.evaluate(() => { window.__notReloaded = true; });
      const row = ctx.page.locator(`tr[data-jti="${ctx.jti}"]`);
      // by keyboard: the button is focused and activated with Enter (a
      // synthetic mouse click on this background-tab page submitted
      // nothing in Chromium 156 with playwright-core 1.65)
      await ctx.page.bringToFront();
      await row.getByRole("button", { name: `Revoke ${ctx.jti} and its descendants` }).press("Enter");
      await ctx.page.getByText(`Revoked ${ctx.jti}`).waitFor();
      const watched = ctx.watcher.locator(`tr[data-jti="${ctx.jti}"] .state`);
      await watched.filter({ hasText: "REVOKED" }).waitFor();
      check(await ctx.watcher.evaluate(() => window.__notReloaded === true), "the watching tab was not reloaded");
      return ctx.watcher;
    },
  },
  {
    name: "a-user-without-roles-gets-403",
    run: async () => {
      // the administrator's tabs close and the browser forgets its cookies
      await ctx.watcher.close();
      await ctx.page.close();
      ctx.page = undefined;
      await ctx.browser.clearCookies();
      const page = await ctx.browser.newPage();
      let status = 0;
      page.on("response", (r) => { if (r.url().includes("/authorize/callback")) status = r.status(); });
      await login(page, "nobody");
      await page.getByText("hold no administrator role").waitFor();
      check(status === 403, `the callback answered ${status}`);
      const cookies = await ctx.browser.cookies(SERVER);
      check(!cookies.some((c) => c.name === "passport-admin"), "no session cookie");
      return page;
    },
  },
];

async function main() {
  const userDataDir = mkdtempSync(join(tmpdir(), "passport-chromium-"));
  // a fresh profile each run (playwright passes it as --user-data-dir)
  ctx.browser = await chromium.launchPersistentContext(userDataDir, {
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
        page = ctx.page;
      }
      if (page) {
        await page.screenshot({ path: join(ARTIFACTS, `${label}.png`), fullPage: true, timeout: 10_000 }).catch(() => {});
      }
      if (failed) break;
    }
  } finally {
    await ctx.browser.close().catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
  }
  if (failed) process.exit(1);
  console.log("browser tests passed");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
