// Browser test of the Control UI in real headless Chromium (Debian /usr/bin/chromium),
// driven by playwright-core. Started by tests/it/control_ui.rs::browser_control_ui_end_to_end,
// which runs the real gateway, a fake node and a forwarding proxy, and fails if this exits
// non-zero. Screenshots of every step (and of a failure) go to $UI_SCREENSHOTS.
//
// Env: PLAYWRIGHT_DIR (dir holding node_modules/playwright-core), UI_URL (the page, direct on
// loopback), UI_REMOTE_URL (the page through a trusted proxy that adds X-Forwarded-For),
// UI_REMOTE_IP (the address that proxy claims), UI_TOKEN, UI_NODE_ID and UI_SCREENSHOTS. The
// page restarts the gateway itself (the Health tab's Restart button).

import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import path from "node:path";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing env ${k}`);
  return v;
};
const require = createRequire(path.join(env("PLAYWRIGHT_DIR"), "package.json"));
const { chromium } = require("playwright-core");

const URL_LOCAL = env("UI_URL");
const URL_REMOTE = env("UI_REMOTE_URL");
const REMOTE_IP = env("UI_REMOTE_IP");
const TOKEN = env("UI_TOKEN");
const SHOTS = env("UI_SCREENSHOTS");
// "full" (default): everything below; "tailscale": UI_REMOTE_URL is the gateway's Tailscale
// Serve listener behind a fake tailscaled proxy that adds a tailnet identity.
const MODE = process.env.UI_MODE || "full";
const NODE_ID = MODE === "full" ? env("UI_NODE_ID") : "";
// "exec": an agent's shell command waits for approval; UI_EXEC_COMMAND is its text.
const EXEC_COMMAND = MODE === "exec" ? env("UI_EXEC_COMMAND") : "";
const STEP_TIMEOUT = 20000;
// The page's own <script> elements (ed25519.js and app.js); one more means markup ran.
const PAGE_SCRIPTS = 2;
mkdirSync(SHOTS, { recursive: true });

const consoleErrors = [];
let step = "start";
const pages = [];
// Every dialog a page opened. confirm() prompts are accepted (as a person clicking OK); an
// alert() is never expected: one would mean page content (e.g. an agent file holding
// <script>alert(1)</script>) ran as script.
const dialogs = [];
// What the next prompt() dialogs answer, in order (as a person typing it and clicking OK).
const promptAnswers = [];

function watch(page, label) {
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // While the gateway is deliberately down for the restart step, the page's reconnect
    // attempts are refused and Chromium logs each one; nothing else is tolerated.
    if (step === "gateway restart" && /WebSocket connection to .* failed/.test(m.text())) return;
    // Chromium's note that the gateway's Cross-Origin-Opener-Policy has no effect on a plain
    // HTTP page by a non-local name (it applies from trustworthy origins only).
    if (MODE === "plainhttp" && /Cross-Origin-Opener-Policy header has been ignored/.test(m.text())) return;
    consoleErrors.push(`[${label}] console: ${m.text()}`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`[${label}] pageerror: ${e.message}`));
  page.on("dialog", async (d) => {
    dialogs.push({ label, type: d.type(), message: d.message() });
    if (d.type() === "alert") {
      consoleErrors.push(`[${label}] unexpected alert(): ${d.message()}`);
      await d.dismiss().catch(() => {});
    } else if (d.type() === "prompt") {
      await d.accept(promptAnswers.length ? promptAnswers.shift() : d.defaultValue()).catch(() => {});
    } else {
      await d.accept().catch(() => {});
    }
  });
  page.on("requestfailed", (r) => {
    // A WebSocket the gateway closes is not a failed request; anything else is.
    if (r.resourceType() !== "websocket") consoleErrors.push(`[${label}] request failed: ${r.url()} ${r.failure() && r.failure().errorText}`);
  });
  pages.push([label, page]);
}
async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}
function log(msg) { process.stdout.write(`ui.mjs: ${msg}\n`); }
async function expectText(locator, re, what) {
  await locator.waitFor({ state: "visible", timeout: STEP_TIMEOUT });
  const deadline = Date.now() + STEP_TIMEOUT;
  let last = "";
  while (Date.now() < deadline) {
    last = (await locator.textContent()) || "";
    if (re.test(last)) return last;
    await locator.page().waitForTimeout(100);
  }
  throw new Error(`${what}: expected ${re} but found ${JSON.stringify(last)}`);
}
// Waits for an input's / textarea's value to match `want` (a RegExp, or the exact text).
async function expectValue(page, selector, want, what) {
  const deadline = Date.now() + STEP_TIMEOUT;
  let last = "";
  while (Date.now() < deadline) {
    last = await page.inputValue(selector).catch(() => "");
    if (typeof want === "string" ? last === want : want.test(last)) return last;
    await page.waitForTimeout(100);
  }
  throw new Error(`${what}: expected ${typeof want === "string" ? JSON.stringify(want) : want} but found ${JSON.stringify(last)}`);
}
function noAlerts() {
  const alerts = dialogs.filter((d) => d.type === "alert");
  if (alerts.length) throw new Error(`alert() dialogs fired: ${JSON.stringify(alerts)}`);
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
    // A name for loopback that is not "localhost": a page loaded by it is plain HTTP to a
    // non-local name, so not a secure context (no WebCrypto), as on a LAN address.
    "--host-resolver-rules=MAP lan.test 127.0.0.1"],
});
let failed = null;
async function fullFlow() {
  // ---- the local browser (direct loopback: silently paired) ----
  const local = await (await browser.newContext({ viewport: { width: 1100, height: 800 } })).newPage();
  watch(local, "local");
  step = "load";
  const resp = await local.goto(URL_LOCAL, { waitUntil: "load" });
  if (!resp || resp.status() !== 200) throw new Error(`page answered ${resp && resp.status()}`);
  const csp = resp.headers()["content-security-policy"] || "";
  if (!csp.includes("default-src 'none'") || !csp.includes("script-src 'self'")) throw new Error(`weak CSP: ${csp}`);
  await local.locator("#login").waitFor({ state: "visible", timeout: STEP_TIMEOUT });
  await shot(local, "01-login");

  step = "wrong token";
  await local.fill("#secret", "not-the-token");
  await local.click("#connect");
  await expectText(local.locator("#login-error"), /Token mismatch/, "wrong-token error");
  if (await local.locator("#app").isVisible()) throw new Error("app shown after a wrong token");
  await shot(local, "02-wrong-token");

  step = "sign in";
  await local.fill("#secret", TOKEN);
  await local.click("#connect");
  await local.locator('#conn-state[data-state="connected"]').waitFor({ timeout: STEP_TIMEOUT });
  await local.locator("#app").waitFor({ state: "visible", timeout: STEP_TIMEOUT });
  const stored = await local.evaluate(() => localStorage.getItem("openclaw.controlUi.auth"));
  if (stored !== null) throw new Error(`secret stored without "remember": ${stored}`);
  await shot(local, "03-signed-in");

  step = "chat";
  // Record what the reply bubble showed while the run was still streaming (delta events).
  await local.evaluate(() => {
    window.__streamed = [];
    new MutationObserver(() => {
      for (const li of document.querySelectorAll("#messages li.msg.assistant.streaming")) {
        if (li.textContent) window.__streamed.push(li.textContent);
      }
    }).observe(document.getElementById("messages"), { subtree: true, childList: true, characterData: true, attributes: true });
  });
  // `/nodes` goes to the (embedded command) agent, whose run is recorded in the transcript;
  // `/help` would be answered by the gateway itself and leave no history.
  await local.fill("#chat-input", "/nodes");
  await local.click("#chat-send");
  await expectText(local.locator("#messages li.msg.user").last(), /^\/nodes$/, "user bubble");
  const reply = local.locator('#messages li.msg.assistant[data-state="final"]').last();
  await expectText(reply, /^Gateway OK\./, "streamed reply");
  const streamed = await local.evaluate(() => window.__streamed);
  if (!streamed.some((t) => t.includes("Gateway OK"))) throw new Error(`no streamed (delta) text was shown before the final reply: ${JSON.stringify(streamed)}`);
  await shot(local, "04-chat");

  step = "attach an image";
  // A 1×1 PNG through the Attach button's file input: sent as chat.send attachments; the test
  // finds it under media/inbound afterwards. A file that is no image is refused by name.
  const PNG = Buffer.from(env("UI_PNG_B64"), "base64");
  await local.setInputFiles("#chat-file", { name: "dot.png", mimeType: "image/png", buffer: PNG });
  await expectText(local.locator("#chat-attached"), /Attached: dot\.png/, "attached list");
  await local.fill("#chat-input", "what is this?");
  await local.click("#chat-send");
  await expectText(local.locator("#messages li.msg.user").last(), /what is this\?\s*\[image\] dot\.png/, "user bubble with its attachment");
  await local.locator('#messages li.msg.assistant[data-state="final"]').nth(1).waitFor({ timeout: STEP_TIMEOUT });
  if (!(await local.locator("#chat-attached").isHidden())) throw new Error("the attached list was not cleared after sending");
  await local.setInputFiles("#chat-file", { name: "fake.png", mimeType: "image/png", buffer: Buffer.from("not an image at all") });
  await local.click("#chat-send");
  await expectText(local.locator("#messages li.msg.assistant.failed").last(), /Not sent: .*fake\.png.*only images/, "refused attachment");
  await shot(local, "04b-attachment");

  step = "approve the node's commands";
  await local.click('.tabs button[data-tab="approvals"]');
  const nodeReq = local.locator('#pending-nodes li[data-kind="node"]').first();
  await expectText(nodeReq, /system\.which/, "pending node commands");
  await nodeReq.locator("button.ok").click();
  await local.locator('#pending-nodes li[data-kind="node"]').first().waitFor({ state: "detached", timeout: STEP_TIMEOUT });

  step = "nodes list and invoke";
  await local.click('.tabs button[data-tab="nodes"]');
  const row = local.locator(`#nodes-body tr[data-node="${NODE_ID}"]`);
  await expectText(row, /connected[\s\S]*system\.which/, "node row");
  await local.selectOption("#invoke-node", NODE_ID);
  await local.selectOption("#invoke-command", "system.which");
  await local.fill("#invoke-params", '{"bins": ["sh"]}');
  await local.click("#invoke-run");
  await local.locator('#invoke-result[data-state="ok"]').waitFor({ timeout: STEP_TIMEOUT });
  const result = JSON.parse(await local.locator("#invoke-result").textContent());
  if (result.command !== "system.which" || JSON.stringify(result.echo) !== '{"bins":["sh"]}') {
    throw new Error(`unexpected invoke result ${JSON.stringify(result)}`);
  }
  await shot(local, "05-nodes-invoke");

  step = "agent files";
  // The workspace files every run's prompt carries (agents.files.*): listed, opened, edited
  // and saved. The content is markup-bearing text; it must stay text.
  const PIRATE = "Speak like a pirate. 🏴‍☠️ <script>alert(1)</script>";
  await local.click("#tab-agent");
  await expectText(local.locator("#agent-workspace"), /\/workspace$/, "the workspace path");
  const files = local.locator("#agent-files");
  await expectText(files, /SOUL\.md/, "the file list");
  for (const name of ["AGENTS.md", "SOUL.md", "IDENTITY.md", "USER.md", "MEMORY.md"]) {
    await files.locator(`button[data-name="${name}"]`).waitFor({ timeout: STEP_TIMEOUT });
  }
  await expectText(files.locator('button[data-name="MEMORY.md"]'), /not created yet/, "MEMORY.md (not seeded)");
  await expectText(files.locator('button[data-name="SOUL.md"]'), /\d+(\.\d)? (B|KB)/, "SOUL.md's size");
  if (await local.locator("#agent-overwrite").isVisible()) throw new Error("Overwrite offered before any conflict");
  await files.locator('button[data-name="SOUL.md"]').click();
  await expectValue(local, "#agent-editor", /SOUL\.md/, "the seeded SOUL.md template");
  await local.fill("#agent-editor", PIRATE);
  await expectText(local.locator("#agent-status"), /Unsaved edits/, "the unsaved-edits hint");
  await local.click("#agent-save");
  await expectText(local.locator("#agent-status"), /^Saved SOUL\.md\.$/, "saved");
  await expectText(files.locator('button[data-name="SOUL.md"]'), new RegExp(`${Buffer.byteLength(PIRATE)} B`), "SOUL.md's new size");
  if ((await local.inputValue("#agent-editor")) !== PIRATE) throw new Error("the editor lost the saved text");
  const scripts = await local.evaluate(() => document.querySelectorAll("script").length);
  if (scripts !== PAGE_SCRIPTS) throw new Error(`the file's <script> became an element (${scripts} scripts)`);
  noAlerts();
  await shot(local, "09-agent-files");

  step = "agent files: unsaved edits";
  // Leaving a file (or the tab) with unsaved edits asks first; accepted, the edits are gone.
  const confirmsBefore = dialogs.filter((d) => d.type === "confirm").length;
  await local.fill("#agent-editor", PIRATE + "\nnot saved");
  await local.click('.tabs button[data-tab="health"]');
  await local.locator('.panel[data-panel="health"]').waitFor({ state: "visible", timeout: STEP_TIMEOUT });
  await local.click("#tab-agent");
  await expectValue(local, "#agent-editor", PIRATE, "SOUL.md as saved, after leaving the tab");
  await local.fill("#agent-editor", PIRATE + "\nnot saved either");
  await files.locator('button[data-name="USER.md"]').click();
  await expectValue(local, "#agent-editor", /USER\.md/, "the seeded USER.md template");
  const asked = dialogs.filter((d) => d.type === "confirm").slice(confirmsBefore);
  if (asked.length !== 2 || !asked.every((d) => /SOUL\.md has unsaved edits/.test(d.message))) {
    throw new Error(`expected two "unsaved edits" prompts, got ${JSON.stringify(asked)}`);
  }

  step = "agent files: conflict";
  // USER.md edited here while another tab (the same browser, signed in again) saves it
  // first: this save is refused as a conflict, then Overwrite replaces the other version.
  const MINE = "# USER.md\n\nName: Ada (saved from the first tab, over the second's)\n";
  const THEIRS = "# USER.md\n\nName: Grace (saved from the second tab)\n";
  await local.fill("#agent-editor", MINE);
  const other = await local.context().newPage();
  watch(other, "other");
  await other.goto(URL_LOCAL, { waitUntil: "load" });
  await other.fill("#secret", TOKEN);
  await other.click("#connect");
  await other.locator('#conn-state[data-state="connected"]').waitFor({ timeout: STEP_TIMEOUT });
  await other.click("#tab-agent");
  await other.locator('#agent-files button[data-name="USER.md"]').click();
  await expectValue(other, "#agent-editor", /USER\.md/, "USER.md in the second tab");
  await other.fill("#agent-editor", THEIRS);
  await other.click("#agent-save");
  await expectText(other.locator("#agent-status"), /^Saved USER\.md\.$/, "saved from the second tab");
  await other.close();
  await local.click("#agent-save");
  await expectText(local.locator("#agent-status"),
    /^USER\.md changed on disk since you opened it: reload to see the new version, or save again to overwrite\.$/, "the conflict");
  if (!(await local.locator("#agent-reload").isVisible()) || !(await local.locator("#agent-overwrite").isVisible())) {
    throw new Error("the conflict offers no Reload / Overwrite");
  }
  if ((await local.inputValue("#agent-editor")) !== MINE) throw new Error("the conflict lost the edits");
  await shot(local, "09b-agent-conflict");
  await local.click("#agent-overwrite");
  await expectText(local.locator("#agent-status"), /^Saved USER\.md\.$/, "overwritten");
  await local.locator("#agent-overwrite").waitFor({ state: "hidden", timeout: STEP_TIMEOUT });
  noAlerts();

  // ---- a "remote" browser: through the trusted proxy, so it must be approved ----
  step = "remote pairing";
  const remote = await (await browser.newContext({ viewport: { width: 420, height: 800 } })).newPage();
  watch(remote, "remote");
  await remote.goto(URL_REMOTE, { waitUntil: "load" });
  await remote.fill("#secret", TOKEN);
  await remote.check("#remember");
  await remote.click("#connect");
  const pairText = await expectText(remote.locator("#banner"), /Pairing required[\s\S]*openclaw devices approve [0-9a-f-]+/, "pairing banner");
  const requestId = pairText.match(/openclaw devices approve ([0-9a-f-]+)/)[1];
  if (await remote.locator("#app").isVisible()) throw new Error("remote app shown before approval");
  await shot(remote, "06-remote-pairing-required");

  step = "approve the remote device";
  await local.click('.tabs button[data-tab="approvals"]');
  await local.click('[data-refresh="approvals"]');
  const devReq = local.locator(`#pending-devices li[data-request-id="${requestId}"]`);
  const reqText = await expectText(devReq, new RegExp(`from ${REMOTE_IP.replace(/\./g, "\\.")}`), "pending remote device");
  const remotePrefix = reqText.match(/device ([0-9a-f]{12})/)[1];
  await shot(local, "07-pending-device");
  await devReq.locator("button.ok").click();
  await devReq.waitFor({ state: "detached", timeout: STEP_TIMEOUT });
  await remote.locator('#conn-state[data-state="connected"]').waitFor({ timeout: STEP_TIMEOUT });
  await remote.locator("#app").waitFor({ state: "visible", timeout: STEP_TIMEOUT });
  const remembered = await remote.evaluate(() => localStorage.getItem("openclaw.controlUi.auth"));
  if (!remembered || !remembered.includes(TOKEN)) throw new Error("ticked 'remember' but nothing was stored");
  await shot(remote, "08-remote-approved");

  step = "rename a paired device";
  // The list shows the approved device; Rename asks for a name (prompt) and the gateway
  // keeps it (device.pair.rename); markup in a name stays text.
  await local.click('[data-refresh="approvals"]');
  const pairedLi = local.locator(`#paired-devices li[data-device-id^="${remotePrefix}"]`);
  await pairedLi.waitFor({ timeout: STEP_TIMEOUT });
  promptAnswers.push("Hall <b>tablet</b>");
  await pairedLi.locator("button.rename").click();
  await expectText(pairedLi.locator(".device-name"), /^Hall <b>tablet<\/b>$/, "renamed device");
  if (await pairedLi.locator(".device-name b").count()) throw new Error("a device name was rendered as markup");

  step = "reject a device";
  const stranger = await (await browser.newContext()).newPage();
  watch(stranger, "stranger");
  await stranger.goto(URL_REMOTE, { waitUntil: "load" });
  await stranger.fill("#secret", TOKEN);
  await stranger.click("#connect");
  const strangerText = await expectText(stranger.locator("#banner"), /openclaw devices approve [0-9a-f-]+/, "stranger pairing banner");
  const strangerReq = strangerText.match(/openclaw devices approve ([0-9a-f-]+)/)[1];
  await local.click('[data-refresh="approvals"]');
  const strangerLi = local.locator(`#pending-devices li[data-request-id="${strangerReq}"]`);
  await strangerLi.locator("button.bad").click();
  await strangerLi.waitFor({ state: "detached", timeout: STEP_TIMEOUT });
  if (await stranger.locator("#app").isVisible()) throw new Error("rejected browser got in");
  await stranger.close();

  step = "sessions and history";
  await local.click('.tabs button[data-tab="sessions"]');
  await local.click('[data-refresh="sessions"]');
  const sessionRow = local.locator('#sessions-body tr[data-session="agent:main:main"]');
  await sessionRow.waitFor({ timeout: STEP_TIMEOUT });
  await local.evaluate(() => document.getElementById("messages").replaceChildren());
  await sessionRow.locator("button.open").click();
  await expectText(local.locator("#messages li.msg.user").first(), /^\/nodes$/, "history: user message");
  await expectText(local.locator("#messages li.msg.assistant").first(), /^Gateway OK\./, "history: reply");
  if ((await local.inputValue("#session-key")) !== "agent:main:main") throw new Error("session key not set from the list");
  await shot(local, "09-history");

  step = "search past conversations";
  await local.click('.tabs button[data-tab="sessions"]');
  await local.fill("#session-search", "gateway OK");
  await local.click('#session-search-form button[type="submit"]');
  const hit = local.locator('#session-search-results li[data-session="agent:main:main"]').first();
  await expectText(hit.locator(".snippet"), /Gateway OK/, "a search hit");
  await expectText(local.locator("#session-search-status"), /message\(s\), newest first/, "the search status");
  await shot(local, "09b-search");
  await local.fill("#session-search", "zzqqxx nothing");
  await local.click('#session-search-form button[type="submit"]');
  await expectText(local.locator("#session-search-status"), /^Nothing found/, "no hit");
  await local.fill("#session-search", "gateway OK");
  await local.click('#session-search-form button[type="submit"]');
  await local.evaluate(() => document.getElementById("messages").replaceChildren());
  await local.locator('#session-search-results li[data-session="agent:main:main"] button.open').first().click();
  await expectText(local.locator("#messages li.msg.assistant").first(), /^Gateway OK\./, "the hit's session opened");

  step = "reset and delete sessions";
  // confirm() prompts: accepted, as a person clicking OK (the dialog handler in watch()).
  await local.click('.tabs button[data-tab="chat"]');
  await local.fill("#session-key", "agent:main:scratch");
  await local.fill("#chat-input", "/nodes");
  await local.click("#chat-send");
  await expectText(local.locator('#messages li.msg.assistant[data-state="final"]').last(), /^Gateway OK\./, "reply in the scratch session");
  await local.click('.tabs button[data-tab="sessions"]');
  await local.click('[data-refresh="sessions"]');
  const scratchRow = local.locator('#sessions-body tr[data-session="agent:main:scratch"]');
  await scratchRow.waitFor({ timeout: STEP_TIMEOUT });
  const mainRow = local.locator('#sessions-body tr[data-session="agent:main:main"]');
  if (!(await mainRow.locator("button.delete").isDisabled())) throw new Error("the main session offered Delete");
  const oldId = await mainRow.getAttribute("data-session-id");
  if (!oldId) throw new Error("no session id on the main row");
  await mainRow.locator("button.reset").click();
  await expectText(local.locator("#banner"), /Session agent:main:main reset\./, "reset banner");
  await local.waitForFunction((old) => {
    const row = document.querySelector('#sessions-body tr[data-session="agent:main:main"]');
    return row && row.dataset.sessionId && row.dataset.sessionId !== old;
  }, oldId, { timeout: STEP_TIMEOUT });
  await scratchRow.locator("button.delete").click();
  await expectText(local.locator("#banner"), /Session agent:main:scratch deleted\. Transcript archived: \S+\.jsonl\.deleted\.\d+/, "delete banner");
  await scratchRow.waitFor({ state: "detached", timeout: STEP_TIMEOUT });
  await shot(local, "09a-sessions-reset-delete");

  step = "scheduled jobs";
  await local.click('.tabs button[data-tab="cron"]');
  await expectText(local.locator("#cron-body"), /No scheduled jobs/, "empty schedule");
  await local.fill("#cron-name", "nightly nodes");
  await local.selectOption("#cron-kind", "every");
  await local.fill("#cron-when", "1h");
  await local.fill("#cron-message", "/nodes");
  await local.selectOption("#cron-deliver", "none");
  await local.click("#cron-add");
  await expectText(local.locator("#banner"), /Job nightly nodes added; next run /, "job added banner");
  const jobRow = local.locator('#cron-body tr[data-job-name="nightly nodes"]');
  await expectText(jobRow, /every 1h/, "the job's schedule");
  await jobRow.locator("button.run").click();
  await expectText(local.locator("#banner"), /Job nightly nodes started\./, "run banner");
  // The run (the command agent's /nodes) ends ok; the list follows the `cron` event.
  await expectText(jobRow.locator("td.last"), /^ok /, "the run's status");
  await jobRow.locator("button.toggle").click();
  await expectText(jobRow.locator("td.next"), /^disabled$/, "disabled");
  await shot(local, "09b-schedule");
  await jobRow.locator("button.remove").click();
  await jobRow.waitFor({ state: "detached", timeout: STEP_TIMEOUT });
  // A bad expression is refused with the gateway's reason, and nothing is added.
  await local.fill("#cron-name", "broken");
  await local.selectOption("#cron-kind", "cron");
  await local.fill("#cron-when", "61 * * * *");
  await local.fill("#cron-message", "x");
  await local.click("#cron-add");
  await expectText(local.locator("#banner"), /Cannot add the job: .*minute/, "bad expression refused");
  await expectText(local.locator("#cron-body"), /No scheduled jobs/, "still empty");

  step = "usage";
  // The fixture's two answers (tests/it/control_ui.rs): today's priced, yesterday's not.
  await local.click('.tabs button[data-tab="usage"]');
  await expectText(local.locator("#usage-summary"), /Tokens\s*1,180/, "the total tokens");
  await expectText(local.locator("#usage-summary"), /Cost\s*\$0\.0123/, "the total cost");
  await expectText(local.locator("#usage-summary"), /Answers without prices\s*1/, "the unpriced answer");
  const usageRows = local.locator("#usage-body tr");
  await expectText(usageRows.nth(0), /1,000\s*150\s*20\s*0\s*1,170\s*\$0\.0123/, "today's row");
  await expectText(usageRows.nth(1), /7\s*3\s*0\s*0\s*10\s*n\/a/, "yesterday's row");
  // Per session (sessions.usage): the fixture's transcript has no index entry, so it is
  // listed under its id, with both answers' tokens and the priced one's cost.
  const fixtureRow = local.locator('#usage-sessions-body tr[data-key="agent:main:usage-fixture"]');
  await expectText(fixtureRow, /agent:main:usage-fixture\s*-\s*2\s*1,180\s*\$0\.0123\s*-/, "the fixture's session");
  await shot(local, "09d-usage");

  step = "audit";
  // The chat turns above were agent runs: the ledger lists them, newest first, and the
  // filter asks the gateway for one kind and status only.
  await local.click('.tabs button[data-tab="audit"]');
  const auditRows = local.locator("#audit-body tr");
  await expectText(auditRows.first(), /agent_run\s*succeeded\s*main\s*\S+\s*agent\.run\.finished/, "the newest run's end");
  await local.selectOption("#audit-kind", "agent_run");
  await local.selectOption("#audit-status", "started");
  await local.click("#audit-filter");
  await expectText(auditRows.first(), /agent_run\s*started\s*main\s*\S+\s*agent\.run\.started/, "a run's start");
  const statuses = await auditRows.evaluateAll((rows) => rows.map((r) => r.dataset.status));
  if (!statuses.length || statuses.some((s) => s !== "started")) throw new Error(`the filter was not applied: ${statuses}`);
  await shot(local, "09e-audit");

  step = "health";
  await local.click('.tabs button[data-tab="health"]');
  await expectText(local.locator("#health-summary"), /Status\s*ok/, "health");
  // The stability ring: the memory sample taken at start is listed, as text.
  await expectText(local.locator("#stability-summary"), /^Events: \d+\/1000/, "the stability summary");
  await expectText(local.locator("#stability-events"), /#\d+ diagnostic\.memory\.sample rss=\d/, "the stability events");
  await shot(local, "09c-health");

  step = "gateway restart";
  // The Health tab's button (gateway.restart.request): confirmed (the dialog handler in
  // watch() clicks OK), the gateway restarts in place and the pages reconnect by themselves.
  const restartConfirms = dialogs.filter((d) => d.type === "confirm").length;
  await local.click("#gateway-restart");
  await expectText(local.locator("#banner"), /Gateway restarting — reconnecting/, "restart banner");
  const restartAsked = dialogs.filter((d) => d.type === "confirm").slice(restartConfirms);
  if (restartAsked.length !== 1 || !/^Restart the gateway\?/.test(restartAsked[0].message)) {
    throw new Error(`the restart was not confirmed first: ${JSON.stringify(restartAsked)}`);
  }
  await shot(local, "10-restarting");
  await local.locator('#conn-state[data-state="connected"]').waitFor({ timeout: 30000 });
  await local.locator("#banner").waitFor({ state: "hidden", timeout: STEP_TIMEOUT });
  // The remote browser (paired, secret remembered) comes back by itself too.
  await remote.locator('#conn-state[data-state="connected"]').waitFor({ timeout: 30000 });
  await shot(local, "11-reconnected");
}

