// The app's flows in a real browser: Debian's Chromium driven by playwright-core.
// Each test starts from what a person does: it clicks, types and reads the page. The local
// runner is started once per run on a free loopback port with a fresh data directory; the
// Graph API stand-in inside it answers sends and posts signed statuses back.
//
// Run: infra/scripts/browser-tests.sh (installs Chromium and the npm packages, builds the runner).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = process.env.WHATATALK_LOCAL_BIN || path.join(ROOT, "target/debug/whatatalk-local");
const ARTIFACTS = process.env.WHATATALK_BROWSER_ARTIFACTS || path.join(ROOT, "target/browser-artifacts");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const APP_SECRET = "browser_tests_app_secret_0001";
const AXE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
// The stand-in's demo business (infra/src/standin/mod.rs).
const WABA = "102290129340398";
const NUMBER = "106540352242922";
const TOKEN = "EAAGstandindemotoken0001";
const PASSWORD = "correct horse battery staple";

let runner;
let base;
let browser;
let dataDir;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

// The installation under test: the built-in plans with payment links, and room for the
// 10,000-row import on the plan every new account starts on.
function plansJson() {
  const plans = JSON.parse(fs.readFileSync(path.join(ROOT, "config/plans.json"), "utf8"));
  for (const p of plans.plans) p.checkout_url = `https://pay.example.com/checkout/${p.id}`;
  plans.plans.find((p) => p.id === plans.default_plan).contacts = 50000;
  plans.portal_url = "https://pay.example.com/portal";
  return JSON.stringify(plans);
}

/** Starts the runner on `port` (again, for a restart) over the run's data directory. */
async function startRunner(port, env = {}) {
  const log = fs.openSync(path.join(ARTIFACTS, "whatatalk-local.log"), "a");
  runner = spawn(BIN, [], {
    env: {
      ...process.env,
      WHATATALK_ADDR: `127.0.0.1:${port}`,
      WHATATALK_DATA_DIR: dataDir,
      WHATATALK_APP_SECRET: APP_SECRET,
      WHATATALK_PLANS: plansJson(),
      // The webhooks flow's receiver listens on loopback.
      WHATATALK_WEBHOOKS_ALLOW_LOOPBACK: "1",
      RUST_LOG: process.env.RUST_LOG || "info",
      ...env,
    },
    stdio: ["ignore", log, log],
  });
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${base}/health`);
      if (r.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the runner did not start");
}

async function stopRunner() {
  if (!runner || runner.exitCode !== null) return;
  const exited = new Promise((r) => runner.once("exit", r));
  runner.kill("SIGINT");
  await exited;
}

let port;

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.rmSync(path.join(ARTIFACTS, "whatatalk-local.log"), { force: true });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "whatatalk-browser-"));
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  await startRunner(port);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  await stopRunner();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

let seq = 0;
function unique(prefix) {
  seq += 1;
  return `${prefix}${Date.now().toString(36)}${seq}`;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** axe-core on the page as it is: no serious or critical violation. */
async function accessible(page, name) {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(AXE);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } }),
  );
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
    [],
    `axe on ${name}`,
  );
}

async function signup(context, business) {
  const page = await context.newPage();
  page.on("dialog", () => assert.fail("a dialog opened"));
  await page.goto(`${base}/app/signup`);
  await page.getByLabel("Business name").fill(business);
  await page.getByLabel("Your name").fill("Olivia Owner");
  const email = `${unique("owner")}@example.com`;
  await page.getByLabel("Email").fill(email);
  await page.getByLabel(/^Password/).fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(`${base}/app/inbox`);
  return { page, email };
}

async function connectDemoNumber(page) {
  await page.getByRole("link", { name: "Numbers" }).click();
  await page.getByLabel("Phone number id").fill(NUMBER);
  await page.getByLabel("WhatsApp Business Account id").fill(WABA);
  await page.getByLabel("Access token").fill(TOKEN);
  await page.getByRole("button", { name: "Connect" }).click();
  await page.waitForURL(`${base}/app/numbers`);
  await assert.doesNotReject(page.getByText("+15550783881").first().waitFor());
}

/** Posts a webhook as Meta does: JSON signed with the app secret. */
async function webhook(payload) {
  const body = JSON.stringify(payload);
  const sig = createHmac("sha256", APP_SECRET).update(body).digest("hex");
  const r = await fetch(`${base}/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": `sha256=${sig}` },
    body,
  });
  assert.equal(r.status, 200, await r.text());
}

function inbound({ from, name, text, at }) {
  const ts = Math.floor((at ?? Date.now()) / 1000);
  return {
    object: "whatsapp_business_account",
    entry: [
      {
        id: WABA,
        changes: [
          {
            field: "messages",
            value: {
              messaging_product: "whatsapp",
              metadata: { display_phone_number: "15550783881", phone_number_id: NUMBER },
              contacts: [{ profile: { name }, wa_id: from }],
              messages: [{ from, id: `wamid.${unique("in")}`, timestamp: String(ts), type: "text", text: { body: text } }],
            },
          },
        ],
      },
    ],
  };
}

/** The Graph stand-in inside the runner (its address is in the runner's log). */
function standinUrl() {
  const log = fs.readFileSync(path.join(ARTIFACTS, "whatatalk-local.log"), "utf8");
  // The last one: a restarted runner has a new stand-in.
  return [...log.matchAll(/the stand-in at (http:\/\/\S+?)\/? /g)].at(-1)[1];
}

/** Counts full page loads, so a test can say something appeared without one. */
function countLoads(page) {
  const loads = { n: 0 };
  page.on("load", () => (loads.n += 1));
  return loads;
}

// One account holds the demo number for the whole run (a WABA belongs to one account).
let owner;

