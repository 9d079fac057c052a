// The admin UI in a real browser (Debian's Chromium driven by playwright-core), against a real
// tollgate in front of the mock provider. Run by tests/e2e/ui_browser.rs, which starts both and
// passes TOLLGATE_URL, TOLLGATE_MASTER_KEY, TOLLGATE_MODEL, TOLLGATE_CHROMIUM and
// TOLLGATE_UI_SHOTS (where each page's screenshot goes), and TOLLGATE_UI_E2E_DIR (where
// scripts/ui.sh installed this folder's package.json with its lockfile). Exits non-zero on the
// first failed step.
//
// The story: log in with the master key; create a team and, in it, a key with a budget whose
// alias is an HTML injection attempt (it must show as text); send chat requests with the key;
// see the spend in Usage and the requests in Logs (and one request's detail); block the key and
// see the next request refused; unblock it, log in with it and see only its own usage. Along the
// way: every page renders without a CSP violation or script error, deep links work, the layout
// holds at 390 px, keyboard-only login works, logout ends the session.
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const { chromium } = createRequire(join(must("TOLLGATE_UI_E2E_DIR"), "package.json"))("playwright-core");

const BASE = must("TOLLGATE_URL");
const MASTER = must("TOLLGATE_MASTER_KEY");
const MODEL = must("TOLLGATE_MODEL");
const SHOTS = must("TOLLGATE_UI_SHOTS");
const XSS = `<img src=x onerror="window.__xss=1">`;
const TEAM = "ui-e2e-team";
mkdirSync(SHOTS, { recursive: true });

function must(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

let step = "start";
const t0 = Date.now();
function log(msg) {
  step = msg;
  console.log(`[ui-e2e ${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
}
function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
}

async function chat(key, n = 1) {
  const statuses = [];
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${BASE}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: `hello ${i}` }] }),
    });
    await r.text();
    statuses.push(r.status);
  }
  return statuses;
}

async function admin(path, body) {
  const r = await fetch(`${BASE}${path}`, {
    method: body ? "POST" : "GET",
    headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${path}: ${r.status} ${text}`);
  return JSON.parse(text);
}

const browser = await chromium.launch({
  executablePath: must("TOLLGATE_CHROMIUM"),
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--disable-extensions"],
});
const problems = [];
async function newPage(width, height, storageState) {
  const context = await browser.newContext({ viewport: { width, height }, baseURL: BASE, storageState });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: BASE });
  const page = await context.newPage();
  // Generous: under `cargo test --workspace` the machine is busy with other e2e tests.
  page.setDefaultTimeout(20_000);
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // 4xx answers the UI expects (the session probe before login) are logged by Chromium as errors.
    if (m.type() === "error" && !/status of 40[13]/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return page;
}
async function noProblems(page, where) {
  const csp = await page.evaluate(() => window.__csp);
  check(csp.length === 0, `${where}: CSP violations ${JSON.stringify(csp)}`);
  check(problems.length === 0, `${where}: ${problems.join("; ")}`);
  check((await page.evaluate(() => window.__xss)) === undefined, `${where}: injected markup ran`);
}
async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}
async function heading(page, text) {
  await page.getByRole("heading", { level: 1, name: text }).waitFor();
}
async function goto(page, path, title) {
  await page.goto(path);
  await heading(page, title);
  check((await page.locator(".notice.error").count()) === 0, `${path}: ${await page.locator(".notice.error").allInnerTexts()}`);
}