// Signs in through Tailscale Serve with an empty secret: the tailnet login authenticates, the
// new browser is still paired (approved from a local page signed in with the token).
async function tailscaleFlow() {
  step = "tailscale: load";
  const ts = await (await browser.newContext()).newPage();
  watch(ts, "tailscale");
  await ts.goto(URL_REMOTE, { waitUntil: "load" });
  await ts.locator("#login").waitFor({ state: "visible", timeout: STEP_TIMEOUT });
  step = "tailscale: sign in without a secret";
  await ts.click("#connect");
  const text = await expectText(ts.locator("#banner"), /Pairing required[\s\S]*openclaw devices approve [0-9a-f-]+/, "pairing banner");
  const requestId = text.match(/openclaw devices approve ([0-9a-f-]+)/)[1];
  await shot(ts, "ts-01-pairing-required");
  step = "tailscale: approve from the local page";
  const local = await (await browser.newContext()).newPage();
  watch(local, "local");
  await local.goto(URL_LOCAL, { waitUntil: "load" });
  await local.fill("#secret", TOKEN);
  await local.click("#connect");
  await local.locator('#conn-state[data-state="connected"]').waitFor({ timeout: STEP_TIMEOUT });
  await local.click('.tabs button[data-tab="approvals"]');
  const li = local.locator(`#pending-devices li[data-request-id="${requestId}"]`);
  await expectText(li, new RegExp(`from ${REMOTE_IP.replace(/\./g, "\\.")}`), "pending tailnet device");
  await li.locator("button.ok").click();
  step = "tailscale: connected";
  await ts.locator('#conn-state[data-state="connected"]').waitFor({ timeout: STEP_TIMEOUT });
  await ts.click('.tabs button[data-tab="health"]');
  await expectText(ts.locator("#health-summary"), /Signed in with\s*tailscale/, "auth method");
  await shot(ts, "ts-02-signed-in");
}