test("sign up, connect a number, an inbound message appears without a reload, reply, ticks reach read", async () => {
  const context = await browser.newContext();
  owner = await signup(context, "Bloom Florists");
  owner.state = await context.storageState();
  const page = owner.page;
  await accessible(page, "inbox (empty)");
  await shot(page, "01-inbox-empty");
  await connectDemoNumber(page);
  await accessible(page, "numbers");
  await shot(page, "02-numbers");
  await page.getByRole("link", { name: "Inbox" }).click();
  await page.waitForURL(`${base}/app/inbox`);
  await page.waitForLoadState("load");
  const loads = countLoads(page);
  await webhook(inbound({ from: "447911123456", name: "Ada Lovelace", text: "Do you deliver on Sundays?" }));
  const row = page.getByRole("link", { name: /Ada Lovelace/ });
  await row.waitFor({ timeout: 15000 });
  assert.equal(loads.n, 0, "the conversation appeared without a page load");
  await assert.doesNotReject(page.getByText("1 unread").or(page.locator(".badge", { hasText: "1" })).first().waitFor());
  await shot(page, "03-inbox-new-message");
  await row.click();
  await page.locator("#thread").getByText("Do you deliver on Sundays?").waitFor();
  await accessible(page, "thread");
  await page.getByRole("button", { name: /Mark as read/ }).click();
  await page.locator("#reply").fill("Yes, from 9 to 12.");
  await page.getByRole("button", { name: "Send", exact: true }).click();
  const reply = page.locator("li.message.outbound", { hasText: "Yes, from 9 to 12." });
  await reply.waitFor();
  const threadLoads = countLoads(page);
  await reply.locator('[data-status="read"]').waitFor({ timeout: 20000 });
  assert.equal(threadLoads.n, 0, "the ticks moved without a page load");
  await shot(page, "04-thread-read");
  await page.getByLabel(/^Internal note/).fill("Sunday deliveries need a driver: ask Sam.");
  await page.getByRole("button", { name: "Add note" }).click();
  await page.locator("#thread").getByText("Sunday deliveries need a driver").waitFor();
  await context.close();
});

test("the window closed: the composer offers templates, and free text is refused", async () => {
  assert.ok(owner, "the first test made the owner");
  const { context, page } = await asOwner();
  const twoDaysAgo = Date.now() - 48 * 3600 * 1000;
  await webhook(inbound({ from: "447911123457", name: "Brian Old", text: "Is my order ready?", at: twoDaysAgo }));
  await page.goto(`${base}/app/inbox`);
  await page.getByRole("link", { name: /Brian Old/ }).click();
  await page.locator("#thread").getByText("Is my order ready?").waitFor();
  await page.getByText(/The 24-hour window is closed/).waitFor();
  assert.equal(await page.locator("#reply").count(), 0, "no free-text box");
  await page.locator("summary", { hasText: "hello_world" }).click();
  await accessible(page, "thread (window closed)");
  await shot(page, "05-window-closed-templates");
  const sendHello = () =>
    page.locator("details", { hasText: "hello_world" }).getByRole("button", { name: "Send template" }).click();
  const contact = page.url().split("/app/inbox/")[1];
  // A template starts a conversation only with the contact's consent: the page says so.
  await sendHello();
  await page.getByRole("alert").getByText(/consent/).waitFor();
  // The owner records it through the API, with a key made on the keys page.
  await page.goto(`${base}/app/keys`);
  await page.getByLabel("Name").fill("crm");
  await page.getByRole("button", { name: "Create key" }).click();
  const key = await page.getByLabel("New API key").inputValue();
  await accessible(page, "keys (new key)");
  const patched = await fetch(`${base}/v1/contacts/${contact}`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ consent: { opted_in: true, source: "website", text: "Order updates by WhatsApp" } }),
  });
  assert.equal(patched.status, 200, await patched.text());
  await page.goto(`${base}/app/inbox/${contact}`);
  await page.locator("summary", { hasText: "hello_world" }).click();
  await sendHello();
  await page.locator("li.message.outbound", { hasText: "hello_world" }).waitFor();
  // The service refuses free text too, whatever the page offers.
  const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
  const r = await page.request.post(`${base}/app/inbox/${contact}/messages`, {
    form: { _csrf: csrf, text: "sneaky free text" },
    maxRedirects: 0,
  });
  assert.equal(r.status(), 422);
  assert.match(await r.text(), /last 24 hours; send a template/);
  await context.close();
});

/** A context signed in as the owner (the first test's session: logins are rate-limited). */
async function asOwner(options = {}) {
  const context = await browser.newContext({ ...options, storageState: owner.state });
  const page = await context.newPage();
  await page.goto(`${base}/app/inbox`);
  assert.equal(new URL(page.url()).pathname, "/app/inbox", "the owner's session holds");
  return { context, page };
}