try {
  log("the UI's page has the security headers");
  const r = await fetch(`${BASE}/ui/keys`);
  check(r.status === 200, `/ui/keys status ${r.status}`);
  const csp = r.headers.get("content-security-policy") ?? "";
  check(csp.includes("default-src 'self'") && !csp.includes("unsafe-inline"), `CSP: ${csp}`);
  check(r.headers.get("x-frame-options") === "DENY" && r.headers.get("x-content-type-options") === "nosniff", "security headers");

  const page = await newPage(1280, 900);
  log("log in with the master key, keyboard only");
  await page.goto("/ui/usage");
  await page.getByRole("heading", { name: "Tollgate admin" }).waitFor();
  await shot(page, "login");
  await page.keyboard.press("Tab");
  check((await page.evaluate(() => document.activeElement?.getAttribute("name"))) === "key", "first Tab stop is the key field");
  await page.keyboard.type("sk-wrong-key");
  await page.keyboard.press("Enter");
  await page.getByRole("alert").waitFor();
  await page.getByLabel("Key", { exact: true }).fill(MASTER);
  await page.keyboard.press("Enter");
  await heading(page, "Usage");
  await page.keyboard.press("Tab");
  check((await page.evaluate(() => document.activeElement?.textContent)) === "Skip to content", "first Tab stop in the app skips to the content");
  check((await page.evaluate(() => document.cookie)) === "", "the session cookie is HttpOnly (not visible to scripts)");
  check(
    (await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }))) === "{}{}",
    "nothing in web storage",
  );

  log("create a team");
  await goto(page, "/ui/teams", "Teams");
  await page.getByRole("button", { name: "Create team" }).click();
  const teamForm = page.getByRole("dialog");
  await teamForm.getByLabel("Alias").fill(TEAM);
  await teamForm.getByLabel("Team ID").fill(TEAM);
  await teamForm.getByLabel("Max budget (USD)").fill("50");
  await teamForm.getByRole("button", { name: "Create team" }).click();
  await page.getByRole("cell", { name: TEAM, exact: true }).first().waitFor();
  await page.getByRole("button", { name: `Details of ${TEAM}` }).click();
  await page.getByRole("heading", { name: `Team ${TEAM}: members and keys` }).waitFor();
  await page.getByLabel("User ID or email").fill("alice@example.com");
  await page.getByRole("button", { name: "Add member" }).click();
  await page.getByText("alice@example.com added as user.").waitFor();
  await shot(page, "teams");

  log("create a key with a budget (alias with markup in it) in the team");
  await goto(page, "/ui/keys", "Virtual keys");
  await page.getByRole("button", { name: "Create key" }).click();
  const keyForm = page.getByRole("dialog");
  await keyForm.getByLabel("Alias").fill(XSS);
  await keyForm.getByLabel("Models").fill(MODEL);
  await keyForm.getByLabel("Max budget (USD)").fill("1");
  await keyForm.getByLabel("Soft budget (USD)").fill("0.05");
  await keyForm.getByLabel("Budget resets every").fill("30d");
  await keyForm.getByLabel("Valid for").fill("30d");
  await keyForm.getByLabel("RPM limit").fill("100");
  await keyForm.getByLabel("Team").selectOption(TEAM);
  await keyForm.getByLabel("Metadata (JSON)").fill('{"owner": "ui-e2e"}');
  await keyForm.getByRole("button", { name: "Create key" }).click();
  await page.getByRole("heading", { name: "Your new key" }).waitFor();
  const secret = await page.locator("#new-secret").inputValue();
  check(/^sk-/.test(secret), `new key shown: ${secret.slice(0, 5)}`);
  await page.getByRole("button", { name: "Copy" }).click();
  await page.getByRole("button", { name: "Copied" }).waitFor();
  check((await page.evaluate(() => navigator.clipboard.readText())) === secret, "the copy button copies the key");
  await shot(page, "key-created");
  await page.getByRole("button", { name: "Done" }).click();
  const aliasCell = page.getByRole("cell", { name: XSS, exact: true });
  await aliasCell.waitFor();
  check((await page.locator("table img").count()) === 0, "the alias is text, not an <img>");
  await noProblems(page, "keys page");
  await shot(page, "keys");

  log("send chat requests with the key (and another key's, which the key's own view must not count)");
  const ok = await chat(secret, 3);
  check(ok.every((s) => s === 200), `chat statuses ${ok}`);
  const other = (await admin("/key/generate", { key_alias: "ui-e2e-other" })).key;
  check((await chat(other, 2)).every((s) => s === 200), "other key's chats");

  log("the spend shows in Usage");
  let seen = false;
  for (let i = 0; i < 40 && !seen; i++) {
    await goto(page, "/ui/usage?group_by=key", "Usage");
    await page.locator(".stat").first().waitFor();
    const requests = await page.locator(".stat", { hasText: "Requests" }).locator(".stat-value").innerText();
    seen = requests === "5" && (await page.getByRole("button", { name: new RegExp(XSS.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) }).count()) > 0;
    if (!seen) await page.waitForTimeout(500);
  }
  check(seen, "Usage shows 5 requests and the key in the top list");
  const spend = await page.locator(".stat", { hasText: "Spend" }).locator(".stat-value").innerText();
  check(spend !== "$0" && spend !== "—", `spend shown: ${spend}`);
  await shot(page, "usage");
  log("drill into the key: its budget lines");
  await page.getByRole("button", { name: new RegExp(XSS.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) }).click();
  await page.getByText("Spend in the period against the key's budget").waitFor();
  await page.locator(".budget.hard").waitFor();
  await page.locator(".budget.soft").waitFor();
  await shot(page, "usage-key");
  const csv = await page.evaluate(async (href) => (await fetch(href)).text(), await page.getByRole("link", { name: "Export CSV" }).first().getAttribute("href"));
  check(csv.startsWith("group,label,spend,requests"), `CSV export: ${csv.slice(0, 80)}`);

  log("the requests show in Logs, with their detail");
  await goto(page, "/ui/logs", "Logs");
  await page.getByRole("cell", { name: XSS, exact: true }).first().waitFor();
  check((await page.getByRole("cell", { name: XSS, exact: true }).count()) === 3, "three log rows of the key");
  await shot(page, "logs");
  await page.getByRole("button", { name: /^Detail of request/ }).first().click();
  await page.getByRole("heading", { name: "Request detail" }).waitFor();
  await page.getByRole("dialog").getByText(MODEL, { exact: true }).first().waitFor();
  await shot(page, "log-detail");
  await page.getByRole("button", { name: "Close" }).click();

  log("block the key: the next request is refused");
  await goto(page, "/ui/keys", "Virtual keys");
  await page.getByRole("button", { name: `Block ${XSS}` }).click();
  await page.getByRole("button", { name: `Unblock ${XSS}` }).waitFor();
  const refused = await chat(secret, 1);
  check(refused[0] === 401 || refused[0] === 403, `blocked key's request: ${refused}`);
  await page.getByRole("button", { name: `Unblock ${XSS}` }).click();
  await page.getByRole("button", { name: `Block ${XSS}` }).waitFor();

  log("regenerate another key (old secret refused, new one works), then delete it (confirmed)");
  await page.getByRole("button", { name: "Regenerate ui-e2e-other" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Regenerate" }).click();
  await page.getByRole("heading", { name: "Your new key" }).waitFor();
  const renewed = await page.locator("#new-secret").inputValue();
  check(renewed !== other && /^sk-/.test(renewed), "a new secret is shown");
  await page.getByRole("button", { name: "Done" }).click();
  check((await chat(other, 1))[0] === 401, "the old secret is refused");
  check((await chat(renewed, 1))[0] === 200, "the new secret works");
  await page.getByRole("button", { name: "Delete ui-e2e-other" }).click();
  await page.getByRole("dialog").getByText("This cannot be undone").waitFor();
  await page.keyboard.press("Escape");
  await page.getByRole("dialog").waitFor({ state: "detached" });
  check((await page.getByRole("button", { name: "Delete ui-e2e-other" }).count()) === 1, "Escape cancels the delete");
  await page.getByRole("button", { name: "Delete ui-e2e-other" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
  await page.getByText("ui-e2e-other deleted.").waitFor();
  // Gone from the list once it reloads.
  await page.getByRole("button", { name: "Delete ui-e2e-other" }).waitFor({ state: "detached" });
  check((await chat(renewed, 1))[0] === 401, "the deleted key is refused");

  log("the other pages render");
  for (const [path, title, name] of [
    ["/ui/users", "Users", "users"],
    ["/ui/organizations", "Organizations", "organizations"],
    ["/ui/end-users", "End users", "end-users"],
    ["/ui/budgets", "Budgets", "budgets"],
    ["/ui/models", "Models", "models"],
    ["/ui/settings", "Settings", "settings"],
  ]) {
    await goto(page, path, title);
    if (name === "models") await page.getByText(/healthy/).first().waitFor();
    if (name === "settings") {
      const cfg = await page.locator("pre.json").innerText();
      check(!cfg.includes(MASTER) && !cfg.includes("sk-upstream-secret"), "settings show no secret");
    }
    await shot(page, name);
  }
  await noProblems(page, "admin pages");

  log("390 px wide: no sideways scrolling of the page, the menu opens");
  // The same session (its HttpOnly cookie) in a phone-sized window.
  const phone = await newPage(390, 844, await page.context().storageState());
  await phone.goto("/ui/keys");
  await heading(phone, "Virtual keys");
  check((await phone.evaluate(() => document.documentElement.scrollWidth)) <= 390, "page fits 390 px");
  // Rows are cards at this width, still a table to assistive tech.
  // (its accessible name starts with the column label the CSS shows before it).
  await phone.getByRole("cell", { name: new RegExp(XSS.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "$") }).first().waitFor();
  await shot(phone, "keys-390");
  await phone.getByRole("button", { name: "Menu" }).click();
  await phone.getByRole("link", { name: "Usage" }).click();
  await heading(phone, "Usage");
  check((await phone.evaluate(() => document.documentElement.scrollWidth)) <= 390, "usage fits 390 px");
  await shot(phone, "usage-390");

  log("log out");
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("heading", { name: "Tollgate admin" }).waitFor();
  const after = await page.evaluate(async () => (await fetch("/key/list")).status);
  check(after === 401, `management API after logout: ${after}`);

  log("log in with the virtual key: its own usage only");
  await page.getByLabel("Key", { exact: true }).fill(secret);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { level: 1, name: `My key ${XSS}` }).waitFor();
  const mine = page.locator(".stat", { hasText: "Requests" }).locator(".stat-value");
  await mine.waitFor();
  // 3 answered requests, plus the one refused while the key was blocked if the log counts it as
  // a failure of this key; never the other key's 2.
  const failed = Number(await page.locator(".stat", { hasText: "Failed" }).locator(".stat-value").innerText());
  check(Number(await mine.innerText()) === 3 + failed && failed <= 1, `own requests: ${await mine.innerText()}, failed ${failed}`);
  check((await page.getByRole("link", { name: "Virtual keys" }).count()) === 0, "no admin pages for a key");
  const denied = await page.evaluate(async () => (await fetch("/team/list")).status);
  check(denied === 401 || denied === 403, `a key session cannot list teams: ${denied}`);
  await shot(page, "self");
  await page.getByRole("link", { name: "My requests" }).click();
  await heading(page, "My requests");
  await page.getByRole("cell", { name: XSS, exact: true }).first().waitFor();
  check((await page.getByRole("cell", { name: "ui-e2e-other", exact: true }).count()) === 0, "no other key's requests");
  await shot(page, "self-logs");
  await noProblems(page, "key session");
  log(`done: screenshots in ${SHOTS}`);
  await browser.close();
} catch (e) {
  console.error(`[ui-e2e] FAILED at "${step}": ${e.stack ?? e}`);
  if (problems.length) console.error(`[ui-e2e] browser problems: ${problems.join("; ")}`);
  try {
    for (const ctx of browser.contexts()) for (const p of ctx.pages()) await p.screenshot({ path: join(SHOTS, `failure-${Date.now()}.png`), fullPage: true });
  } catch {}
  await browser.close();
  process.exit(1);
}