// A new page on UI_URL, signed in with the token (its console watched as `label`).
async function signedIn(label) {
  step = `${label}: sign in`;
  const page = await (await browser.newContext({ viewport: { width: 1100, height: 800 } })).newPage();
  watch(page, label);
  await page.goto(URL_LOCAL, { waitUntil: "load" });
  await page.fill("#secret", TOKEN);
  await page.click("#connect");
  await page.locator('#conn-state[data-state="connected"]').waitFor({ timeout: STEP_TIMEOUT });
  return page;
}

async function execFlow() {
  const page = await signedIn("exec");
  step = "exec: the waiting command is shown as text";
  await page.click('.tabs button[data-tab="approvals"]');
  const li = page.locator('#pending-exec li[data-kind="exec"]');
  const shown = await expectText(li.locator("pre"), /./, "the waiting command");
  if (shown !== EXEC_COMMAND) throw new Error(`command shown as ${JSON.stringify(shown)}, not ${JSON.stringify(EXEC_COMMAND)}`);
  await expectText(page.locator("#approvals-count"), /^1$/, "the approvals badge");
  if (await li.locator('button[data-decision="allow-always"]').count() !== 0) {
    throw new Error("allow-always offered for a shell command");
  }
  await shot(page, "exec-01-waiting");
  step = "exec: allow once";
  await li.locator('button[data-decision="allow-once"]').click();
  await expectText(page.locator("#pending-exec"), /No shell commands waiting\./, "the list after the decision");
  await shot(page, "exec-02-allowed");

  step = "setup code: a loopback-only gateway needs a URL";
  await page.click("#setup-make");
  await expectText(page.locator("#banner"), /only bound to loopback/, "the refusal");
  step = "setup code: a node code for the given URL";
  const wsUrl = URL_LOCAL.replace(/^http/, "ws").replace(/\/$/, "");
  await page.fill("#setup-url", wsUrl);
  await page.selectOption("#setup-access", "node");
  await page.click("#setup-make");
  const code = await expectText(page.locator("#setup-code"), /^[A-Za-z0-9_-]{40,}$/, "the setup code");
  const payload = JSON.parse(Buffer.from(code, "base64url").toString("utf8"));
  if (payload.url !== wsUrl || typeof payload.bootstrapToken !== "string") {
    throw new Error(`setup code payload ${JSON.stringify(payload)} is not for ${wsUrl}`);
  }
  await expectText(page.locator("#setup-meta"), /access: node host only/, "the code's access");
  step = "setup code: its QR code is shown (the gateway's PNG, decoded by the browser)";
  const qr = page.locator("#setup-qr");
  await qr.waitFor({ state: "visible" });
  const img = await qr.evaluate((el) => ({ src: el.getAttribute("src") || "", w: el.naturalWidth, h: el.naturalHeight, done: el.complete }));
  if (!img.src.startsWith("data:image/png;base64,") || !img.done || img.w < 100 || img.w !== img.h) {
    throw new Error(`the setup code's QR image is not a decoded square PNG: ${JSON.stringify({ ...img, src: img.src.slice(0, 40) })}`);
  }
  await shot(page, "exec-03-setup-code");
  noAlerts();
}