async function login(page, email, password = PASSWORD) {
  await page.goto(`${base}/app/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(`${base}/app/inbox`);
}

test("an invited agent logs in, sees the inbox, and is refused billing and keys", async () => {
  assert.ok(owner, "the first test made the owner");
  const ownerContext = await browser.newContext();
  const ownerPage = await ownerContext.newPage();
  await login(ownerPage, owner.email);
  await ownerPage.getByRole("link", { name: "Users" }).click();
  const agentEmail = `${unique("agent")}@example.com`;
  await ownerPage.getByLabel("Email").fill(agentEmail);
  await ownerPage.getByLabel("Role").selectOption("agent");
  await ownerPage.getByRole("button", { name: "Create invitation link" }).click();
  const link = await ownerPage.getByLabel("Invitation link").inputValue();
  await accessible(ownerPage, "users");
  await shot(ownerPage, "06-users-invitation");

  const agentContext = await browser.newContext();
  const agent = await agentContext.newPage();
  await agent.goto(link);
  await accessible(agent, "join");
  await agent.getByLabel("Your name").fill("Sam Agent");
  await agent.getByLabel(/^Password/).fill(PASSWORD);
  await agent.getByRole("button", { name: "Join" }).click();
  await agent.waitForURL(`${base}/app/inbox`);
  await agent.getByRole("link", { name: /Ada Lovelace/ }).waitFor();
  assert.equal(await agent.getByRole("link", { name: "Billing" }).count(), 0, "no billing in the agent's menu");
  assert.equal((await agent.goto(`${base}/app/contacts`)).status(), 200, "agents use contacts");
  await agent.goto(`${base}/app/inbox`);
  for (const p of ["/app/billing", "/app/keys", "/app/users", "/app/numbers", "/app/templates", "/app/privacy", "/app/broadcasts", "/app/broadcasts/new", "/app/webhooks"]) {
    const r = await agent.goto(`${base}${p}`);
    assert.equal(r.status(), 403, p);
  }
  await agent.goto(`${base}/app/billing`);
  await accessible(agent, "403");
  await shot(agent, "07-agent-refused-billing");
  // The invitation worked once.
  const again = await agentContext.newPage();
  const r = await again.goto(link);
  assert.equal(r.status(), 404);

  // The agent signs out, then in again with the keyboard alone.
  await agent.goto(`${base}/app/inbox`);
  await agent.getByRole("button", { name: "Log out" }).click();
  await agent.waitForURL(`${base}/app/login`);
  await accessible(agent, "login");
  await shot(agent, "08-login");
  await agent.keyboard.press("Tab");
  await agent.keyboard.type(agentEmail);
  await agent.keyboard.press("Tab");
  await agent.keyboard.type(PASSWORD);
  await agent.keyboard.press("Enter");
  await agent.waitForURL(`${base}/app/inbox`);
  // …and replies with the keyboard alone: Tab to the conversation, Enter, Tab to the reply box.
  const target = agent.getByRole("link", { name: /Ada Lovelace/ });
  await target.focus();
  await agent.keyboard.press("Enter");
  await agent.waitForURL(/\/app\/inbox\/con_/);
  for (let i = 0; i < 40; i++) {
    const id = await agent.evaluate(() => document.activeElement?.id);
    if (id === "reply") break;
    await agent.keyboard.press("Tab");
  }
  assert.equal(await agent.evaluate(() => document.activeElement?.id), "reply", "Tab reaches the reply box");
  await agent.keyboard.type("Sam here: Sunday works.");
  await agent.keyboard.press("Enter");
  await agent.locator("li.message.outbound", { hasText: "Sam here: Sunday works." }).waitFor();
  await ownerContext.close();
  await agentContext.close();
});

test("another account's session gets 404 for a conversation, and a form without its CSRF token is refused", async () => {
  assert.ok(owner, "the first test made the owner");
  const ownerContext = await browser.newContext();
  const ownerPage = await ownerContext.newPage();
  await login(ownerPage, owner.email);
  await ownerPage.getByRole("link", { name: /Ada Lovelace/ }).click();
  const url = ownerPage.url();
  const contact = url.split("/app/inbox/")[1];

  const otherContext = await browser.newContext();
  const { page: other } = await signup(otherContext, "Other Bakery");
  const r = await other.goto(url);
  assert.equal(r.status(), 404);
  await accessible(other, "404");
  assert.equal(await other.getByText("Do you deliver on Sundays?").count(), 0);
  await other.goto(`${base}/app/inbox`);
  const otherCsrf = await other.locator('input[name="_csrf"]').first().inputValue();
  const post = await other.request.post(`${base}/app/inbox/${contact}/notes`, {
    form: { _csrf: otherCsrf, text: "mine now" },
    maxRedirects: 0,
  });
  assert.equal(post.status(), 404);

  // The owner's own form, posted without the token (as another site would).
  const forged = await ownerPage.request.post(`${base}/app/inbox/${contact}/notes`, {
    form: { text: "forged" },
    maxRedirects: 0,
  });
  assert.equal(forged.status(), 403);
  const wrong = await ownerPage.request.post(`${base}/app/inbox/${contact}/notes`, {
    form: { text: "forged", _csrf: "0".repeat(64) },
    maxRedirects: 0,
  });
  assert.equal(wrong.status(), 403);
  const crossSite = await ownerPage.request.post(`${base}/app/inbox/${contact}/notes`, {
    form: { text: "forged", _csrf: await ownerPage.locator('input[name="_csrf"]').first().inputValue() },
    headers: { origin: "https://evil.example" },
    maxRedirects: 0,
  });
  assert.equal(crossSite.status(), 403);
  await ownerPage.reload();
  assert.equal(await ownerPage.getByText("forged").count(), 0);
  await ownerContext.close();
  await otherContext.close();
});

test("an inbound photo shows in the thread, served only to its account", async () => {
  assert.ok(owner, "the first test made the owner");
  // The stand-in holds the file as Meta would; its address is in the runner's log.
  const standin = standinUrl();
  // A 2×2 PNG.
  const png = Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP4z8DwHwyBNBgwMDAwAABM3gT8sbpQmQAAAABJRU5ErkJggg==",
    "base64",
  );
  const put = await fetch(`${standin}/_standin/media/770001`, {
    method: "PUT",
    headers: { "content-type": "image/png" },
    body: png,
  });
  assert.ok(put.ok, `stand-in: ${put.status}`);
  const message = inbound({ from: "447911123459", name: "Piet Photo", text: "" });
  const m = message.entry[0].changes[0].value.messages[0];
  delete m.text;
  m.type = "image";
  m.image = { id: "770001", mime_type: "image/png", caption: "The bouquet I want" };
  await webhook(message);
  const { context, page } = await asOwner();
  await page.getByRole("link", { name: /Piet Photo/ }).click();
  await page.locator("#thread").getByText("The bouquet I want").waitFor();
  // The file is fetched by the media job; the thread shows it once stored.
  const img = page.locator("#thread img.media");
  for (let i = 0; i < 40 && !(await img.count()); i++) {
    await page.waitForTimeout(250);
    await page.reload();
  }
  await assert.doesNotReject(
    page.waitForFunction(() => {
      const i = document.querySelector("#thread img.media");
      return i && i.complete && i.naturalWidth === 2;
    }),
  );
  const src = await img.getAttribute("src");
  const other = await browser.newContext();
  const stranger = (await signup(other, "Nosy Ltd")).page;
  const r = await stranger.goto(`${base}${src}`);
  assert.equal(r.status(), 404);
  await other.close();
  await context.close();
});

test("a message that looks like markup shows as text and runs nothing", async () => {
  assert.ok(owner, "the first test made the owner");
  const { context, page } = await asOwner();
  let ran = false;
  page.on("dialog", async (d) => {
    ran = true;
    await d.dismiss();
  });
  const payload = "<img src=x onerror=alert(1)>";
  await webhook(inbound({ from: "447911123458", name: "<b>Mallory</b>", text: payload }));
  await page.getByRole("link", { name: /Mallory/ }).waitFor({ timeout: 15000 });
  await page.getByRole("link", { name: /Mallory/ }).click();
  await page.locator("#thread").getByText(payload, { exact: true }).waitFor();
  assert.equal(await page.locator('img[src="x"]').count(), 0, "no element was made from the text");
  assert.equal(await page.locator("b", { hasText: "Mallory" }).count(), 0);
  await page.waitForTimeout(3000);
  assert.equal(ran, false, "no script ran");
  const response = await page.request.get(page.url());
  assert.match(response.headers()["content-security-policy"], /script-src 'self'/);
  await shot(page, "09-markup-as-text");
  await accessible(page, "thread (markup)");
  await context.close();
});

test("contacts: create, find by phone, filter by tag, correct, opt out, delete with a receipt", async () => {
  assert.ok(owner, "the first test made the owner");
  const { context, page } = await asOwner();
  await page.getByRole("link", { name: "Contacts" }).click();
  await page.waitForURL(`${base}/app/contacts`);
  await accessible(page, "contacts");
  await page.locator("summary", { hasText: "New contact" }).click();
  // A bad phone is refused next to its field.
  await page.getByLabel("Name").fill("Grace Hopper");
  await page.getByLabel(/^Phone/).fill("12");
  await page.getByRole("button", { name: "Create contact" }).click();
  await page.locator("#f-phone[aria-invalid=true]").waitFor();
  await accessible(page, "contacts (a bad phone)");
  await page.getByLabel(/^Phone/).fill("+44 7911 123460");
  await page.getByLabel(/^Tags/).fill("vip, florist");
  await page.getByLabel(/Agreed to receive/).check();
  await page.getByLabel(/Where they agreed/).fill("shop counter");
  await page.getByRole("button", { name: "Create contact" }).click();
  await page.getByRole("heading", { name: "Grace Hopper" }).waitFor();
  await page.getByText("opted in (shop counter)").waitFor();
  await accessible(page, "contact");
  await shot(page, "10-contact");
  // Found by phone, and by tag.
  await page.goto(`${base}/app/contacts`);
  await page.getByLabel("Find by phone").fill("+447911123460");
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByRole("link", { name: "Grace Hopper" }).waitFor();
  await page.goto(`${base}/app/contacts?tag=florist`);
  assert.equal(await page.locator("table.contacts tbody tr").count(), 1);
  await shot(page, "11-contacts");
  // Corrected: a tag less, an opt-out recorded.
  await page.getByRole("link", { name: "Grace Hopper" }).click();
  await page.getByLabel(/^Tags/).fill("vip");
  await page.getByLabel("Opt-out").selectOption({ index: 1 });
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("opted out: asked in the app").waitFor();
  await page.locator("dd", { hasText: /^vip$/ }).waitFor();
  await page.goto(`${base}/app/contacts?tag=florist`);
  await page.getByText("No contact matches.").waitFor();
  // Deleted, with what went.
  await page.goto(`${base}/app/contacts?tag=vip`);
  await page.getByRole("link", { name: "Grace Hopper" }).click();
  await page.getByRole("button", { name: "Delete this contact" }).click();
  await page.getByRole("heading", { name: "Contact deleted" }).waitFor();
  await accessible(page, "contact deleted");
  await page.goto(`${base}/app/contacts?phone=%2B447911123460`);
  await page.getByText("No contact matches.").waitFor();
  await context.close();
});

test("privacy: what is held, an export downloaded and read, the audit log", async () => {
  assert.ok(owner, "the first test made the owner");
  const { context, page } = await asOwner({ acceptDownloads: true });
  await page.getByRole("link", { name: "Privacy" }).click();
  await page.waitForURL(`${base}/app/privacy`);
  await page.getByText("What we hold for you").waitFor();
  await accessible(page, "privacy");
  await shot(page, "12-privacy");
  assert.ok(await page.locator("table.audit").getByText("user logged in").first().isVisible());
  await page.getByRole("button", { name: "Request an export" }).click();
  await page.waitForURL(/\/app\/privacy\/exports\/exp_/);
  // The page follows the job by itself.
  await page.getByRole("button", { name: "Download the export" }).waitFor({ timeout: 30000 });
  await accessible(page, "export");
  await shot(page, "25-export-ready");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Download the export" }).click(),
  ]);
  const file = await download.path();
  const lines = fs.readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines[0].format, "whatatalk.export");
  const of = (kind) => lines.filter((l) => l.record === kind).map((l) => l.data);
  assert.equal(of("account")[0].email, owner.email);
  assert.ok(of("user").some((u) => u.email === owner.email && u.role === "owner"));
  assert.ok(of("contact").some((c) => c.name === "Ada Lovelace"));
  assert.ok(of("message").some((m) => m.content?.text?.body === "Yes, from 9 to 12."));
  assert.ok(of("note").some((n) => n.text.startsWith("Sunday deliveries")));
  assert.ok(!JSON.stringify(lines).includes("$argon2"), "no password hash");
  assert.equal(lines.at(-1).record, "manifest");
  await context.close();
});

test("closing the account from the page: typed confirmation, a receipt, then no login", async () => {
  const context = await browser.newContext();
  const { page, email } = await signup(context, "Short Lived Ltd");
  await page.getByRole("link", { name: "Privacy" }).click();
  await page.getByLabel("Type DELETE to confirm").fill("delete");
  await page.getByRole("button", { name: "Close the account" }).click();
  await page.getByRole("alert").getByText(/Type DELETE/).waitFor();
  await page.getByLabel("Type DELETE to confirm").fill("DELETE");
  await page.getByRole("button", { name: "Close the account" }).click();
  await page.getByRole("heading", { name: "Your account is closing" }).waitFor();
  const receipt = await page.getByLabel("Deletion receipt").inputValue();
  assert.match(receipt, /^\/v1\/deletion-receipts\/[0-9a-f]{64}$/);
  await accessible(page, "account closing");
  await shot(page, "13-account-closing");
  const r = await page.goto(`${base}/app/inbox`);
  assert.equal(new URL(r.url()).pathname, "/app/login", "signed out");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByText("The email or the password is wrong.").waitFor();
  await context.close();
});

test("templates: the synced list, a sync, a new template with its preview, a bad name refused", async () => {
  assert.ok(owner, "the first test made the owner");
  const { context, page } = await asOwner();
  await page.getByRole("link", { name: "Templates" }).click();
  await page.waitForURL(`${base}/app/templates`);
  await page.locator("table.templates").getByText("hello_world").waitFor();
  await page.getByRole("button", { name: "Sync from Meta now" }).click();
  await page.getByRole("status").getByText(/^Synced: \d+ templates/).waitFor();
  await page.getByLabel(/^Name/).fill("Bad Name");
  await page.getByLabel(/^Language code/).fill("en_GB");
  await page.getByLabel(/^Body/).fill("Hi {{1}}, your order {{2}} is ready to collect.");
  await page.getByLabel(/^Header/).fill("Your order");
  await page.getByLabel(/^Footer/).fill("Bloom Florists");
  await page.getByLabel(/^Quick replies/).fill("On my way\nPlease deliver");
  await page.getByRole("button", { name: "Submit to Meta for review" }).click();
  await page.locator("#f-name[aria-invalid=true]").waitFor();
  // Drawn as WhatsApp shows it: the header bold, the body, the footer, the buttons.
  const preview = page.locator("form .bubble");
  await preview.locator(".header", { hasText: "Your order" }).waitFor();
  await preview.locator(".text", { hasText: "Hi [1], your order [2] is ready to collect." }).waitFor();
  await preview.locator(".footer", { hasText: "Bloom Florists" }).waitFor();
  assert.deepEqual(await preview.locator("ul.buttons li").allInnerTexts(), ["On my way", "Please deliver"]);
  await accessible(page, "templates (a bad name)");
  await page.getByLabel(/^Name/).fill("order_ready");
  await page.getByRole("button", { name: "Submit to Meta for review" }).click();
  await page.waitForURL(`${base}/app/templates`);
  const row = page.locator("table.templates tr", { hasText: "order_ready" });
  await row.waitFor();
  assert.match(await row.innerText(), /utility/);
  assert.deepEqual(await row.locator(".bubble ul.buttons li").allInnerTexts(), ["On my way", "Please deliver"]);
  await row.locator(".bubble .footer", { hasText: "Bloom Florists" }).waitFor();
  await accessible(page, "templates");
  await shot(page, "14-templates");
  // Meta approves it (the stand-in posts the status webhook); the list follows.
  const id = await row.locator("code.template-id").innerText();
  const approved = await fetch(`${standinUrl()}/_standin/templates/${id}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ status: "APPROVED" }),
  });
  assert.ok(approved.ok, `stand-in: ${approved.status}`);
  for (let i = 0; i < 40 && !/approved/.test(await row.innerText()); i++) {
    await page.waitForTimeout(250);
    await page.reload();
  }
  assert.match(await row.innerText(), /approved/);
  await context.close();
});

