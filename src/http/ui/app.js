// OpenClaw Control UI for openclaw-rs: plain JavaScript, no build step, no dependencies.
// Speaks the gateway protocol (v4) over a WebSocket to the page's own origin.
"use strict";

(() => {
  const PROTOCOL = 4;
  const CLIENT = { id: "openclaw-control-ui", mode: "webchat", platform: "web", version: "openclaw-rs-ui" };
  const SCOPES = ["operator.admin", "operator.read", "operator.write", "operator.approvals", "operator.pairing"];
  const REQUEST_TIMEOUT_MS = 30000;
  const STORE_KEY = "openclaw.controlUi.auth";

  // The page's base path comes from this script's own URL (app.js sits next to index.html).
  const scriptEl = document.querySelector('script[src$="app.js"]');
  const BASE = new URL(".", scriptEl ? scriptEl.src : location.href).pathname;
  const WS_URL = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + BASE;

  // `openclaw dashboard`'s one-time sign-in link, `#bootstrapToken=…&bootstrapProfile=owner`,
  // or OpenClaw's `#token=…` link: taken out of the address bar (and so out of the history)
  // before anything else runs. The page always connects to its own origin (a `gatewayUrl` in
  // the link is not followed). OpenClaw's bound: printable ASCII, at most 4096 characters.
  const LINK = (() => {
    if (!location.hash) return null;
    const h = new URLSearchParams(location.hash.slice(1));
    const bootstrap = h.get("bootstrapToken");
    const token = h.get("token");
    if (bootstrap === null && token === null) return null;
    history.replaceState(null, "", location.pathname + location.search);
    const ok = (t) => typeof t === "string" && /^[\x21-\x7e]{1,4096}$/.test(t);
    if (ok(bootstrap)) return { bootstrap };
    if (ok(token)) return { token };
    return { bad: true };
  })();

  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v;
      else if (k.startsWith("data-")) e.setAttribute(k, v);
      else if (k === "text") e.textContent = v;
      else e[k] = v;
    }
    for (const c of children) e.append(c);
    return e;
  };

  // ---------- small helpers ----------
  const b64url = (bytes) => {
    let s = "";
    for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  const uuid = () => {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    const h = hex(b);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };
  const fmtTime = (ms) => (typeof ms === "number" && ms > 0 ? new Date(ms).toLocaleString() : "—");
  const textOf = (content) => {
    if (typeof content === "string") return content;
    if (Array.isArray(content)) return content.map((p) => (typeof p === "string" ? p : p && p.text ? p.text : "")).join("");
    if (content && typeof content.text === "string") return content.text;
    return "";
  };

  // ---------- device identity: Ed25519 in WebCrypto, kept in IndexedDB ----------
  const idb = () => new Promise((resolve, reject) => {
    const req = indexedDB.open("openclaw-control-ui", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("kv");
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  const idbGet = async (key) => {
    const db = await idb();
    return new Promise((resolve, reject) => {
      const r = db.transaction("kv").objectStore("kv").get(key);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
  };
  const idbPut = async (key, value) => {
    const db = await idb();
    return new Promise((resolve, reject) => {
      const tx = db.transaction("kv", "readwrite");
      if (value === undefined) tx.objectStore("kv").delete(key); else tx.objectStore("kv").put(value, key);
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
  };

  let device = null; // {id, publicKey (b64url raw), sign: (bytes) => Promise<signature bytes>}
  async function loadDevice() {
    const subtle = window.isSecureContext && crypto.subtle ? crypto.subtle : null;
    let pair = await idbGet("device");
    if (!pair && subtle) {
      try {
        // The private key is not extractable: it never leaves WebCrypto.
        const made = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
        pair = { publicKey: made.publicKey, privateKey: made.privateKey };
        await idbPut("device", pair);
      } catch (_) {
        pair = null; // no WebCrypto Ed25519 in this browser: the JavaScript one below
      }
    }
    const ed = globalThis.OpenClawEd25519;
    if (!pair || pair.seed) {
      // Plain HTTP to a LAN address is not a secure context, so the browser withholds
      // WebCrypto: the key is made and used by ed25519.js instead (as OpenClaw's Control UI
      // does). Its seed stays in this origin's IndexedDB and never crosses the wire.
      if (!ed) throw new Error("This browser cannot make a device identity (no WebCrypto Ed25519 and ed25519.js did not load). Reload the page.");
      if (!pair) {
        pair = { seed: crypto.getRandomValues(new Uint8Array(32)) };
        await idbPut("device", pair);
      }
      const seed = new Uint8Array(pair.seed);
      const raw = ed.publicKey(seed);
      device = { id: hex(ed.sha256(raw)), publicKey: b64url(raw), sign: async (bytes) => ed.sign(seed, bytes), js: true };
    } else {
      const raw = await crypto.subtle.exportKey("raw", pair.publicKey);
      const key = pair.privateKey;
      device = {
        id: hex(await crypto.subtle.digest("SHA-256", raw)),
        publicKey: b64url(raw),
        sign: async (bytes) => crypto.subtle.sign({ name: "Ed25519" }, key, bytes),
        js: false,
      };
    }
    $("device-line").textContent = `This browser's device id: ${device.id.slice(0, 16)}…` +
      (window.isSecureContext ? "" : " (plain HTTP: anyone on the network path can read this page's traffic; prefer HTTPS, e.g. Tailscale Serve, or an SSH tunnel)");
    return device;
  }

  // The v3 device proof, exactly as native clients sign it:
  // v3|deviceId|clientId|clientMode|role|scopes|signedAtMs|token|nonce|platform|deviceFamily
  async function signProof(params, nonce) {
    const signedAt = Date.now();
    const token = params.auth.token || params.auth.deviceToken || params.auth.bootstrapToken || "";
    const payload = ["v3", device.id, params.client.id, params.client.mode, params.role, params.scopes.join(","),
      String(signedAt), token, nonce, (params.client.platform || "").trim().toLowerCase(), ""].join("|");
    const sig = await device.sign(new TextEncoder().encode(payload));
    return { id: device.id, publicKey: device.publicKey, signature: b64url(sig), signedAt, nonce };
  }

  // ---------- credentials ----------
  let creds = null; // {kind: "token"|"password", secret, remember}
  // The user pressed Connect: the start-up sign-in (remembered secret, device token) that
  // may still be loading must not replace what they typed.
  let signInStarted = false;
  let deviceToken = null;
  // A sign-in link's token, presented once (it is used up, or refused, by that connect).
  let bootstrapToken = null;
  function loadRemembered() {
    try {
      const v = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
      if (v && (v.kind === "token" || v.kind === "password") && typeof v.secret === "string") return { ...v, remember: true };
    } catch (_) { /* ignore a corrupt entry */ }
    return null;
  }
  function saveCreds() {
    if (creds && creds.fromLink) return; // a `#token=` link: neither remembered nor forgetting
    if (creds && creds.remember) localStorage.setItem(STORE_KEY, JSON.stringify({ kind: creds.kind, secret: creds.secret }));
    else localStorage.removeItem(STORE_KEY);
  }

  // ---------- UI state ----------
  function setState(state, text) {
    const p = $("conn-state");
    p.dataset.state = state;
    p.textContent = text || state;
    p.className = "pill " + (state === "connected" ? "pill-on" : state === "offline" ? "pill-off" : "pill-wait");
  }
  function banner(text, kind) {
    const b = $("banner");
    if (!text) { b.hidden = true; b.textContent = ""; return; }
    b.hidden = false;
    b.className = "banner" + (kind === "info" ? " info" : "");
    b.dataset.kind = kind || "error";
    b.textContent = text;
  }
  function loginError(text) {
    const e = $("login-error");
    e.hidden = !text;
    e.textContent = text || "";
  }
  function showApp(on) {
    $("login").hidden = on;
    $("app").hidden = !on;
    $("sign-out").hidden = !on;
  }

  // ---------- the connection ----------
  let ws = null;
  let connected = false;
  let userClosed = false;
  let reconnectTimer = null;
  let reconnectDelay = 1000;
  let lastClose = null;
  const pending = new Map();
  let nextId = 1;

  function rpc(method, params = {}) {
    return new Promise((resolve, reject) => {
      if (!ws || ws.readyState !== WebSocket.OPEN) return reject(new Error("not connected to the gateway"));
      const id = String(nextId++);
      const timer = setTimeout(() => { pending.delete(id); reject(new Error(`${method}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)); }, REQUEST_TIMEOUT_MS);
      pending.set(id, { resolve, reject, timer, method });
      ws.send(JSON.stringify({ type: "req", id, method, params }));
    });
  }
  function failAll(reason) {
    for (const [, p] of pending) { clearTimeout(p.timer); p.reject(new Error(reason)); }
    pending.clear();
  }
  const errText = (error) => (error && error.message) || "request failed";

  // What a failed connect means, and what to do about it.
  function explain(error) {
    const d = (error && error.details) || {};
    const code = d.code || "";
    const msg = errText(error);
    switch (code) {
      case "PAIRING_REQUIRED":
        return { pairing: true, text: `Pairing required — approve this browser from the CLI with:\n  openclaw devices approve ${d.requestId}\n(or from another signed-in Control UI under Approvals). This page connects by itself once approved.` };
      case "AUTH_TOKEN_MISMATCH":
        return { text: "Token mismatch — the gateway rejected this token. Copy gateway.auth.token (or OPENCLAW_GATEWAY_TOKEN) from the gateway host and sign in again." };
      case "AUTH_PASSWORD_MISMATCH":
        return { text: "Password mismatch — the gateway rejected this password (gateway.auth.password on the gateway host)." };
      case "AUTH_TOKEN_MISSING":
        return { text: "This gateway needs its token: paste gateway.auth.token below." };
      case "AUTH_PASSWORD_MISSING":
        return { text: "This gateway needs its password: type gateway.auth.password below." };
      case "AUTH_RATE_LIMITED": {
        const s = Math.ceil((error.retryAfterMs || 60000) / 1000);
        return { text: `Too many failed sign-ins from this browser — wait ${s} s before trying again.` };
      }
      case "CONTROL_UI_ORIGIN_NOT_ALLOWED":
        return { text: `This page's origin (${location.origin}) is not allowed to connect. Open the Control UI from the gateway host, or add "${location.origin}" to gateway.controlUi.allowedOrigins.` };
      case "AUTH_BOOTSTRAP_TOKEN_INVALID":
        return { fallBack: true, text: "This sign-in link was already used, has expired (links last 10 minutes), or was opened in another browser first. Run `openclaw dashboard` on the gateway host for a new one, or sign in with the gateway token or password." };
      case "AUTH_DEVICE_TOKEN_MISMATCH":
        return { dropDeviceToken: true, text: "This browser's saved device token is no longer valid — sign in with the gateway token or password." };
      case "AUTH_TAILSCALE_WHOIS_FAILED":
      case "AUTH_TAILSCALE_IDENTITY_MISMATCH":
      case "AUTH_TAILSCALE_NOT_A_USER":
        return { text: msg + " — or sign in with the gateway token/password below." };
      default:
        if (error && error.code === "UNAVAILABLE") return { retry: true, text: `Gateway busy — retrying (${msg}).` };
        return { text: msg };
    }
  }

  function scheduleReconnect(text) {
    clearTimeout(reconnectTimer);
    setState("reconnecting", "reconnecting");
    banner(text, "info");
    reconnectTimer = setTimeout(() => connect(), reconnectDelay);
    reconnectDelay = Math.min(reconnectDelay * 2, 5000);
  }

  async function connect() {
    clearTimeout(reconnectTimer);
    userClosed = false;
    try { await loadDevice(); } catch (e) { loginError(e.message); setState("offline"); return; }
    setState("connecting", "connecting");
    let challengeSeen = false;
    let helloDone = false;
    let failure = null;
    const sock = new WebSocket(WS_URL);
    ws = sock;
    sock.onmessage = async (ev) => {
      let f;
      try { f = JSON.parse(ev.data); } catch (_) { return; }
      if (f.type === "event" && f.event === "connect.challenge" && !challengeSeen) {
        challengeSeen = true;
        const auth = {};
        if (creds && creds.secret) auth[creds.kind] = creds.secret;
        else if (bootstrapToken) auth.bootstrapToken = bootstrapToken;
        else if (deviceToken) auth.deviceToken = deviceToken;
        const params = {
          minProtocol: PROTOCOL, maxProtocol: PROTOCOL,
          client: { ...CLIENT, displayName: "Control UI (" + (navigator.userAgentData ? navigator.userAgentData.platform || "browser" : "browser") + ")" },
          role: "operator", scopes: SCOPES, caps: [], auth,
          locale: navigator.language, userAgent: navigator.userAgent,
        };
        try { params.device = await signProof(params, f.payload.nonce); } catch (e) { loginError(`Cannot sign the device proof: ${e.message}`); sock.close(); return; }
        sock.send(JSON.stringify({ type: "req", id: "connect", method: "connect", params }));
        return;
      }
      if (f.type === "res" && f.id === "connect") {
        if (f.ok) { helloDone = true; onHello(f.payload); } else { failure = f.error; onConnectFailed(f.error); }
        return;
      }
      if (f.type === "res") {
        const p = pending.get(f.id);
        if (!p) return;
        pending.delete(f.id); clearTimeout(p.timer);
        if (f.ok) p.resolve(f.payload); else p.reject(Object.assign(new Error(errText(f.error)), { error: f.error }));
        return;
      }
      if (f.type === "event") onEvent(f.event, f.payload || {});
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      // A sign-in link is presented on one connect only.
      if (challengeSeen) bootstrapToken = null;
      const wasConnected = connected;
      connected = false;
      lastClose = ev;
      failAll("connection closed");
      if (userClosed) { setState("offline"); return; }
      if (failure) return; // onConnectFailed decided what happens next
      if (wasConnected || helloDone) {
        const restarting = ev.code === 1012;
        scheduleReconnect(restarting ? "Gateway restarting — reconnecting…" : `Connection to the gateway lost (${ev.code}) — reconnecting…`);
        return;
      }
      if (!challengeSeen) {
        setState("offline");
        if ($("app").hidden) loginError(`Cannot reach the gateway at ${WS_URL} — is it running? Start it with \`openclaw gateway\`.`);
        else scheduleReconnect("Gateway unreachable — reconnecting…");
        return;
      }
      setState("offline");
    };
  }

  function onConnectFailed(error) {
    bootstrapToken = null;
    const x = explain(error);
    if (x.dropDeviceToken) { deviceToken = null; idbPut("deviceToken", undefined).catch(() => {}); }
    if (x.pairing) {
      setState("pairing", "pairing required");
      showApp(false);
      loginError("");
      banner(x.text, "info");
      clearTimeout(reconnectTimer);
      reconnectTimer = setTimeout(() => connect(), 3000);
      return;
    }
    if (x.retry) { scheduleReconnect(x.text); return; }
    if (x.fallBack && deviceToken && !(creds && creds.secret)) {
      // The link failed, but this browser was signed in before: go on with its device token.
      banner(x.text, "info");
      connect();
      return;
    }
    setState("offline");
    showApp(false);
    banner("");
    loginError(x.text);
  }

  let hello = null;
  function onHello(payload) {
    hello = payload;
    connected = true;
    reconnectDelay = 1000;
    banner("");
    loginError("");
    setState("connected", "connected");
    showApp(true);
    // Signed in by a sign-in link: this browser is now a paired owner device, and its
    // device token is what signs it in from now on.
    const handedOff = bootstrapToken !== null;
    bootstrapToken = null;
    if (payload.auth && payload.auth.deviceToken) {
      deviceToken = payload.auth.deviceToken;
      if (handedOff || (creds && creds.remember)) idbPut("deviceToken", deviceToken).catch(() => {});
    }
    saveCreds();
    refreshAll();
    if (!document.querySelector('.panel[data-panel="agent"]').hidden) refreshAgentFiles();
  }

  function onEvent(name, p) {
    switch (name) {
      case "chat": onChat(p); break;
      case "device.pair.requested": case "device.pair.resolved": case "device.pair.changed":
      case "node.pair.requested": case "node.pair.resolved":
        refreshApprovals(); refreshNodes(); break;
      case "exec.approval.requested": case "exec.approval.resolved":
        refreshApprovals(); break;
      case "presence": refreshNodes(); break;
      case "cron": if (!document.querySelector('.panel[data-panel="cron"]').hidden) refreshCron(); break;
      case "shutdown":
        banner("Gateway restarting — reconnecting…", "info");
        break;
      default: break;
    }
  }

  // ---------- chat ----------
  const streams = new Map(); // runId -> <li>
  function addMessage(role, text, extra) {
    const li = el("li", { class: `msg ${role}` + (extra ? " " + extra : "") });
    li.textContent = text;
    li.dataset.role = role;
    $("messages").append(li);
    $("messages").scrollTop = $("messages").scrollHeight;
    return li;
  }
  function currentSession() { return $("session-key").value.trim() || "main"; }
  // The gateway names sessions canonically ("main" is "agent:main:main"): remember the name
  // it answered with for the session shown, and the runs this page started.
  const myRuns = new Set();
  let canonicalKey = null;
  let canonicalFor = null;
  function isShown(sessionKey) {
    const shown = currentSession();
    return sessionKey === shown || (canonicalFor === shown && sessionKey === canonicalKey);
  }
  function onChat(p) {
    if (!myRuns.has(p.runId) && !(p.sessionKey && isShown(p.sessionKey))) { refreshSessions(); return; }
    let li = streams.get(p.runId);
    if (!li) { li = addMessage("assistant", "", "streaming"); li.dataset.runId = p.runId || ""; streams.set(p.runId, li); }
    if (p.state === "delta") {
      if (p.replace && typeof p.deltaText === "string") li.textContent = p.deltaText;
      else if (typeof p.deltaText === "string") li.textContent += p.deltaText;
      else if (p.message) li.textContent = textOf(p.message.content);
    } else if (p.state === "final") {
      const t = p.message ? textOf(p.message.content) : "";
      // A silent answer (the agent's NO_REPLY): nothing to show.
      if (!t && !li.textContent && !(Array.isArray(p.media) && p.media.length)) {
        li.remove();
        streams.delete(p.runId);
        myRuns.delete(p.runId);
        refreshSessions();
        return;
      }
      if (t) li.textContent = t;
      // Attachments (a node's photo or video): what they are, then the run's artifacts
      // (the photo shown, other files to download) once the gateway lists them.
      if (Array.isArray(p.media) && p.media.length) {
        const box = el("div", { class: "attachments" });
        for (const m of p.media) {
          box.append(el("div", { class: "attachment muted small", text: `[${m.kind || "file"}] ${m.fileName || ""} (${kbOf(m.bytes)} KB)` }));
        }
        li.append(box);
        if (p.runId) showArtifacts(li, { runId: p.runId, messageRole: "assistant" });
      }
      li.classList.remove("streaming");
      li.dataset.state = "final";
      streams.delete(p.runId);
      myRuns.delete(p.runId);
      refreshSessions();
    } else if (p.state === "error" || p.state === "aborted") {
      li.classList.remove("streaming");
      li.classList.add("failed");
      li.dataset.state = p.state;
      li.textContent = (li.textContent ? li.textContent + "\n" : "") + (p.errorMessage || (p.state === "aborted" ? "(stopped)" : "the run failed"));
      streams.delete(p.runId);
    }
    $("messages").scrollTop = $("messages").scrollHeight;
  }
  // ---------- artifacts: what answers carried (artifacts.list / artifacts.download) ----------
  function kbOf(bytes) { return Math.max(1, Math.round((Number(bytes) || 0) / 1024)); }
  // Shown inline: pictures of these types (data: URLs, which the page's CSP allows for images).
  const INLINE_IMAGES = new Set(["image/jpeg", "image/png", "image/webp", "image/gif"]);
  const MAX_AUTO_IMAGES = 8; // per history load; older ones wait for a click
  let autoImages = 0;
  async function download(a) {
    const r = await rpc("artifacts.download", { sessionKey: a.sessionKey, artifactId: a.id });
    if (r.encoding !== "base64" || typeof r.data !== "string") throw new Error("the gateway sent no data");
    return `data:${a.mimeType || "application/octet-stream"};base64,${r.data}`;
  }
  function artifactView(a) {
    const label = `${a.title} (${kbOf(a.sizeBytes)} KB)`;
    const box = el("div", { class: "attachment", "data-artifact": a.id });
    const fail = (e) => { box.replaceChildren(el("span", { class: "muted small", text: `${label}: ${e.message}` })); };
    if (a.type === "image" && INLINE_IMAGES.has(a.mimeType)) {
      const show = () => {
        box.replaceChildren(el("span", { class: "muted small", text: `Loading ${label}…` }));
        download(a).then((url) => {
          const img = el("img", { class: "artifact-image", alt: a.title, title: label, src: url });
          box.replaceChildren(img);
        }, fail);
      };
      if (autoImages < MAX_AUTO_IMAGES) { autoImages += 1; show(); }
      else {
        const b = el("button", { type: "button", text: `Show ${label}` });
        b.addEventListener("click", show);
        box.append(b);
      }
    } else {
      const b = el("button", { type: "button", text: `Download ${label}` });
      b.addEventListener("click", () => {
        download(a).then((url) => {
          const link = el("a", { href: url, download: a.title });
          document.body.append(link);
          link.click();
          link.remove();
        }, fail);
      });
      box.append(b);
    }
    return box;
  }
  // Shows `items` (artifacts) under the message element `target`, replacing what was there.
  function attachTo(target, items) {
    if (!target || !items.length) return;
    const box = el("div", { class: "attachments" }, ...items.map(artifactView));
    const old = target.querySelector(".attachments");
    if (old) old.replaceWith(box); else target.append(box);
    target.hidden = false;
  }
  // A live answer `li`: what its run's answer carried (`query` names the run).
  async function showArtifacts(li, query) {
    let list;
    try { list = (await rpc("artifacts.list", query)).artifacts || []; } catch { return; } // the labels stay
    attachTo(li, list);
  }
  // A loaded history: each run's artifacts under its last message of the same side (what
  // the user sent under the user's message, what answers carried under the answer).
  async function showHistoryArtifacts(sessionKey) {
    let all, answers;
    try {
      [all, answers] = await Promise.all([
        rpc("artifacts.list", { sessionKey }),
        rpc("artifacts.list", { sessionKey, messageRole: "assistant" }),
      ]);
    } catch { return; }
    const fromAnswers = new Set((answers.artifacts || []).map((a) => a.id));
    const groups = new Map(); // "role\0run" -> artifacts
    for (const a of all.artifacts || []) {
      if (!a.runId) continue;
      const k = `${fromAnswers.has(a.id) ? "assistant" : "user"}\0${a.runId}`;
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push(a);
    }
    for (const [k, items] of groups) {
      const [role, run] = k.split("\0");
      const els = document.querySelectorAll(`#messages li.msg.${role}[data-run-id="${CSS.escape(run)}"]`);
      attachTo(els[els.length - 1], items);
    }
  }

  // Images and audio attached to the next message: [{type, fileName, mimeType, content (base64)}].
  let attached = [];
  const MAX_ATTACHED_BYTES = 20 * 1024 * 1024; // the gateway's frame holds them with room to spare
  function showAttached() {
    const p = $("chat-attached");
    p.textContent = attached.length ? `Attached: ${attached.map((a) => a.fileName).join(", ")}` : "";
    p.hidden = attached.length === 0;
  }
  function readAsBase64(file) {
    return new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ""));
      r.onerror = () => reject(r.error || new Error("cannot read the file"));
      r.readAsDataURL(file);
    });
  }
  async function onFilesChosen() {
    const input = $("chat-file");
    for (const f of Array.from(input.files || [])) {
      if (attached.length >= 4) break;
      try {
        const type = (f.type || "").startsWith("audio/") ? "audio" : "image";
        attached.push({ type, fileName: f.name, mimeType: f.type, content: await readAsBase64(f) });
      } catch (e) {
        addMessage("assistant", `Not attached: ${f.name}: ${e.message}`, "failed");
      }
    }
    input.value = "";
    showAttached();
  }
  async function sendChat(ev) {
    ev.preventDefault();
    const input = $("chat-input");
    const text = input.value.trim();
    if (!text && attached.length === 0) return;
    const attachments = attached;
    const size = attachments.reduce((n, a) => n + a.content.length, 0);
    if (size > MAX_ATTACHED_BYTES) {
      addMessage("assistant", "Not sent: the attached files are larger than 20 MiB together; attach fewer or smaller ones", "failed");
      return;
    }
    input.value = "";
    attached = [];
    showAttached();
    addMessage("user", [text, ...attachments.map((a) => `[${a.type}] ${a.fileName}`)].filter(Boolean).join("\n"));
    const runId = uuid();
    const shown = currentSession();
    myRuns.add(runId);
    try {
      const params = { sessionKey: shown, message: text, idempotencyKey: runId };
      if (attachments.length) params.attachments = attachments;
      const ack = await rpc("chat.send", params);
      if (ack && ack.sessionKey) { canonicalKey = ack.sessionKey; canonicalFor = shown; }
    } catch (e) {
      myRuns.delete(runId);
      addMessage("assistant", `Not sent: ${e.message}`, "failed");
    }
  }
  async function loadHistory() {
    try {
      const shown = currentSession();
      const h = await rpc("chat.history", { sessionKey: shown, limit: 200 });
      if (h.sessionKey) { canonicalKey = h.sessionKey; canonicalFor = shown; }
      $("messages").replaceChildren();
      streams.clear();
      for (const m of h.messages || []) {
        const role = m.role === "user" ? "user" : "assistant";
        const t = textOf(m.content);
        const li = addMessage(role, t);
        if (typeof m.runId === "string") li.dataset.runId = m.runId;
        // A message that is only files has no text: hidden until its files are shown.
        if (!t) li.hidden = true;
      }
      autoImages = 0;
      if (h.messages && h.messages.length) showHistoryArtifacts(h.sessionKey || shown);
    } catch (e) { banner(`Cannot load the history: ${e.message}`); }
  }

  // ---------- sessions ----------
  async function refreshSessions() {
    if (!connected) return;
    try {
      const r = await rpc("sessions.list", { limit: 100, includeDerivedTitles: true });
      const body = $("sessions-body");
      body.replaceChildren();
      for (const s of r.sessions || []) {
        const open = el("button", { type: "button", text: "Open", class: "open" });
        open.addEventListener("click", () => { $("session-key").value = s.key; selectTab("chat"); loadHistory(); });
        // Start over (a new transcript; the old one stays on disk) or delete (the transcript
        // is archived): what `/new` and `openclaw sessions delete` do. Both need
        // operator.admin; the gateway refuses otherwise, and says so in the banner.
        const reset = el("button", { type: "button", text: "Reset", class: "reset" });
        reset.addEventListener("click", () => sessionAction(s, "reset"));
        const del = el("button", { type: "button", text: "Delete", class: "bad delete" });
        del.disabled = s.key === "agent:main:main";
        del.title = del.disabled ? "The main session cannot be deleted (reset it instead)" : "";
        del.addEventListener("click", () => sessionAction(s, "delete"));
        body.append(el("tr", { "data-session": s.key, "data-session-id": s.sessionId || "" },
          el("td", {}, el("code", { text: s.key }), s.derivedTitle ? el("div", { class: "muted small", text: s.derivedTitle }) : ""),
          el("td", { text: fmtTime(s.updatedAt) }), el("td", {}, open, " ", reset, " ", del)));
      }
      if (!body.children.length) body.append(el("tr", {}, el("td", { colSpan: 3, class: "muted", text: "No sessions yet — send a chat message." })));
    } catch (e) { banner(`Cannot list sessions: ${e.message}`); }
  }

  // Every word of the query in the user's and the assistant's messages of all sessions
  // (`sessions.search`), newest first; a result opens its session in the chat.
  async function searchSessions(e) {
    e.preventDefault();
    const query = $("session-search").value.trim();
    const status = $("session-search-status");
    const list = $("session-search-results");
    list.replaceChildren();
    list.hidden = true;
    if (!query) { status.hidden = true; return; }
    status.hidden = false;
    status.textContent = "Searching…";
    try {
      const r = await rpc("sessions.search", { query, limit: 25 });
      const hits = r.results || [];
      status.textContent = hits.length
        ? `${hits.length} message(s)${r.truncated ? " (more exist: add words to narrow it)" : ""}, newest first.`
        : "Nothing found: try other words, or fewer.";
      for (const h of hits) {
        const open = el("button", { type: "button", text: "Open", class: "open" });
        open.addEventListener("click", () => { $("session-key").value = h.sessionKey; selectTab("chat"); loadHistory(); });
        list.append(el("li", { "data-session": h.sessionKey },
          el("div", {}, el("code", { text: h.sessionKey }), " ",
            el("span", { class: "muted small", text: `${h.role} · ${fmtTime(h.timestamp)}` }), " ", open),
          el("div", { class: "snippet", text: h.snippet || "" })));
      }
      list.hidden = !hits.length;
    } catch (err) {
      status.textContent = `Cannot search: ${err.message}`;
    }
  }

  async function sessionAction(s, action) {
    const question = action === "reset"
      ? `Start ${s.key} over? The agent forgets the conversation so far (its transcript stays on disk).`
      : `Delete ${s.key}? Its transcript is archived on the gateway host.`;
    if (!window.confirm(question)) return;
    try {
      const params = { key: s.key, ...(s.sessionId ? { expectedSessionId: s.sessionId } : {}) };
      const r = await rpc(`sessions.${action}`, params);
      const archived = (r && r.archived) || [];
      banner(action === "reset" ? `Session ${s.key} reset.`
        : `Session ${s.key} deleted.${archived.length ? ` Transcript archived: ${archived.join(", ")}` : ""}`, "info");
      if ($("session-key").value === s.key) { $("messages").replaceChildren(); }
      refreshSessions();
    } catch (e) { banner(`Cannot ${action} ${s.key}: ${e.message}`); }
  }

  // ---------- scheduled jobs (cron.*) ----------
  const UNITS = { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000 };
  function parseDuration(text) {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/i.exec(text || "");
    const ms = m ? Math.round(Number(m[1]) * UNITS[m[2].toLowerCase()]) : NaN;
    if (!(ms > 0)) throw new Error(`"${text}" is not a duration such as 20m, 2h or 1d`);
    return ms;
  }
  function fmtDuration(ms) {
    for (const [u, n] of [["d", 86400000], ["h", 3600000], ["m", 60000], ["s", 1000]]) if (ms % n === 0) return `${ms / n}${u}`;
    return `${ms}ms`;
  }
  function fmtSchedule(s) {
    if (!s) return "—";
    if (s.kind === "at") return `once at ${fmtTime(Date.parse(s.at))}`;
    if (s.kind === "every") return `every ${fmtDuration(s.everyMs)}`;
    if (s.kind === "cron") return `cron ${s.expr}${s.tz ? ` (${s.tz})` : ""}`;
    return s.kind;
  }
  async function refreshCron() {
    if (!connected) return;
    try {
      const st = await rpc("cron.status", {});
      $("cron-status").textContent = st.enabled
        ? `${st.jobs} job${st.jobs === 1 ? "" : "s"}; the next run ${st.nextWakeAtMs ? fmtTime(st.nextWakeAtMs) : "—"}.`
        : "The scheduler is off (cron.enabled: false): jobs run only with Run now.";
      const r = await rpc("cron.list", { includeDisabled: true, sortBy: "nextRunAtMs" });
      const body = $("cron-body");
      body.replaceChildren();
      for (const j of r.jobs || []) {
        const run = el("button", { type: "button", text: "Run now", class: "run" });
        run.addEventListener("click", () => cronAction(j, "run"));
        const toggle = el("button", { type: "button", text: j.enabled ? "Disable" : "Enable", class: "toggle" });
        toggle.addEventListener("click", () => cronAction(j, "toggle"));
        const rm = el("button", { type: "button", text: "Remove", class: "bad remove" });
        rm.addEventListener("click", () => cronAction(j, "remove"));
        const what = (j.payload && (j.payload.message || j.payload.text)) || "";
        const last = j.lastRunStatus ? `${j.lastRunStatus} ${fmtTime(j.lastRunAtMs)}` : "—";
        const lastCell = el("td", { class: "last", text: last, title: j.lastRunError || j.lastDeliveryError || "" });
        body.append(el("tr", { "data-job": j.id, "data-job-name": j.name },
          el("td", {}, el("strong", { text: j.name }), el("div", { class: "muted small", text: what })),
          el("td", { text: fmtSchedule(j.schedule) }),
          el("td", { class: "next", text: j.enabled ? fmtTime(j.nextRunAtMs) : "disabled" }),
          lastCell, el("td", {}, run, " ", toggle, " ", rm)));
      }
      if (!body.children.length) body.append(el("tr", {}, el("td", { colSpan: 5, class: "muted", text: "No scheduled jobs. Add one below, or ask the agent: “remind me in 20 minutes …”." })));
    } catch (e) { banner(`Cannot list scheduled jobs: ${e.message}`); }
  }
  async function cronAction(job, action) {
    try {
      if (action === "run") {
        const r = await rpc("cron.run", { id: job.id });
        banner(r.enqueued ? `Job ${job.name} started.` : `Job ${job.name} not started: ${r.reason}.`, "info");
      } else if (action === "toggle") {
        await rpc("cron.update", { id: job.id, patch: { enabled: !job.enabled } });
      } else {
        if (!window.confirm(`Remove the job ${job.name}?`)) return;
        await rpc("cron.remove", { id: job.id });
        banner(`Job ${job.name} removed.`, "info");
      }
      refreshCron();
    } catch (e) { banner(`Cannot ${action === "toggle" ? "change" : action} ${job.name}: ${e.message}`); }
  }
  async function addCron(ev) {
    ev.preventDefault();
    try {
      const kind = $("cron-kind").value, when = $("cron-when").value.trim(), tz = $("cron-tz").value.trim();
      let schedule;
      if (kind === "in") schedule = { kind: "at", at: new Date(Date.now() + parseDuration(when)).toISOString() };
      else if (kind === "at") {
        const t = new Date(when);
        if (isNaN(t.getTime())) throw new Error(`"${when}" is not a date and time such as 2026-12-24T18:00`);
        schedule = { kind: "at", at: t.toISOString() };
      } else if (kind === "every") schedule = { kind: "every", everyMs: parseDuration(when) };
      else schedule = { kind: "cron", expr: when, ...(tz ? { tz } : {}) };
      const deliver = $("cron-deliver").value, to = $("cron-to").value.trim();
      if (deliver === "telegram" && !to) throw new Error("give the Telegram chat id to answer to");
      const delivery = deliver === "none" ? { mode: "none" }
        : deliver === "telegram" ? { mode: "announce", channel: "telegram", to } : { mode: "announce" };
      const job = await rpc("cron.add", {
        name: $("cron-name").value.trim(), schedule, sessionTarget: "isolated", wakeMode: "now",
        payload: { kind: "agentTurn", message: $("cron-message").value.trim() }, delivery,
      });
      banner(`Job ${job.name} added; next run ${fmtTime(job.nextRunAtMs)}.`, "info");
      $("cron-form").reset();
      refreshCron();
    } catch (e) { banner(`Cannot add the job: ${e.message}`); }
  }

  // ---------- nodes ----------
  let nodes = [];
  async function refreshNodes() {
    if (!connected) return;
    try {
      const r = await rpc("node.list", {});
      nodes = r.nodes || [];
      const body = $("nodes-body");
      body.replaceChildren();
      for (const n of nodes) {
        const state = (n.connected ? "connected" : "offline") + (n.approvalState && n.approvalState !== "approved" ? ` · ${n.approvalState}` : "");
        body.append(el("tr", { "data-node": n.nodeId },
          el("td", {}, el("div", { text: n.displayName || n.clientId || "node" }), el("code", { class: "small", text: n.nodeId.slice(0, 16) + "…" })),
          el("td", { text: n.platform || "—" }), el("td", { text: state }),
          el("td", { text: (n.commands || []).join(", ") || (n.declaredCommands ? `(awaiting approval: ${n.declaredCommands.join(", ")})` : "—") })));
      }
      if (!nodes.length) body.append(el("tr", {}, el("td", { colSpan: 4, class: "muted", text: "No nodes. Start one with `openclaw node run`." })));
      const sel = $("invoke-node");
      const keep = sel.value;
      sel.replaceChildren();
      for (const n of nodes.filter((x) => x.connected)) sel.append(el("option", { value: n.nodeId, text: n.displayName || n.nodeId }));
      if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
      fillCommands();
    } catch (e) { banner(`Cannot list nodes: ${e.message}`); }
  }
  function fillCommands() {
    const n = nodes.find((x) => x.nodeId === $("invoke-node").value);
    const sel = $("invoke-command");
    const keep = sel.value;
    sel.replaceChildren();
    for (const c of (n && n.commands) || []) sel.append(el("option", { value: c, text: c }));
    if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
    $("invoke-run").disabled = !sel.options.length;
  }
  async function invoke(ev) {
    ev.preventDefault();
    const out = $("invoke-result");
    out.hidden = false;
    let params;
    try { params = JSON.parse($("invoke-params").value || "{}"); } catch (e) { out.dataset.state = "error"; out.textContent = `Params are not JSON: ${e.message}`; return; }
    out.dataset.state = "running";
    out.textContent = "…";
    try {
      const r = await rpc("node.invoke", { nodeId: $("invoke-node").value, command: $("invoke-command").value, params, timeoutMs: 15000, idempotencyKey: uuid() });
      out.dataset.state = "ok";
      out.textContent = JSON.stringify(r.payload !== undefined ? r.payload : r, null, 2);
    } catch (e) {
      out.dataset.state = "error";
      out.textContent = `Failed: ${e.message}`;
    }
  }

  // ---------- setup codes (device.pair.setupCode) ----------
  async function makeSetupCode(e) {
    e.preventDefault();
    const params = {};
    const url = $("setup-url").value.trim();
    if (url) params.publicUrl = url;
    const access = $("setup-access").value;
    if (access) params.bootstrapProfile = access;
    $("setup-make").disabled = true;
    try {
      const r = await rpc("device.pair.setupCode", params);
      $("setup-code").textContent = String(r.setupCode || "");
      // The QR code the gateway drew (a PNG data URL, nothing else is shown).
      const qr = $("setup-qr");
      const png = typeof r.qrDataUrl === "string" && r.qrDataUrl.startsWith("data:image/png;base64,");
      if (png) qr.src = r.qrDataUrl;
      else qr.removeAttribute("src");
      qr.hidden = !png;
      const how = r.access === "node" ? "node host only" : r.access === "limited" ? "limited (no admin)" : "full";
      const downgraded = r.accessDowngraded ? " (plaintext URL: limited; use wss:// for full)" : "";
      $("setup-meta").textContent = `Single use · expires ${fmtTime(r.expiresAtMs)} · ${r.gatewayUrl || "?"} · access: ${how}${downgraded}`;
      $("setup-result").hidden = false;
      if ($("banner").textContent.startsWith("New setup code:")) banner("");
    } catch (err) {
      $("setup-result").hidden = true;
      banner(`New setup code: ${err.message}`);
    } finally {
      $("setup-make").disabled = false;
    }
  }

  // ---------- approvals ----------
  async function decide(method, requestId, btn) {
    btn.disabled = true;
    try { await rpc(method, { requestId }); } catch (e) { banner(`${method}: ${e.message}`); }
    refreshApprovals();
    refreshNodes();
  }
  function approvalItem(kind, p, title, detail) {
    const approve = el("button", { type: "button", class: "ok", text: "Approve" });
    const reject = el("button", { type: "button", class: "bad", text: "Reject" });
    approve.addEventListener("click", () => decide(`${kind}.pair.approve`, p.requestId, approve));
    reject.addEventListener("click", () => decide(`${kind}.pair.reject`, p.requestId, reject));
    return el("li", { "data-request-id": p.requestId, "data-kind": kind },
      el("div", {}, el("strong", { text: title }), el("div", { class: "muted small", text: detail })),
      el("div", { class: "actions" }, approve, reject));
  }
  // A paired device: its name (the label an operator gave it, else its own), roles and when
  // it was last seen; renamed (device.pair.rename) or unpaired (device.pair.remove) here.
  // Names are the owner's and the device's own text: only ever textContent.
  function pairedItem(p) {
    const name = p.operatorLabel || p.displayName || p.clientId || "device";
    const rename = el("button", { type: "button", class: "rename", text: "Rename" });
    const remove = el("button", { type: "button", class: "bad", text: "Remove" });
    rename.addEventListener("click", async () => {
      const label = window.prompt(`A name for ${name} (1-64 characters):`, name);
      if (label === null || !label.trim()) return;
      rename.disabled = true;
      try { await rpc("device.pair.rename", { deviceId: p.deviceId, label: label.trim() }); } catch (e) { banner(`device.pair.rename: ${e.message}`); }
      rename.disabled = false;
      refreshApprovals();
    });
    remove.addEventListener("click", async () => {
      if (!window.confirm(`Unpair ${name}? It is disconnected and must be approved again to come back.`)) return;
      remove.disabled = true;
      try { await rpc("device.pair.remove", { deviceId: p.deviceId }); } catch (e) { banner(`device.pair.remove: ${e.message}`); }
      refreshApprovals();
    });
    const roles = (p.roles || []).join(", ") || p.role || "?";
    const seen = p.connected ? "connected now" : `last seen ${fmtTime(p.lastSeenAtMs)}`;
    return el("li", { "data-device-id": p.deviceId, "data-kind": "paired" },
      el("div", {}, el("strong", { class: "device-name", text: name }),
        el("div", { class: "muted small", text: `${roles} · ${p.platform || p.clientId || "?"} · ${seen} · device ${String(p.deviceId).slice(0, 12)}…` })),
      el("div", { class: "actions" }, rename, remove));
  }
  // An exec approval: the command exactly as it will run (as text, never markup), where,
  // and the decisions the gateway offers for it.
  function execItem(a) {
    const r = a.request || {};
    const allowed = r.allowedDecisions || ["allow-once", "deny"];
    const labels = { "allow-once": ["ok", "Allow once"], "allow-always": ["ok", "Allow always"], "deny": ["bad", "Deny"] };
    const buttons = allowed.filter((d) => labels[d]).map((d) => {
      const b = el("button", { type: "button", class: labels[d][0], text: labels[d][1], "data-decision": d });
      b.addEventListener("click", async () => {
        for (const x of buttons) x.disabled = true;
        try { await rpc("exec.approval.resolve", { id: a.id, decision: d }); } catch (e) { banner(`exec.approval.resolve: ${e.message}`); }
        refreshApprovals();
      });
      return b;
    });
    const cmd = el("pre", { class: "small", text: String(r.command || "") });
    return el("li", { "data-approval-id": a.id, "data-kind": "exec" },
      el("div", {}, el("strong", { text: `On the ${r.host || "gateway"} host` }), cmd,
        el("div", { class: "muted small", text: `in ${r.cwd || "?"} · session ${r.sessionKey || "?"} · expires ${fmtTime(a.expiresAtMs)}` })),
      el("div", { class: "actions" }, ...buttons));
  }
  async function refreshApprovals() {
    if (!connected) return;
    try {
      const [dev, nod, ex] = await Promise.all([rpc("device.pair.list", {}), rpc("node.pair.list", {}),
        rpc("exec.approval.list", {}).catch(() => [])]);
      const x = $("pending-exec"); x.replaceChildren();
      for (const a of ex || []) x.append(execItem(a));
      if (!x.children.length) x.append(el("li", { class: "muted", text: "No shell commands waiting." }));
      const d = $("pending-devices"); d.replaceChildren();
      for (const p of dev.pending || []) {
        d.append(approvalItem("device", p, `${p.displayName || p.clientId} (${p.role})`,
          `from ${p.remoteIp || "?"} · ${p.platform || "?"} · scopes ${(p.scopes || []).join(", ") || "none"} · device ${String(p.deviceId).slice(0, 12)}… · ${fmtTime(p.ts)}`));
      }
      if (!d.children.length) d.append(el("li", { class: "muted", text: "No devices waiting." }));
      const pd = $("paired-devices"); pd.replaceChildren();
      for (const p of dev.paired || []) pd.append(pairedItem(p));
      if (!pd.children.length) pd.append(el("li", { class: "muted", text: "No paired devices." }));
      const n = $("pending-nodes"); n.replaceChildren();
      for (const p of nod.pending || []) {
        n.append(approvalItem("node", p, p.displayName || p.nodeId, `commands: ${(p.commands || []).join(", ") || "none"} · ${fmtTime(p.ts)}`));
      }
      if (!n.children.length) n.append(el("li", { class: "muted", text: "No node commands waiting." }));
      const count = (dev.pending || []).length + (nod.pending || []).length + (ex || []).length;
      $("approvals-count").hidden = count === 0;
      $("approvals-count").textContent = String(count);
    } catch (e) { banner(`Cannot list approvals: ${e.message}`); }
  }

  // ---------- the agent's workspace files (agents.files.*) ----------
  // OpenClaw's "Agents → Files": the bootstrap files every run's system prompt carries. The
  // content is the agent's and the owner's own text (it may hold markup): it only ever goes
  // into the textarea's value and textContent.
  // The agent whose files the tab shows: the gateway's default agent (agents.list's
  // defaultId) until one is picked; several agents get a picker.
  let agentId = null;
  let agentPicked = false;
  const agentFile = { name: null, hash: null, missing: false, loaded: "", conflict: false, busy: false, loading: false };
  let agentListSeq = 0;
  let agentOpenSeq = 0;
  const fmtSize = (n) => (typeof n !== "number" ? "" : n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KB`);
  const agentDirty = () => agentFile.name !== null && $("agent-editor").value !== agentFile.loaded;
  function agentStatus(state, text) {
    const s = $("agent-status");
    s.dataset.state = state || "";
    s.textContent = text || "";
  }
  function agentButtons() {
    $("agent-save").disabled = agentFile.name === null || agentFile.busy;
    $("agent-reload").hidden = agentFile.name === null;
    $("agent-reload").disabled = agentFile.busy;
    $("agent-overwrite").hidden = !agentFile.conflict;
    $("agent-overwrite").disabled = agentFile.busy;
    $("agent-editor").disabled = agentFile.name === null;
    // Not typed into while a file loads or saves (the answer would replace or miss the edits).
    $("agent-editor").readOnly = agentFile.busy || agentFile.loading;
  }
  // Whether the open file's unsaved edits may be dropped (asks when there are some).
  function agentMayLeave(what) {
    if (!agentDirty()) return true;
    return window.confirm(`${agentFile.name} has unsaved edits. ${what || "Leave it"} and discard them?`);
  }
  function agentMarkCurrent() {
    for (const b of document.querySelectorAll("#agent-files button")) {
      if (b.dataset.name === agentFile.name) b.setAttribute("aria-current", "true"); else b.removeAttribute("aria-current");
    }
  }
  // "1.7 KB" (with `when`: "1.7 KB · changed <time>"), or why there is no file.
  function agentMeta(f, when) {
    if (f.missing) return f.expectedAbsent ? "not created yet" : "missing";
    const changed = when && typeof f.updatedAtMs === "number" ? `changed ${fmtTime(f.updatedAtMs)}` : "";
    return [fmtSize(f.size), changed].filter(Boolean).join(" · ");
  }
  // Lists the agents in the picker (names are text); keeps the picked one while it exists.
  async function refreshAgentPicker() {
    const r = await rpc("agents.list", {});
    const agents = Array.isArray(r.agents) ? r.agents : [];
    if (!agentPicked || !agents.some((a) => a.id === agentId)) {
      agentId = r.defaultId || (agents[0] && agents[0].id) || "main";
    }
    const pick = $("agent-pick");
    pick.replaceChildren(...agents.map((a) => {
      const o = el("option", { text: a.name && a.name !== a.id ? `${a.name} (${a.id})` : a.id });
      o.value = a.id;
      return o;
    }));
    pick.value = agentId;
    pick.parentElement.querySelector("label").hidden = agents.length < 2;
    pick.hidden = agents.length < 2;
    $("agent-delete").hidden = agents.length < 2;
    return agentId;
  }
  // Closes the open file (the caller asked about unsaved edits) and shows agent `id`'s files.
  function showAgent(id, picked) {
    agentId = id;
    agentPicked = picked;
    ++agentOpenSeq;
    showAgentFile({ name: null, content: "", missing: true });
    $("agent-file-name").textContent = "Choose a file";
    agentStatus("", "");
    $("agent-files").replaceChildren();
    return refreshAgentFiles();
  }
  // agents.create (operator.admin): a name asked for; the new agent is then shown.
  async function createAgent() {
    if (agentFile.busy || !agentMayLeave("Create an agent")) return;
    const name = window.prompt("Name of the new agent (its id is made from it: \"Work desk\" is work-desk):", "");
    if (name === null || !name.trim()) return;
    try {
      const r = await rpc("agents.create", { name: name.trim() });
      await showAgent(r.agentId, true);
      agentStatus("ok", `Created ${r.agentId}: its workspace is ${r.workspace}.`);
    } catch (e) { banner(`Cannot create the agent: ${e.message}`); }
  }
  // agents.delete (operator.admin), after a confirmation naming what happens to its files.
  async function deleteAgent() {
    const id = agentId;
    if (agentFile.busy || !agentMayLeave(`Delete ${id}`)) return;
    if (!window.confirm(`Delete the agent ${id}? Its bindings and scheduled jobs go with it; its workspace and sessions move to the trash (~/.Trash) on the gateway's host.`)) return;
    try {
      const r = await rpc("agents.delete", { agentId: id });
      await showAgent(null, false);
      const failed = Array.isArray(r.failed) ? r.failed.length : 0;
      agentStatus(failed ? "error" : "ok", failed ? `Deleted ${id}; ${failed} of its paths could not be moved to the trash.` : `Deleted ${id}; its files are in the trash.`);
    } catch (e) { banner(`Cannot delete ${id}: ${e.message}`); }
  }
  async function refreshAgentFiles() {
    if (!connected) return;
    const seq = ++agentListSeq;
    try {
      const id = await refreshAgentPicker();
      if (seq !== agentListSeq) return;
      // IDENTITY.md is not in OpenClaw's list, but is one of the prompt's files: asked for by name.
      const [r, identity] = await Promise.all([
        rpc("agents.files.list", { agentId: id }),
        rpc("agents.files.get", { agentId: id, name: "IDENTITY.md" }).then((g) => g.file, () => ({ name: "IDENTITY.md" })),
      ]);
      if (seq !== agentListSeq || id !== agentId) return;
      $("agent-workspace").textContent = r.workspace || "—";
      const files = (r.files || []).slice();
      if (!files.some((f) => f.name === "IDENTITY.md")) {
        const soul = files.findIndex((f) => f.name === "SOUL.md");
        files.splice(soul < 0 ? files.length : soul + 1, 0, identity);
      }
      const box = $("agent-files");
      box.replaceChildren();
      for (const f of files) {
        const b = el("button", { type: "button", class: "file", "data-name": f.name, "data-missing": String(Boolean(f.missing)), title: [f.path, agentMeta(f, true)].filter(Boolean).join("\n") },
          el("span", { class: "name", text: f.name }), el("span", { class: "muted small meta", text: agentMeta(f) }));
        b.addEventListener("click", () => openAgentFile(f.name));
        box.append(b);
      }
      agentMarkCurrent();
    } catch (e) { banner(`Cannot list the agent's files: ${e.message}`); }
  }
  function showAgentFile(f) {
    agentFile.name = f.name;
    agentFile.hash = f.hash || null;
    agentFile.missing = Boolean(f.missing);
    agentFile.loaded = typeof f.content === "string" ? f.content : "";
    agentFile.conflict = false;
    $("agent-editor").value = agentFile.loaded;
    $("agent-file-name").textContent = f.name;
    $("agent-file-name").title = f.path || "";
    $("agent-file-meta").textContent = f.missing ? "" : agentMeta(f, true);
    agentMarkCurrent();
    agentButtons();
  }
  // Opens `name` (asking first when the open file has unsaved edits; `force`: reload it).
  async function openAgentFile(name, force) {
    if (agentFile.busy) return;
    if (name === agentFile.name && !force && agentDirty()) return; // already open, edits kept
    if (!agentMayLeave(name === agentFile.name ? "Reload it" : `Open ${name}`)) return;
    const seq = ++agentOpenSeq;
    agentFile.loading = true;
    agentButtons();
    agentStatus("loading", `Loading ${name}…`);
    try {
      const r = await rpc("agents.files.get", { agentId, name });
      if (seq !== agentOpenSeq) return;
      agentFile.loading = false;
      showAgentFile(r.file);
      agentStatus(r.file.missing ? "missing" : "", r.file.missing ? `${name} does not exist yet: Save creates it.` : "");
    } catch (e) {
      if (seq !== agentOpenSeq) return;
      agentFile.loading = false;
      agentButtons();
      agentStatus("error", `Cannot open ${name}: ${e.message}`);
    }
  }
  // Saves the editor's text; with `overwrite`, whatever is on disk now is replaced.
  async function saveAgentFile(overwrite) {
    const name = agentFile.name;
    if (name === null || agentFile.busy) return;
    // After a conflict the status says "save again to overwrite": Save then does so.
    const force = overwrite || agentFile.conflict;
    const content = $("agent-editor").value;
    const params = { agentId, name, content };
    if (!force && !agentFile.missing && agentFile.hash) params.expectedHash = agentFile.hash;
    agentFile.busy = true;
    agentButtons();
    agentStatus("saving", `Saving ${name}…`);
    try {
      const r = await rpc("agents.files.set", params);
      agentFile.hash = (r.file && r.file.hash) || null;
      agentFile.missing = false;
      agentFile.loaded = content;
      agentFile.conflict = false;
      $("agent-file-meta").textContent = r.file ? agentMeta(r.file, true) : "";
      agentStatus("ok", `Saved ${name}.`);
      refreshAgentFiles();
    } catch (e) {
      const err = e.error || {};
      const d = err.details || {};
      if (d.type === "agent_file_conflict") {
        agentFile.conflict = true;
        agentStatus("conflict", `${name} changed on disk since you opened it: reload to see the new version, or save again to overwrite.`);
      } else if (d.code === "MISSING_SCOPE") {
        agentStatus("error", `Cannot save ${name}: ${e.message}. Editing the workspace needs operator.admin, which this browser was not given.`);
      } else {
        agentStatus("error", `Cannot save ${name}: ${e.message}`);
      }
    } finally {
      agentFile.busy = false;
      agentButtons();
    }
  }
  function onAgentInput() {
    if (agentFile.conflict || agentFile.busy) return;
    if (agentDirty()) agentStatus("dirty", "Unsaved edits.");
    else if ($("agent-status").dataset.state === "dirty") agentStatus("", "");
  }
  // Back to the text last loaded or saved (leaving the tab after "discard them?").
  function discardAgentEdits() {
    if (agentFile.name === null || agentFile.busy) return;
    $("agent-editor").value = agentFile.loaded;
    agentFile.conflict = false;
    if (["dirty", "conflict"].includes($("agent-status").dataset.state)) agentStatus("", "");
    agentButtons();
  }
  function closeAgentFile() {
    agentOpenSeq++;
    Object.assign(agentFile, { name: null, hash: null, missing: false, loaded: "", conflict: false, busy: false, loading: false });
    $("agent-editor").value = "";
    $("agent-file-name").textContent = "Choose a file";
    $("agent-file-meta").textContent = "";
    $("agent-files").replaceChildren();
    $("agent-workspace").textContent = "—";
    agentStatus("", "");
    agentButtons();
  }

  // ---------- health ----------
  async function refreshHealth() {
    if (!connected) return;
    try {
      const h = await rpc("health", {});
      const dl = $("health-summary"); dl.replaceChildren();
      const rows = [["Status", h.ok === false ? "unhealthy" : "ok"], ["Server", hello && hello.server ? `openclaw-rs ${hello.server.version || "?"}` : "—"],
        ["Signed in with", (hello && hello.auth && hello.auth.method) || "—"],
        ["Scopes", (hello && hello.auth && (hello.auth.scopes || []).join(", ")) || "none"]];
      for (const [k, v] of Object.entries(h)) if (["string", "number", "boolean"].includes(typeof v) && k !== "ok") rows.push([k, String(v)]);
      for (const [k, v] of rows) dl.append(el("dt", { text: k }), el("dd", { text: v }));
      $("health-raw").textContent = JSON.stringify(h, null, 2);
    } catch (e) { banner(`Cannot read health: ${e.message}`); }
    refreshStability();
  }

  // The stability ring (diagnostics.stability, operator.read): shown as text only.
  async function refreshStability() {
    try {
      const s = await rpc("diagnostics.stability", { limit: 30 });
      const types = Object.entries((s.summary && s.summary.byType) || {})
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 8)
        .map(([t, n]) => `${t}=${n}`).join(", ");
      $("stability-summary").textContent = `Events: ${s.count}/${s.capacity}${s.dropped ? ` · dropped ${s.dropped}` : ""}${types ? ` · ${types}` : ""}`;
      const keys = ["level", "action", "outcome", "surface", "channel", "deliveryKind", "target", "toolName", "reason", "exitCode", "count"];
      const lines = (s.events || []).map((e) => {
        const parts = [new Date(e.ts).toISOString(), `#${e.seq}`, e.type];
        for (const k of keys) if (e[k] !== undefined) parts.push(`${k}=${e[k]}`);
        if (e.model) parts.push(`model=${e.provider ? `${e.provider}/` : ""}${e.model}`);
        if (e.durationMs !== undefined) parts.push(`${e.durationMs}ms`);
        if (e.memory && e.memory.rssBytes) parts.push(`rss=${(e.memory.rssBytes / 1048576).toFixed(1)} MiB`);
        return parts.join(" ");
      });
      $("stability-events").textContent = lines.length ? lines.join("\n") : "No events yet.";
    } catch (e) {
      $("stability-summary").textContent = `Not available: ${e.message}`;
      $("stability-events").textContent = "";
    }
  }

  // ---------- usage ----------
  // usage.cost (operator.read): the days with model calls, newest first, and the totals.
  const fmtInt = (n) => Number(n || 0).toLocaleString("en-US");
  const fmtUsd = (n, priced) => (priced ? `$${Number(n || 0).toFixed(4)}` : "n/a");
  async function refreshUsage() {
    if (!connected) return;
    try {
      const u = await rpc("usage.cost", { days: 30, agentScope: "all" });
      const t = u.totals || {};
      const unpriced = Number(t.missingCostEntries || 0);
      const dl = $("usage-summary"); dl.replaceChildren();
      const rows = [["Tokens", fmtInt(t.totalTokens)], ["Input / output", `${fmtInt(t.input)} / ${fmtInt(t.output)}`],
        ["Cost", Number(t.totalCost || 0) > 0 || !unpriced ? fmtUsd(t.totalCost, true) : "n/a (no prices configured)"]];
      if (unpriced) rows.push(["Answers without prices", fmtInt(unpriced)]);
      if (u.cacheStatus && u.cacheStatus.status === "partial") rows.push(["Note", "partial: too many transcripts to read them all"]);
      for (const [k, v] of rows) dl.append(el("dt", { text: k }), el("dd", { text: v }));
      const body = $("usage-body"); body.replaceChildren();
      const days = (u.daily || []).filter((d) => Number(d.totalTokens || 0) > 0).reverse();
      for (const d of days) {
        const priced = Number(d.totalCost || 0) > 0 || !Number(d.missingCostEntries || 0);
        body.append(el("tr", { "data-day": String(d.date) },
          el("td", { text: String(d.date) }), el("td", { text: fmtInt(d.input) }), el("td", { text: fmtInt(d.output) }),
          el("td", { text: fmtInt(d.cacheRead) }), el("td", { text: fmtInt(d.cacheWrite) }),
          el("td", { text: fmtInt(d.totalTokens) }), el("td", { text: fmtUsd(d.totalCost, priced) })));
      }
      if (!body.children.length) body.append(el("tr", {}, el("td", { colSpan: 7, class: "muted", text: "No model calls in the last 30 days." })));
      // sessions.usage (operator.read): the same 30 days per session, as text only.
      const s = await rpc("sessions.usage", { range: "30d", agentScope: "all", limit: 25 });
      const sb = $("usage-sessions-body"); sb.replaceChildren();
      for (const row of s.sessions || []) {
        const su = row.usage || {};
        const tokens = Number(su.totalTokens || 0);
        const priced = Number(su.totalCost || 0) > 0 || !Number(su.missingCostEntries || 0);
        const p95ms = su.latency ? Number(su.latency.p95Ms || 0) : null;
        const p95 = p95ms === null ? "-" : p95ms < 1000 ? `${Math.round(p95ms)} ms` : `${(p95ms / 1000).toFixed(1)} s`;
        sb.append(el("tr", { "data-key": String(row.key) },
          el("td", { text: String(row.label || row.key) }), el("td", { text: String(row.channel || "-") }),
          el("td", { text: fmtInt(su.messageCounts ? su.messageCounts.total : 0) }), el("td", { text: fmtInt(su.totalTokens) }),
          el("td", { text: tokens ? fmtUsd(su.totalCost, priced) : "-" }), el("td", { text: p95 })));
      }
      if (!sb.children.length) sb.append(el("tr", {}, el("td", { colSpan: 6, class: "muted", text: "No session was active in the last 30 days." })));
    } catch (e) { banner(`Cannot read usage: ${e.message}`); }
  }

  // ---------- audit ----------
  // audit.activity.list (operator.read): newest first, 50 a page; "Older records" follows
  // the cursor. Every field is shown as text.
  let auditCursor = null;
  async function refreshAudit(older) {
    if (!connected) return;
    const params = { limit: 50 };
    const kind = $("audit-kind").value, status = $("audit-status").value, run = $("audit-run").value.trim();
    if (kind) params.kind = kind;
    if (status) params.status = status;
    if (run) params.runId = run;
    if (older === true && auditCursor) params.cursor = auditCursor;
    try {
      const page = await rpc("audit.activity.list", params);
      const body = $("audit-body");
      if (older !== true) body.replaceChildren();
      for (const e of page.events || []) {
        const action = e.toolName ? `${e.action}:${e.toolName}` : e.action;
        body.append(el("tr", { "data-seq": String(e.sequence), "data-status": String(e.status) },
          el("td", { text: new Date(e.occurredAt).toISOString() }), el("td", { text: String(e.kind) }),
          el("td", { class: "status", text: e.errorCode ? `${e.status} (${e.errorCode})` : String(e.status) }),
          el("td", { text: e.agentId || "-" }), el("td", { text: e.runId || "-" }), el("td", { text: String(action) }),
          el("td", { text: [e.direction, e.channel].filter(Boolean).join(" ") || "-" })));
      }
      if (!body.children.length) body.append(el("tr", {}, el("td", { colSpan: 7, class: "muted", text: "No records." })));
      auditCursor = page.nextCursor || null;
      $("audit-more").hidden = !auditCursor;
    } catch (e) { banner(`Cannot read the audit ledger: ${e.message}`); }
  }

  // gateway.restart.request (operator.admin): the gateway waits for its work, then restarts
  // in place; the page reconnects by itself (close 1012).
  async function restartGateway() {
    let pre = null;
    try { pre = await rpc("gateway.restart.preflight", {}); } catch (e) { /* asked below anyway */ }
    const busy = pre && pre.safe === false ? `\n\n${pre.summary}: the restart waits for it (at most 5 minutes).` : "";
    if (!window.confirm(`Restart the gateway?${busy}`)) return;
    try {
      const r = await rpc("gateway.restart.request", { reason: "control ui" });
      banner(r.status === "deferred" ? `Restart scheduled: ${r.preflight && r.preflight.summary}` : "Gateway restarting — reconnecting…", "info");
    } catch (e) { banner(`Cannot restart the gateway: ${e.message}`); }
  }

  function refreshAll() { refreshSessions(); refreshNodes(); refreshApprovals(); refreshHealth(); }

  // ---------- tabs & wiring ----------
  function selectTab(name) {
    const agentShown = !document.querySelector('.panel[data-panel="agent"]').hidden;
    if (agentShown && name !== "agent") {
      if (!agentMayLeave("Leave the Agent tab")) return false;
      discardAgentEdits();
    }
    for (const b of document.querySelectorAll(".tabs button")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
    for (const p of document.querySelectorAll(".panel")) p.hidden = p.dataset.panel !== name;
    if (name === "cron") refreshCron();
    if (name === "usage") refreshUsage();
    if (name === "audit") refreshAudit();
    if (name === "agent" && !agentShown) {
      refreshAgentFiles();
      // The open file may have changed meanwhile: shown as it is now.
      if (agentFile.name !== null) openAgentFile(agentFile.name, true);
    }
    return true;
  }

  document.addEventListener("DOMContentLoaded", async () => {
    for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => selectTab(b.dataset.tab));
    const refreshers = { sessions: refreshSessions, nodes: refreshNodes, cron: refreshCron, approvals: refreshApprovals, agent: refreshAgentFiles, usage: refreshUsage, audit: () => refreshAudit(), health: refreshHealth };
    for (const b of document.querySelectorAll("[data-refresh]")) b.addEventListener("click", () => refreshers[b.dataset.refresh]());
    $("chat-form").addEventListener("submit", sendChat);
    $("chat-attach").addEventListener("click", () => $("chat-file").click());
    $("chat-file").addEventListener("change", onFilesChosen);
    $("chat-input").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) sendChat(e); });
    $("load-history").addEventListener("click", loadHistory);
    $("session-search-form").addEventListener("submit", searchSessions);
    $("gateway-restart").addEventListener("click", restartGateway);
    $("invoke-node").addEventListener("change", fillCommands);
    $("invoke-form").addEventListener("submit", invoke);
    $("cron-form").addEventListener("submit", addCron);
    $("audit-form").addEventListener("submit", (e) => { e.preventDefault(); refreshAudit(); });
    $("audit-more").addEventListener("click", () => refreshAudit(true));
    $("setup-form").addEventListener("submit", makeSetupCode);
    $("agent-pick").addEventListener("change", () => {
      const next = $("agent-pick").value;
      if (next === agentId) return;
      if (agentFile.busy || !agentMayLeave(`Switch to ${next}`)) {
        $("agent-pick").value = agentId;
        return;
      }
      showAgent(next, true);
    });
    $("agent-new").addEventListener("click", createAgent);
    $("agent-delete").addEventListener("click", deleteAgent);
    $("agent-save").addEventListener("click", () => saveAgentFile(false));
    $("agent-overwrite").addEventListener("click", () => saveAgentFile(true));
    $("agent-reload").addEventListener("click", () => { if (agentFile.name !== null) openAgentFile(agentFile.name, true); });
    $("agent-editor").addEventListener("input", onAgentInput);
    $("agent-editor").addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "s") { e.preventDefault(); saveAgentFile(false); }
    });
    // Closing or reloading the page with unsaved edits: the browser's own "leave site?" prompt.
    window.addEventListener("beforeunload", (e) => { if (agentDirty()) { e.preventDefault(); e.returnValue = ""; } });
    $("login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const kind = document.querySelector('input[name="kind"]:checked').value;
      const secret = $("secret").value;
      signInStarted = true;
      creds = secret ? { kind, secret, remember: $("remember").checked } : null;
      if (!$("remember").checked) { localStorage.removeItem(STORE_KEY); idbPut("deviceToken", undefined).catch(() => {}); }
      loginError("");
      connect();
    });
    $("sign-out").addEventListener("click", () => {
      if (!agentMayLeave("Sign out")) return;
      closeAgentFile();
      userClosed = true;
      creds = null; deviceToken = null;
      localStorage.removeItem(STORE_KEY);
      idbPut("deviceToken", undefined).catch(() => {});
      clearTimeout(reconnectTimer);
      if (ws) ws.close(1000, "signed out");
      showApp(false);
      banner("");
      $("secret").value = "";
    });
    try { await loadDevice(); } catch (e) { loginError(e.message); }
    if (signInStarted) return;
    if (LINK) {
      // A link is what the user just asked for: it wins over what this browser remembers.
      let saved = null;
      try { saved = (await idbGet("deviceToken")) || null; } catch (_) { saved = null; }
      if (signInStarted) return;
      deviceToken = saved;
      if (LINK.bootstrap) { bootstrapToken = LINK.bootstrap; connect(); return; }
      if (LINK.token) { creds = { kind: "token", secret: LINK.token, remember: false, fromLink: true }; connect(); return; }
      loginError("The sign-in link is malformed. Run `openclaw dashboard` on the gateway host for a new one, or sign in with the gateway token or password.");
      if (deviceToken) connect();
      return;
    }
    creds = loadRemembered();
    if (creds) {
      $("remember").checked = true;
      for (const r of document.querySelectorAll('input[name="kind"]')) r.checked = r.value === creds.kind;
      connect();
    } else {
      let saved = null;
      try { saved = (await idbGet("deviceToken")) || null; } catch (_) { saved = null; }
      if (signInStarted) return;
      deviceToken = saved;
      if (deviceToken) connect();
    }
  });
})();