// "artifacts": the main session holds an answer that carried a node's photo (UI_PNG_B64); the
// fake model answers the page's own message (which attaches a picture) with another photo.
// All are shown as decoded images under their messages (artifacts.list / .download).
async function artifactsFlow() {
  const page = await signedIn("artifacts");
  const decoded = async (img, what) => {
    await img.waitFor({ state: "visible", timeout: STEP_TIMEOUT });
    const deadline = Date.now() + STEP_TIMEOUT;
    let got;
    for (;;) {
      got = await img.evaluate((el) => ({ src: el.getAttribute("src") || "", w: el.naturalWidth, done: el.complete, alt: el.alt }));
      if (got.done && got.w > 0) break;
      if (Date.now() > deadline) throw new Error(`${what} is not a decoded image: ${JSON.stringify({ ...got, src: got.src.slice(0, 40) })}`);
      await page.waitForTimeout(50);
    }
    if (!got.src.startsWith("data:image/png;base64,")) throw new Error(`${what}: src ${got.src.slice(0, 40)}`);
    const bytes = Buffer.from(got.src.slice("data:image/png;base64,".length), "base64");
    if (!bytes.equals(Buffer.from(env("UI_PNG_B64"), "base64"))) throw new Error(`${what}: not the node's photo`);
    return got;
  };
  step = "artifacts: the history's answer shows its photo";
  await page.click('.tabs button[data-tab="chat"]');
  await page.click("#load-history");
  const first = page.locator('#messages li.msg.assistant', { hasText: "The front door." }).locator("img.artifact-image");
  const got = await decoded(first, "the recorded answer's photo");
  if (got.alt !== "camera.snap.png") throw new Error(`alt ${got.alt}`);
  await shot(page, "artifacts-01-history");
  step = "artifacts: a live answer shows its photo";
  // The page's own message carries a picture too (the Attach button's file input).
  await page.setInputFiles("#chat-file", { name: "mine.png", mimeType: "image/png", buffer: Buffer.from(env("UI_PNG_B64"), "base64") });
  await page.fill("#chat-input", "and the garden?");
  await page.click("#chat-send");
  const live = page.locator('#messages li.msg.assistant[data-state="final"]', { hasText: "The garden." }).locator("img.artifact-image");
  await decoded(live, "the live answer's photo");
  await shot(page, "artifacts-02-live");
  step = "artifacts: after a reload, the user's picture is under the user's message";
  await page.click("#load-history");
  const mine = page.locator("#messages li.msg.user", { hasText: "and the garden?" }).locator("img.artifact-image");
  const m = await decoded(mine, "the user's own picture");
  if (m.alt !== "mine.png") throw new Error(`alt ${m.alt}`);
  await decoded(page.locator("#messages li.msg.assistant", { hasText: "The garden." }).locator("img.artifact-image"), "the second answer's photo after the reload");
  if (await page.locator("#messages li.msg.user", { hasText: "show me the door" }).locator("img").count() !== 0) {
    throw new Error("a message that carried nothing shows a picture");
  }
  await shot(page, "artifacts-03-reloaded");
  noAlerts();
}