test("a broadcast built in the wizard reaches the stand-in with each contact's values", async () => {
  assert.ok(owner, "the first test made the owner");
  const { context, page } = await asOwner();
  // Two regulars who agreed, one who did not.
  for (const [name, phone, consent] of [
    ["Hedy Lamarr", "+447911123461", true],
    ["Alan Turing", "+447911123462", true],
    ["No Consent", "+447911123463", false],
  ]) {
    await page.goto(`${base}/app/contacts`);
    await page.locator("summary", { hasText: "New contact" }).click();
    await page.getByLabel("Name").fill(name);
    await page.getByLabel(/^Phone/).fill(phone);
    await page.getByLabel(/^Tags/).fill("regulars");
    if (consent) await page.getByLabel(/Agreed to receive/).check();
    await page.getByRole("button", { name: "Create contact" }).click();
    await page.getByRole("heading", { name }).waitFor();
  }
  await page.getByRole("link", { name: "Broadcasts" }).click();
  await page.getByRole("link", { name: "New broadcast" }).click();
  await page.getByLabel("Template").selectOption({ label: "order_ready (en_GB, utility)" });
  await page.getByLabel(/^Contacts with any of these tags/).fill("regulars");
  await page.getByRole("button", { name: "Next" }).click();
  // {{1}} from each contact's name; {{2}} the same for everyone.
  await page.locator("#w-field-1").selectOption("name");
  await page.locator("#w-text-1").fill("friend");
  await page.locator("#w-field-2").selectOption("");
  await page.locator("#w-text-2").fill("A-1");
  // The preview follows the fields, for a sample contact who agreed.
  await page.locator(".bubble", { hasText: /^Hi (Hedy Lamarr|Alan Turing), your order A-1 is ready to collect\.$/ }).waitFor();
  await page.getByRole("status").getByText(/2 contacts will get it; 1 without consent/).waitFor();
  await accessible(page, "broadcast wizard");
  await shot(page, "16-broadcast-wizard");
  await page.getByRole("button", { name: "Send the broadcast" }).click();
  await page.waitForURL(/\/app\/broadcasts\/brd_/);
  await page.getByText(/Status: completed/).waitFor({ timeout: 30000 });
  await page.locator("dd", { hasText: /^2$/ }).first().waitFor();
  await accessible(page, "broadcast");
  await shot(page, "17-broadcast-progress");
  // What Meta got: each contact's own name.
  const requests = await (await fetch(`${standinUrl()}/_standin/requests`)).json();
  const sent = (Array.isArray(requests) ? requests : requests.requests ?? [])
    .map((r) => r.body ?? r)
    .filter((b) => b?.template?.name === "order_ready");
  const byTo = Object.fromEntries(sent.map((b) => [b.to, b.template.components[0].parameters.map((p) => p.text)]));
  assert.deepEqual(byTo["447911123461"], ["Hedy Lamarr", "A-1"]);
  assert.deepEqual(byTo["447911123462"], ["Alan Turing", "A-1"]);
  assert.equal(byTo["447911123463"], undefined, "no consent, no message");
  // Every recipient, as CSV.
  const csv = await page.request.get(`${page.url()}/recipients.csv`);
  assert.equal(csv.status(), 200);
  const rows = (await csv.text()).trim().split("\n");
  assert.equal(rows.length, 4, rows.join("\n"));
  assert.ok(rows.some((r) => r.includes("skipped_no_consent")));

  // One for tomorrow: paused, resumed, canceled from its page.
  await page.goto(`${base}/app/broadcasts/new?tags=regulars`);
  await page.getByLabel("Template").selectOption({ label: "order_ready (en_GB, utility)" });
  await page.getByRole("button", { name: "Next" }).click();
  await page.locator("#w-text-1").fill("friend");
  await page.locator("#w-text-2").fill("B-2");
  const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 16);
  await page.getByLabel(/^Send at/).fill(tomorrow);
  await page.getByRole("button", { name: "Send the broadcast" }).click();
  await page.getByText(/Status: scheduled/).waitFor();
  for (const [button, status] of [["Pause", "paused"], ["Resume", "scheduled"], ["Cancel", "canceled"]]) {
    await page.getByRole("button", { name: button, exact: true }).click();
    await page.getByText(new RegExp(`Status: ${status}`)).waitFor();
  }
  assert.equal(await page.getByRole("button", { name: "Resume", exact: true }).count(), 0);
  await context.close();
});