// "agents": a fleet without `main` (home, the default, and work, each SOUL.md saying whose it
// is): the Agent tab opens the default agent's files, the picker switches to the other
// agent's workspace (asking first about unsaved edits, which are then dropped), and a save
// lands in the picked agent's file.
async function agentsFlow() {
  const page = await signedIn("agents");
  step = "agents: the default agent's files";
  await page.click("#tab-agent");
  await expectText(page.locator("#agent-workspace"), /\/workspace$/, "the default agent's workspace");
  const pick = page.locator("#agent-pick");
  await pick.waitFor({ state: "visible", timeout: STEP_TIMEOUT });
  const options = await pick.locator("option").allTextContents();
  if (JSON.stringify(options) !== JSON.stringify(["Home (home)", "Work desk (work)"])) {
    throw new Error(`picker options ${JSON.stringify(options)}`);
  }
  if ((await pick.inputValue()) !== "home") throw new Error("the default agent is not picked");
  const files = page.locator("#agent-files");
  await files.locator('button[data-name="SOUL.md"]').click();
  await expectValue(page, "#agent-editor", "HOME SOUL", "home's SOUL.md");
  await shot(page, "agents-01-home");

  step = "agents: switching with unsaved edits asks first";
  const confirmsBefore = dialogs.filter((d) => d.type === "confirm").length;
  await page.fill("#agent-editor", "HOME SOUL, not saved");
  await pick.selectOption("work");
  await expectText(page.locator("#agent-workspace"), /\/workspace-work$/, "work's workspace");
  const asked = dialogs.filter((d) => d.type === "confirm").slice(confirmsBefore);
  if (asked.length !== 1 || !/SOUL\.md has unsaved edits\. Switch to work/.test(asked[0].message)) {
    throw new Error(`expected one "unsaved edits" prompt, got ${JSON.stringify(asked)}`);
  }
  if (await page.locator("#agent-editor").isEnabled()) throw new Error("the editor kept home's file");

  step = "agents: the picked agent's file is opened and saved";
  await files.locator('button[data-name="SOUL.md"]').click();
  await expectValue(page, "#agent-editor", "WORK SOUL", "work's SOUL.md");
  await page.fill("#agent-editor", "WORK SOUL, saved from the page");
  await page.click("#agent-save");
  await expectText(page.locator("#agent-status"), /^Saved SOUL\.md\.$/, "saved");
  await shot(page, "agents-02-work");

  step = "agents: a new agent, created from the page";
  promptAnswers.push("Research <b>Bot</b>");
  await page.click("#agent-new");
  await expectText(page.locator("#agent-workspace"), /\/workspace-research-b-bot-b$/, "the new agent's workspace");
  if ((await pick.inputValue()) !== "research-b-bot-b") throw new Error("the new agent is not picked");
  const named = await pick.locator('option[value="research-b-bot-b"]').textContent();
  if (named !== "Research <b>Bot</b> (research-b-bot-b)") throw new Error(`the new agent is listed as ${JSON.stringify(named)}`);
  await expectText(page.locator("#agent-status"), /^Created research-b-bot-b: its workspace is /, "the creation");
  await files.locator('button[data-name="IDENTITY.md"]').click();
  await expectValue(page, "#agent-editor", /- Name: Research <b>Bot<\/b>/, "its IDENTITY.md");
  await shot(page, "agents-03-created");

  step = "agents: deleted from the page";
  const confirmed = dialogs.filter((d) => d.type === "confirm").length;
  await page.click("#agent-delete");
  await expectText(page.locator("#agent-status"), /^Deleted research-b-bot-b; its files are in the trash\.$/, "the deletion");
  const confirms = dialogs.filter((d) => d.type === "confirm").slice(confirmed);
  if (confirms.length !== 1 || !/Delete the agent research-b-bot-b\?/.test(confirms[0].message)) {
    throw new Error(`expected one confirmation, got ${JSON.stringify(confirms)}`);
  }
  await expectText(page.locator("#agent-workspace"), /\/workspace$/, "back to the default agent");
  const left = await pick.locator("option").allTextContents();
  if (JSON.stringify(left) !== JSON.stringify(["Home (home)", "Work desk (work)"])) {
    throw new Error(`picker options after the deletion ${JSON.stringify(left)}`);
  }
  const scripts = await page.evaluate(() => document.querySelectorAll("script").length);
  if (scripts !== PAGE_SCRIPTS) throw new Error(`a name's markup became elements (${scripts} scripts)`);
  noAlerts();
}