test("numbers: Meta's messaging limit and a quality flag show, and a new token is taken", async () => {
  assert.ok(owner, "the first test made the owner");
  const waba = (field, value) => ({
    object: "whatsapp_business_account",
    entry: [{ id: WABA, time: Math.floor(Date.now() / 1000), changes: [{ field, value }] }],
  });
  await webhook(waba("business_capability_update", { max_daily_conversations_per_business: 2000 }));
  await webhook(
    waba("phone_number_quality_update", {
      display_phone_number: "15550783881",
      event: "FLAGGED",
      current_limit: "TIER_2K",
    }),
  );
  const { context, page } = await asOwner();
  await page.goto(`${base}/app/numbers`);
  await page.getByText(/^2000 people a day/).waitFor();
  await page.getByText(/^flagged, limit TIER_2K/).waitFor();
  await page.getByText(/Recipients are blocking or reporting/).waitFor();
  await accessible(page, "numbers (health)");
  await shot(page, "18-numbers-health");
  await page.getByLabel("Replace the access token").fill(TOKEN);
  await page.getByRole("button", { name: "Save the new token" }).click();
  await page.waitForURL(`${base}/app/numbers`);
  await page.getByText("allowed", { exact: true }).waitFor();
  await context.close();
});

test("every page passes axe-core: password, keys, billing", async () => {
  assert.ok(owner, "the first test made the owner");
  const { context, page } = await asOwner();
  for (const [p, name] of [
    ["/app/password", "password"],
    ["/app/keys", "keys"],
    ["/app/billing", "billing"],
    ["/app/inbox?filter=mine", "inbox mine"],
    ["/app/inbox?filter=unassigned", "inbox unassigned"],
  ]) {
    const r = await page.goto(`${base}${p}`);
    assert.equal(r.status(), 200, p);
    await accessible(page, name);
  }
  // Keys: the last active one stays until another exists; then it goes.
  await page.goto(`${base}/app/keys`);
  await page.getByRole("button", { name: "Revoke crm" }).click();
  await page.getByRole("alert").getByText(/last active key/).waitFor();
  await page.getByLabel("Name").fill("crm2");
  await page.getByRole("button", { name: "Create key" }).click();
  await page.getByLabel("New API key").waitFor();
  await shot(page, "24-keys-new");
  await page.getByRole("button", { name: "Revoke crm", exact: true }).click();
  await page.waitForURL(`${base}/app/keys`);
  assert.match(await page.locator("li", { hasText: "crm ·" }).first().innerText(), /revoked/);
  // At phone width the inbox, a thread and a form fit without sideways scrolling.
  await page.setViewportSize({ width: 360, height: 740 });
  for (const p of ["/app/inbox", "/app/contacts", "/app/broadcasts/new?tags=regulars", "/app/privacy"]) {
    await page.goto(`${base}${p}`);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 360, `${p} is ${wide}px wide at 360`);
  }
  await page.goto(`${base}/app/inbox`);
  await page.getByRole("link", { name: /Ada Lovelace/ }).click();
  assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 360, "a thread at 360px");
  await shot(page, "19-phone-thread");
  await page.setViewportSize({ width: 1280, height: 720 });
  // This month's usage as a chart drawn on the server, and the same figures as a table.
  await page.goto(`${base}/app/billing`);
  const chart = page.getByRole("img", { name: /messages priced by Meta/ });
  await chart.waitFor();
  assert.ok((await chart.locator("rect").count()) >= 1, "a bar for today");
  assert.ok((await page.locator("table.usage tbody tr").count()) >= 1);
  await shot(page, "15-billing");
  await page.goto(`${base}/app/signup`);
  await accessible(page, "signup (signed in)");
  await context.close();
  const anonymous = await browser.newContext();
  const signupPage = await anonymous.newPage();
  await signupPage.goto(`${base}/app/signup`);
  await accessible(signupPage, "signup");
  await shot(signupPage, "00-signup");
  await anonymous.close();
});

test("contacts: a 10,000-row CSV uploaded from the page, both progress bars to 100 %, the error report read line by line", async () => {
  assert.ok(owner, "the first test made the owner");
  const { context, page } = await asOwner({ acceptDownloads: true });
  // Every 97th row has a phone that is not one; every 89th a consent that is not yes or no.
  const lines = ["phone,name,tags,attr.city"];
  const expected = [];
  for (let i = 0; i < 10000; i++) {
    const row = i + 2; // the header is row 1
    let phone = `+4479${String(10000000 + i).padStart(8, "0")}`;
    if (i % 97 === 5) {
      phone = `not-a-phone-${i}`;
      expected.push([row, "phone"]);
    }
    lines.push(`${phone},Customer ${i},bulk,Leeds`);
  }
  await page.goto(`${base}/app/contacts`);
  await page.getByRole("link", { name: "Import contacts from a CSV file" }).click();
  await page.waitForURL(`${base}/app/contacts/imports`);
  await accessible(page, "imports (none yet)");
  // What the upload bar shows, as the page sets it.
  const shown = [];
  await page.exposeFunction("uploadShown", (v) => shown.push(v));
  await page.evaluate(() => {
    const bar = document.querySelector("#upload-bar");
    // eslint-disable-next-line no-undef
    new MutationObserver(() => uploadShown(Number(bar.value))).observe(bar, { attributes: true });
  });
  await page.getByLabel("CSV file").setInputFiles({
    name: "contacts.csv",
    mimeType: "text/csv",
    buffer: Buffer.from(lines.join("\n") + "\n"),
  });
  await page.getByRole("button", { name: "Upload and import" }).click();
  await page.waitForURL(/\/app\/contacts\/imports\/imp_/);
  assert.equal(Math.max(...shown), 100, `upload bar: ${shown.join(",")}`);
  // The import's own page follows the job by itself.
  await page.getByRole("status").getByText("done").waitFor({ timeout: 60000 });
  assert.equal(await page.locator("#import-bar").getAttribute("value"), "1000");
  assert.equal(await page.locator("#import-percent").innerText(), "100 %");
  const count = async (label) => Number(await page.locator("dt", { hasText: label }).locator("+ dd").innerText());
  assert.equal(await count("Rows read"), 10000);
  assert.equal(await count("Rejected"), expected.length);
  assert.equal(await count("Created"), 10000 - expected.length);
  await accessible(page, "import (done)");
  await shot(page, "20-import-done");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: /Download the rejected rows/ }).click(),
  ]);
  const report = fs.readFileSync(await download.path(), "utf8").trim().split("\n");
  assert.equal(report[0], "row,column,reason");
  assert.equal(report.length - 1, expected.length);
  report.slice(1).forEach((line, n) => {
    const [row, column, ...reason] = line.split(",");
    assert.deepEqual([Number(row), column], expected[n], line);
    assert.ok(reason.join(",").trim().length > 0, `a reason on ${line}`);
  });
  // The list shows it; an imported contact has its attribute.
  await page.goto(`${base}/app/contacts/imports`);
  await page.locator("table.imports").getByText("done").waitFor();
  await shot(page, "21-imports");
  await page.goto(`${base}/app/contacts?phone=%2B447910000000`);
  await page.getByRole("link", { name: "Customer 0" }).click();
  await page.locator("dt", { hasText: "city" }).waitFor();
  // The attribute editor: one changed, one added, then one removed.
  await page.getByLabel("Attribute 1 value").fill("York");
  await page.getByLabel("Attribute 2 name").fill("loyalty");
  await page.getByLabel("Attribute 2 value").fill("gold");
  await page.getByRole("button", { name: "Save" }).click();
  await page.locator("dd", { hasText: /^York$/ }).waitFor();
  await page.locator("dd", { hasText: /^gold$/ }).waitFor();
  await accessible(page, "contact (attributes)");
  await page.getByLabel("Attribute 1 value").fill("");
  await page.getByRole("button", { name: "Save" }).click();
  await page.locator("dd", { hasText: /^gold$/ }).waitFor();
  assert.equal(await page.locator("dt", { hasText: "city" }).count(), 0);
  await context.close();
});