// "handoff": `openclaw dashboard`'s one-time sign-in link (UI_HANDOFF_LINK, through the
// forwarding proxy: a browser on another machine) signs a new browser in without a secret,
// leaves nothing in the address bar, and a reload signs in with the device token it was paired
// with; the same link in another browser is refused with what to do; OpenClaw's `#token=`
// link signs in without being remembered.
async function handoffFlow() {
  const link = env("UI_HANDOFF_LINK");
  step = "handoff: the link signs a new browser in";
  const a = await (await browser.newContext({ viewport: { width: 1100, height: 800 } })).newPage();
  watch(a, "handoff");
  await a.goto(link, { waitUntil: "load" });
  await a.locator('#conn-state[data-state="connected"]').waitFor({ timeout: STEP_TIMEOUT });
  if (new URL(a.url()).hash !== "") throw new Error(`the link stayed in the address bar: ${a.url()}`);
  if ((await a.inputValue("#secret")) !== "") throw new Error("a secret was filled in");
  await a.click('.tabs button[data-tab="health"]');
  await expectText(a.locator("#health-summary"), /Signed in with\s*bootstrap-token/, "signed in by the link");
  await shot(a, "handoff-01-signed-in");
  const remembered = await a.evaluate(() => localStorage.getItem("openclaw.controlUi.auth"));
  if (remembered !== null) throw new Error(`a secret was remembered: ${remembered}`);

  step = "handoff: a reload signs in with the paired device's token";
  await a.reload({ waitUntil: "load" });
  await a.locator('#conn-state[data-state="connected"]').waitFor({ timeout: STEP_TIMEOUT });
  await a.click('.tabs button[data-tab="health"]');
  await expectText(a.locator("#health-summary"), /Signed in with\s*device-token/, "signed in by the device token");
  await shot(a, "handoff-02-reloaded");

  step = "handoff: the used link in another browser";
  const b = await (await browser.newContext()).newPage();
  watch(b, "second");
  await b.goto(link, { waitUntil: "load" });
  await expectText(b.locator("#login-error"), /already used, has expired[\s\S]*openclaw dashboard/, "the refusal");
  if (new URL(b.url()).hash !== "") throw new Error(`the link stayed in the address bar: ${b.url()}`);
  if ((await b.locator("#conn-state").getAttribute("data-state")) === "connected") throw new Error("signed in with a used link");
  await shot(b, "handoff-03-used");

  step = "handoff: OpenClaw's #token= link";
  const c = await (await browser.newContext()).newPage();
  watch(c, "token-link");
  await c.goto(`${URL_LOCAL}#token=${encodeURIComponent(TOKEN)}`, { waitUntil: "load" });
  await c.locator('#conn-state[data-state="connected"]').waitFor({ timeout: STEP_TIMEOUT });
  if (new URL(c.url()).hash !== "") throw new Error(`the token stayed in the address bar: ${c.url()}`);
  const kept = await c.evaluate(() => localStorage.getItem("openclaw.controlUi.auth"));
  if (kept !== null) throw new Error(`the link's token was remembered: ${kept}`);
  noAlerts();
}

// "plainhttp": the page over plain HTTP by a LAN-like name (UI_PLAIN_LINK, a sign-in link
// on http://lan.test:<port>/): not a secure context, no crypto.subtle, so the device identity
// is ed25519.js's; the gateway checks its signatures like any other, on the link's connect
// and on the device token's after a reload.
async function plainHttpFlow() {
  const link = env("UI_PLAIN_LINK");
  step = "plain http: not a secure context";
  const a = await (await browser.newContext({ viewport: { width: 1100, height: 800 } })).newPage();
  watch(a, "plain");
  await a.goto(link, { waitUntil: "load" });
  const ctx = await a.evaluate(() => ({ secure: window.isSecureContext, subtle: typeof crypto.subtle }));
  if (ctx.secure !== false || ctx.subtle !== "undefined") throw new Error(`expected an insecure context: ${JSON.stringify(ctx)}`);
  step = "plain http: signed in by the link with the JavaScript signer";
  await a.locator('#conn-state[data-state="connected"]').waitFor({ timeout: STEP_TIMEOUT });
  await expectText(a.locator("#device-line"), /device id: [0-9a-f]{16}… \(plain HTTP: /, "the device line");
  await a.click('.tabs button[data-tab="health"]');
  await expectText(a.locator("#health-summary"), /Signed in with\s*bootstrap-token/, "signed in by the link");
  await shot(a, "plain-01-signed-in");
  step = "plain http: a reload signs in with the device token, signed again";
  await a.reload({ waitUntil: "load" });
  await a.locator('#conn-state[data-state="connected"]').waitFor({ timeout: STEP_TIMEOUT });
  await a.click('.tabs button[data-tab="health"]');
  await expectText(a.locator("#health-summary"), /Signed in with\s*device-token/, "signed in by the device token");
  const id = await a.evaluate(() => document.getElementById("device-line").textContent);
  log(`plain http device line: ${id}`);
  await shot(a, "plain-02-reloaded");
  noAlerts();
}

try {
  if (MODE === "tailscale") await tailscaleFlow();
  else if (MODE === "plainhttp") await plainHttpFlow();
  else if (MODE === "handoff") await handoffFlow();
  else if (MODE === "agents") await agentsFlow();
  else if (MODE === "artifacts") await artifactsFlow();
  else if (MODE === "exec") await execFlow();
  else await fullFlow();
  if (consoleErrors.length) throw new Error(`console errors:\n${consoleErrors.join("\n")}`);
  log("all steps passed");
} catch (e) {
  failed = e;
  for (const [label, page] of pages) {
    try { await shot(page, `failure-${label}`); } catch (_) { /* page gone */ }
  }
} finally {
  await browser.close();
}
if (failed) {
  process.stderr.write(`ui.mjs: FAILED at step "${step}": ${failed.stack || failed}\n`);
  if (consoleErrors.length) process.stderr.write(`console errors:\n${consoleErrors.join("\n")}\n`);
  process.exit(1);
}