test("billing: each plan's checkout carries the account, the portal is one click away", async () => {
  assert.ok(owner, "the first test made the owner");
  const { context, page } = await asOwner();
  await page.goto(`${base}/app/billing`);
  const choose = page.getByRole("link", { name: "Choose Starter" });
  const href = new URL(await choose.getAttribute("href"));
  assert.equal(`${href.origin}${href.pathname}`, "https://pay.example.com/checkout/starter");
  assert.match(href.searchParams.get("client_reference_id"), /^acc_/);
  assert.equal(
    await page.getByRole("link", { name: "Manage payment method and invoices" }).getAttribute("href"),
    "https://pay.example.com/portal",
  );
  assert.ok(await page.locator("table.plans").getByText("Your plan").isVisible());
  await accessible(page, "billing (plans)");
  await context.close();
});

test("webhooks: an endpoint added from the page gets a signed test event; its log shows the attempt", async () => {
  assert.ok(owner, "the first test made the owner");
  // A receiver on loopback that keeps what it gets.
  const got = [];
  const http = await import("node:http");
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      got.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/crm`;
  const { context, page } = await asOwner();
  await page.getByRole("link", { name: "Webhooks" }).click();
  await page.waitForURL(`${base}/app/webhooks`);
  await accessible(page, "webhooks (none yet)");
  // Nothing ticked: refused next to the events.
  await page.getByLabel(/^URL/).fill(url);
  await page.getByRole("button", { name: "Add endpoint" }).click();
  await page.locator("fieldset.events .error").waitFor();
  await page.getByLabel("contact.created").check();
  await page.getByLabel("message.received").check();
  await page.getByRole("button", { name: "Add endpoint" }).click();
  const secret = await page.getByLabel("Signing secret").inputValue();
  assert.match(secret, /^whsec_/);
  await accessible(page, "webhooks (secret shown once)");
  await shot(page, "26-webhooks");
  await page.getByRole("link", { name: url }).click();
  await page.getByRole("button", { name: "Send a test event" }).click();
  // The page follows the delivery by itself.
  await page.locator("#deliveries").getByText(/HTTP 204/).waitFor({ timeout: 15000 });
  const test = got.find((r) => JSON.parse(r.body).type === "endpoint.test");
  assert.ok(test, "the receiver got the test event");
  // Signed as Standard Webhooks says: HMAC-SHA256 of id.timestamp.body under the secret.
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const signed = `${test.headers["webhook-id"]}.${test.headers["webhook-timestamp"]}.${test.body}`;
  const expected = `v1,${createHmac("sha256", key).update(signed).digest("base64")}`;
  assert.equal(test.headers["webhook-signature"], expected);
  await accessible(page, "webhook endpoint");
  await shot(page, "27-webhook-deliveries");
  // A contact made on the contacts page reaches it too.
  await page.goto(`${base}/app/contacts`);
  await page.locator("summary", { hasText: "New contact" }).click();
  await page.getByLabel("Name").fill("Katherine Johnson");
  await page.getByLabel(/^Phone/).fill("+447911123470");
  await page.getByRole("button", { name: "Create contact" }).click();
  await page.getByRole("heading", { name: "Katherine Johnson" }).waitFor();
  for (let i = 0; i < 100 && !got.some((r) => JSON.parse(r.body).type === "contact.created"); i++) {
    await page.waitForTimeout(100);
  }
  const created = got.map((r) => JSON.parse(r.body)).find((e) => e.type === "contact.created");
  assert.equal(created?.data?.name, "Katherine Johnson");
  // Disabled from its page: no more events.
  await page.goto(`${base}/app/webhooks`);
  await page.getByRole("link", { name: url }).click();
  await page.getByRole("button", { name: "Disable" }).click();
  await page.getByText("disabled: by you").waitFor();
  await context.close();
  server.close();
});

test("a changed privacy policy: a banner on every page until an owner accepts it", async () => {
  assert.ok(owner, "the first test made the owner");
  // The operator publishes a new version: the runner restarts with it over the same data.
  await stopRunner();
  await startRunner(port, { WHATATALK_POLICY_VERSION: "2026-12-06" });
  const { context, page } = await asOwner();
  await page.goto(`${base}/app/contacts`);
  const banner = page.getByRole("complementary", { name: "Privacy policy" });
  await banner.getByText(/changed \(version 2026-12-06\)/).waitFor();
  await accessible(page, "contacts (policy banner)");
  await shot(page, "22-policy-banner");
  await banner.getByRole("link", { name: "Read what changed" }).click();
  await page.waitForURL(`${base}/app/privacy/policy`);
  await page.getByText("Version 2026-12-06", { exact: true }).waitFor();
  assert.equal(await page.getByRole("complementary", { name: "Privacy policy" }).count(), 0, "no banner on the policy itself");
  await page.getByRole("heading", { name: "Who else sees it" }).waitFor();
  await accessible(page, "privacy policy");
  await page.getByRole("button", { name: "Accept version 2026-12-06 for the account" }).click();
  await page.waitForURL(`${base}/app/privacy/policy`);
  await page.getByText(/accepted for this account on/).waitFor();
  await shot(page, "23-privacy-policy");
  await page.goto(`${base}/app/inbox`);
  assert.equal(await page.getByRole("complementary", { name: "Privacy policy" }).count(), 0);
  await page.goto(`${base}/app/privacy`);
  assert.ok(await page.locator("table.audit").getByText("policy accepted").first().isVisible());
  await context.close();
});

test("nothing personal reached the runner's log in all these flows", async () => {
  // Last in the file, so it runs last: names, emails, phones, message text and passwords typed
  // or received above appear nowhere in what the runner logged.
  const log = fs.readFileSync(path.join(ARTIFACTS, "whatatalk-local.log"), "utf8");
  assert.ok(log.length > 0, "the runner logged");
  for (const secret of [
    "Ada Lovelace", "Olivia Owner", "Do you deliver on Sundays?", "Yes, from 9 to 12.",
    "447911123456", "+447911123456", "@example.com", PASSWORD, "Sunday deliveries", "Hedy Lamarr",
    "The bouquet I want", "onerror", "Katherine Johnson",
  ]) {
    assert.ok(!log.includes(secret), `the log holds ${secret}`);
  }
});
