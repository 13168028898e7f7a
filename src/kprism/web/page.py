"""The dashboard's one page: HTML with its CSS and JavaScript inlined.

No build step, no CDN, no web fonts: the page loads nothing but itself and then talks
to ``/api`` (the Content-Security-Policy below enforces that). It is a Python module
rather than a static file so it ships inside the wheel without package-data settings.

The page keeps no release logic: it renders what ``/api/apps/NS/APP`` returns (see
:mod:`kprism.web.views`), polls it every second, and turns buttons into POSTs. Elements
the browser tests use carry ``data-testid`` attributes.
"""

from __future__ import annotations

import base64
import hashlib

CSS = r"""
:root {
  --bg: #f4f6fa; --card: #fff; --ink: #1b2330; --muted: #647084; --line: #e1e6ef;
  --accent: #3656d6; --ok: #16803c; --warn: #b26b00; --bad: #c0262d; --run: #0b7a99;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header { display: flex; align-items: center; gap: 18px; padding: 10px 22px;
  background: #151b2b; color: #e8ecf5; position: sticky; top: 0; z-index: 5; }
.brand { font-weight: 700; font-size: 16px; letter-spacing: .2px; white-space: nowrap; }
.brand small { font-weight: 400; color: #9aa6c0; margin-left: 6px; }
.crumbs { flex: 1; color: #9aa6c0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.crumbs a { color: #dfe6ff; text-decoration: none; }
.crumbs a:hover { text-decoration: underline; }
header form { display: flex; gap: 6px; align-items: center; margin: 0; }
header label { color: #9aa6c0; font-size: 12px; }
header input { background: #222b40; border: 1px solid #34405c; color: #fff; border-radius: 6px;
  padding: 5px 8px; width: 170px; }
header button { background: #34405c; color: #fff; border: 0; border-radius: 6px; padding: 6px 10px; cursor: pointer; }
.live { display: inline-flex; align-items: center; gap: 7px; font-size: 12px; color: #b9c3d9;
  border: 1px solid #34405c; border-radius: 20px; padding: 3px 10px 3px 8px; white-space: nowrap; }
.live .dot { width: 9px; height: 9px; border-radius: 50%; background: #7b8499; }
.live[data-state="live"] .dot { background: #35d07f; box-shadow: 0 0 0 0 rgba(53,208,127,.7); }
.live[data-state="live"] .dot.beat { animation: beat .8s ease-out; }
.live[data-state="down"] { color: #ffb4b4; border-color: #7a3340; }
.live[data-state="down"] .dot { background: #ff5a5f; }
@keyframes beat { from { box-shadow: 0 0 0 0 rgba(53,208,127,.75); } to { box-shadow: 0 0 0 9px rgba(53,208,127,0); } }
main { padding: 18px 22px 40px; max-width: 1500px; margin: 0 auto; }
.banner { border-radius: 8px; padding: 9px 12px; margin: 0 0 14px; display: flex; gap: 10px; align-items: flex-start; }
.banner[hidden] { display: none; }
.banner .text { flex: 1; white-space: pre-wrap; word-break: break-word; }
.banner button { background: none; border: 0; cursor: pointer; color: inherit; font-size: 16px; line-height: 1; }
.error { background: #fdecee; border: 1px solid #f3b8bd; color: #8c1c22; }
.notice { background: #eaf4ff; border: 1px solid #b8d4f5; color: #17406e; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 14px; text-transform: uppercase; letter-spacing: .6px; color: var(--muted); margin: 0 0 10px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; margin-bottom: 16px; }
.grid { display: grid; grid-template-columns: minmax(0, 1.7fr) minmax(320px, 1fr); gap: 16px; align-items: start; }
@media (max-width: 1000px) { .grid { grid-template-columns: 1fr; } }
.titlebar { display: flex; align-items: baseline; gap: 14px; flex-wrap: wrap; margin-bottom: 14px; }
.facts { color: var(--muted); display: flex; gap: 16px; flex-wrap: wrap; }
.facts b { color: var(--ink); font-weight: 600; }
table { width: 100%; border-collapse: collapse; }
th { text-align: left; font-size: 12px; color: var(--muted); font-weight: 600; padding: 6px 8px; border-bottom: 1px solid var(--line); }
td { padding: 7px 8px; border-bottom: 1px solid #eef1f6; vertical-align: top; }
tr:last-child td { border-bottom: 0; }
td.mono, .mono { font-family: var(--mono); font-size: 12.5px; }
.muted { color: var(--muted); }
.empty { color: var(--muted); padding: 10px 2px; }
a.app { color: var(--accent); font-weight: 600; text-decoration: none; }
a.app:hover { text-decoration: underline; }
.badge { display: inline-block; border-radius: 20px; padding: 1px 9px; font-size: 12px; font-weight: 600;
  background: #eef1f6; color: #3a4556; white-space: nowrap; }
.badge.Succeeded, .badge.serving { background: #e3f5e9; color: var(--ok); }
.badge.Progressing { background: #e2f4f8; color: var(--run); }
.badge.Paused { background: #fff3dc; color: var(--warn); }
.badge.Failed { background: #fde7e9; color: var(--bad); }
.badge.Aborted { background: #fff0e0; color: #a24b00; }
.serving-list { display: inline-flex; gap: 8px; align-items: baseline; }
.track { display: inline-flex; align-items: center; gap: 6px; font-weight: 600; }
.swatch { width: 11px; height: 11px; border-radius: 3px; display: inline-block; background: #8a94a6; }
.release-head { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin-bottom: 8px; }
.kv { display: grid; grid-template-columns: 110px 1fr; gap: 4px 12px; margin: 6px 0 10px; }
.kv dt { color: var(--muted); }
.kv dd { margin: 0; word-break: break-word; }
.msg { font-weight: 500; }
.lasterr { color: var(--bad); }
.actions { display: flex; gap: 8px; flex-wrap: wrap; margin-top: 12px; }
button.op { border: 1px solid #cfd6e3; background: #fff; color: var(--ink); border-radius: 7px;
  padding: 7px 13px; font-weight: 600; cursor: pointer; font-size: 13px; }
button.op:hover:not(:disabled) { border-color: var(--accent); color: var(--accent); }
button.op:disabled { opacity: .45; cursor: default; }
button.op.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.op.primary:hover:not(:disabled) { background: #2944b5; color: #fff; }
button.op.danger { color: var(--bad); border-color: #efc2c5; }
button.op.busy { opacity: .6; }
button.op.attention { box-shadow: 0 0 0 3px rgba(54,86,214,.25); }
.split { display: flex; height: 22px; border-radius: 6px; overflow: hidden; background: #eef1f6; margin: 8px 0 4px; }
.split > div { color: #fff; font-size: 11.5px; font-weight: 700; display: flex; align-items: center;
  justify-content: center; white-space: nowrap; overflow: hidden; transition: width .5s; }
.weights { display: flex; gap: 18px; margin: 4px 0 10px; flex-wrap: wrap; }
.weights b { font-size: 16px; }
tr.step-done td { color: var(--muted); }
tr.step-current td { background: #f3f6ff; font-weight: 600; }
tr.step-stopped td { background: #fff4ec; }
.mark { width: 18px; text-align: center; }
form.op { display: grid; grid-template-columns: 110px 1fr; gap: 8px 10px; align-items: center; }
form.op label { color: var(--muted); font-size: 13px; }
form.op input, form.op select { border: 1px solid #cfd6e3; border-radius: 6px; padding: 6px 8px; font: inherit; width: 100%; background: #fff; }
form.op input[type=checkbox] { width: auto; }
form.op .checks { display: flex; gap: 14px; flex-wrap: wrap; }
form.op .checks label { color: var(--ink); display: inline-flex; gap: 5px; align-items: center; }
form.op .full { grid-column: 1 / -1; display: flex; justify-content: flex-end; }
form.op [hidden] { display: none; }
.hint { grid-column: 2; font-size: 12px; color: var(--muted); margin-top: -4px; }
.ops h3 { font-size: 13px; margin: 14px 0 8px; color: var(--ink); }
.ops h3:first-child { margin-top: 0; }
.ops hr { border: 0; border-top: 1px solid var(--line); margin: 14px 0; }
pre.log { background: #0f1422; color: #cfe0ff; border-radius: 8px; padding: 10px 12px; font: 12px/1.5 var(--mono);
  max-height: 260px; overflow: auto; margin: 6px 0 0; white-space: pre-wrap; word-break: break-word; }
.job-head { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.job + .job { margin-top: 12px; }
"""

BODY = r"""
<header>
  <div class="brand">◆ kprism<small>release platform</small></div>
  <nav class="crumbs" data-testid="crumbs"></nav>
  <form id="ns-form" data-testid="namespace-form" autocomplete="off">
    <label for="ns-input">namespace</label>
    <input id="ns-input" list="ns-list" data-testid="namespace-input" spellcheck="false">
    <datalist id="ns-list"></datalist>
    <button type="submit" data-testid="namespace-go">Open</button>
  </form>
  <span class="live" data-testid="live" data-state="idle" title="polls the API every second">
    <i class="dot"></i><span class="live-text">connecting…</span>
  </span>
</header>
<main>
  <div class="banner error" data-testid="error" hidden role="alert">
    <span class="text" data-testid="error-text"></span><button type="button" data-close aria-label="dismiss">×</button>
  </div>
  <div class="banner notice" data-testid="notice" hidden role="status">
    <span class="text" data-testid="notice-text"></span><button type="button" data-close aria-label="dismiss">×</button>
  </div>

  <section id="list-view" data-testid="app-list-view" hidden>
    <div class="titlebar"><h1>Apps in <span data-testid="list-namespace"></span></h1>
      <span class="muted">an app is a Service whose selector names a track (or that carries a kprism release)</span></div>
    <div class="card">
      <table data-testid="app-list">
        <thead><tr><th>App</th><th>Serving</th><th>Phase</th><th>Step</th><th>Last release</th><th>Engine here</th></tr></thead>
        <tbody></tbody>
      </table>
      <div class="empty" data-testid="app-list-empty" hidden>No apps in this namespace.</div>
    </div>
  </section>

  <section id="detail-view" data-testid="app-detail" hidden>
    <div class="titlebar">
      <h1 data-testid="app-name"></h1>
      <div class="facts" data-testid="app-facts"></div>
    </div>
    <div class="grid">
      <div>
        <div class="card">
          <h2>Tracks</h2>
          <table data-testid="tracks">
            <thead><tr><th>Track</th><th>Deployment</th><th>Ready</th><th>Images</th><th>Endpoints</th><th>Traffic</th></tr></thead>
            <tbody></tbody>
          </table>
        </div>
        <div class="card" data-testid="release">
          <h2>Current release</h2>
          <div data-testid="release-body"></div>
          <div data-testid="canary" hidden>
            <div class="weights" data-testid="canary-weights"></div>
            <div class="split" data-testid="canary-bar"></div>
            <table data-testid="canary-steps">
              <thead><tr><th class="mark"></th><th>#</th><th>Step</th><th>State</th><th>Requested</th><th>Achieved</th></tr></thead>
              <tbody></tbody>
            </table>
          </div>
          <div class="actions">
            <button class="op" type="button" data-testid="btn-promote" data-intent="promote" title="blue-green: switch traffic; canary: next step">Promote</button>
            <button class="op" type="button" data-testid="btn-promote-full" data-intent="promote-full" title="canary: skip the remaining steps, go to 100%">Promote full</button>
            <button class="op" type="button" data-testid="btn-pause" data-intent="pause">Pause</button>
            <button class="op" type="button" data-testid="btn-resume" data-intent="resume" title="resume a paused release, or take over an unattended one">Resume</button>
            <button class="op danger" type="button" data-testid="btn-abort" data-intent="abort" title="traffic stays on (or returns to) the stable track">Abort</button>
            <button class="op danger" type="button" data-testid="btn-rollback" title="back to the previous track, once it is fully ready again">Rollback</button>
          </div>
        </div>
        <div class="card">
          <h2>Engine in this dashboard</h2>
          <div data-testid="jobs"></div>
        </div>
        <div class="card">
          <h2>History</h2>
          <table data-testid="history">
            <thead><tr><th>Release</th><th>Kind</th><th>Phase</th><th>From → to</th><th>Images</th><th>Started</th><th>Finished</th></tr></thead>
            <tbody></tbody>
          </table>
          <div class="empty" data-testid="history-empty" hidden>No releases yet.</div>
        </div>
      </div>
      <div>
        <div class="card ops">
          <h2>Operations</h2>
          <h3>Release a new version</h3>
          <form class="op" id="release-form" data-testid="release-form" autocomplete="off">
            <label for="r-image">image</label>
            <input id="r-image" data-testid="release-image" placeholder="registry.example/web:2.4.1" spellcheck="false">
            <span class="hint">[CONTAINER=]IMAGE; several separated by spaces</span>
            <label for="r-strategy">strategy</label>
            <select id="r-strategy" data-testid="release-strategy">
              <option value="bluegreen">blue-green</option>
              <option value="canary">canary</option>
            </select>
            <label for="r-steps" data-canary>steps</label>
            <input id="r-steps" data-canary data-testid="release-steps" placeholder="10,25,50,100" spellcheck="false">
            <label for="r-pause" data-canary>pause</label>
            <input id="r-pause" data-canary data-testid="release-pause" list="pause-list" placeholder="none · 30s · 2m · manual" spellcheck="false">
            <datalist id="pause-list"><option value="manual"><option value="30s"><option value="2m"></datalist>
            <label>options</label>
            <div class="checks">
              <label><input type="checkbox" data-testid="release-auto-promote"> auto-promote</label>
              <label data-bluegreen><input type="checkbox" data-testid="release-preview"> preview Service</label>
              <label><input type="checkbox" data-testid="release-force"> force</label>
            </div>
            <label for="r-delay">scale-down delay</label>
            <input id="r-delay" type="number" min="0" step="1" value="30" data-testid="release-scale-down-delay">
            <span class="hint">seconds the old track stays after the verified cutover (also used by Rollback)</span>
            <div class="full"><button class="op primary" type="submit" data-testid="btn-release">Release</button></div>
          </form>
          <hr>
          <h3>Scale a track</h3>
          <form class="op" id="scale-form" data-testid="scale-form" autocomplete="off">
            <label for="s-track">track</label><select id="s-track" data-testid="scale-track"></select>
            <label for="s-replicas">replicas</label><input id="s-replicas" type="number" min="0" step="1" value="3" data-testid="scale-replicas">
            <div class="full"><button class="op" type="submit" data-testid="btn-scale">Scale</button></div>
          </form>
          <hr>
          <h3>Clone into a new track (no traffic)</h3>
          <form class="op" id="clone-form" data-testid="clone-form" autocomplete="off">
            <label for="c-track">new track</label><input id="c-track" data-testid="clone-track" placeholder="red" spellcheck="false">
            <label for="c-image">image</label><input id="c-image" data-testid="clone-image" placeholder="registry.example/web:2.5.0-rc1" spellcheck="false">
            <label for="c-replicas">replicas</label><input id="c-replicas" type="number" min="0" step="1" value="1" data-testid="clone-replicas">
            <div class="full"><button class="op" type="submit" data-testid="btn-clone">Clone</button></div>
          </form>
          <hr>
          <h3>Split traffic over tracks</h3>
          <form class="op" id="split-form" data-testid="split-form" autocomplete="off">
            <label for="p-weights">weights</label><input id="p-weights" data-testid="split-weights" placeholder="blue=80 green=15 red=5" spellcheck="false">
            <div class="full"><button class="op" type="submit" data-testid="btn-split">Split</button></div>
          </form>
        </div>
      </div>
    </div>
  </section>
</main>
"""

JS = r"""
"use strict";
const POLL_MS = 1000;
const TERMINAL = ["Succeeded", "Failed", "Aborted"];
const COLORS = { blue: "#2f6fe4", green: "#1f9d55", red: "#d64545", yellow: "#d9a400", orange: "#e07b16",
  purple: "#8a4fd8", violet: "#8a4fd8", pink: "#d6479a", cyan: "#1597b5", teal: "#14907f", gray: "#7b8499",
  grey: "#7b8499", black: "#2b2f36", white: "#aab2c0", indigo: "#4f5bd5", brown: "#8d5a3b" };

const state = { ns: "", app: "", config: null, detail: null, historyKey: "", pollN: 0, token: 0, errorFrom: "" };

const tid = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "testid") el.dataset.testid = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

function colorOf(track) {
  if (!track) return "#8a94a6";
  if (COLORS[track]) return COLORS[track];
  let n = 0;
  for (const c of track) n = (n * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${n}, 55%, 48%)`;
}

function trackTag(track) {
  const sw = h("i", { class: "swatch" });
  sw.style.background = colorOf(track);
  return h("span", { class: "track" }, sw, track || "-");
}

const fmtMap = (m) => Object.entries(m || {}).map(([k, v]) => (k ? `${k}=${v}` : v)).join(", ") || "-";
const pct = (x) => (x === null || x === undefined ? "" : `${Math.round(Number(x) * 10) / 10}%`);

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

class ApiError extends Error {}

async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (method !== "GET") {
    init.headers["X-Kprism"] = "1";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body || {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError("the dashboard is unreachable (is `kprism web` still running?)");
  }
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) throw new ApiError((data && data.error) || `HTTP ${res.status}`);
  return { status: res.status, data };
}

function appPath(suffix = "") {
  return `/api/apps/${encodeURIComponent(state.ns)}/${encodeURIComponent(state.app)}${suffix}`;
}

// -- banners ---------------------------------------------------------------------------

function showError(message, from = "action") {
  tid("error-text").textContent = message;
  tid("error").hidden = false;
  state.errorFrom = from;
  if (from === "action") tid("notice").hidden = true;
}
function clearError(from) {
  if (from && state.errorFrom !== from) return;
  tid("error").hidden = true;
  state.errorFrom = "";
}
function showNotice(message) {
  tid("notice-text").textContent = message;
  tid("notice").hidden = false;
}
document.querySelectorAll(".banner [data-close]").forEach((b) =>
  b.addEventListener("click", () => { b.parentElement.hidden = true; state.errorFrom = ""; }));

// -- routing: #/NAMESPACE or #/NAMESPACE/APP ----------------------------------------------

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  const ns = parts[0] || (state.config && state.config.namespace) || "default";
  const app = parts[1] || "";
  const changed = ns !== state.ns || app !== state.app;
  state.ns = ns;
  state.app = app;
  if (changed) {
    state.token += 1;
    state.detail = null;
    state.historyKey = "";
    clearError("poll");
    tid("notice").hidden = true;
  }
  tid("namespace-input").value = ns;
  tid("app-list-view").hidden = !!app;
  tid("app-detail").hidden = !app;
  const crumbs = tid("crumbs");
  crumbs.replaceChildren(h("a", { href: `#/${encodeURIComponent(ns)}`, testid: "crumb-namespace" }, ns));
  if (app) crumbs.append(" / ", h("span", {}, app));
  document.title = app ? `${app} · ${ns} · kprism` : `${ns} · kprism`;
  if (changed) pollNow();
}

tid("namespace-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const ns = tid("namespace-input").value.trim();
  if (ns) location.hash = `#/${encodeURIComponent(ns)}`;
});
window.addEventListener("hashchange", route);

// -- polling -------------------------------------------------------------------------------

let timer = null;
let inflight = false;
let again = false;

function pollNow() {
  if (inflight) { again = true; return; }
  clearTimeout(timer);
  poll();
}

async function poll() {
  inflight = true;
  const token = state.token;
  try {
    if (state.app) {
      const { data } = await api("GET", appPath());
      if (token !== state.token) return;
      renderDetail(data);
      await maybeHistory(data, token);
    } else {
      const { data } = await api("GET", `/api/apps?namespace=${encodeURIComponent(state.ns)}`);
      if (token !== state.token) return;
      renderList(data);
    }
    setLive(true);
    clearError("poll");
  } catch (e) {
    if (token !== state.token) return;
    setLive(false, e.message);
    if (e instanceof ApiError) showError(e.message, "poll");
  } finally {
    inflight = false;
    state.pollN += 1;
    clearTimeout(timer);
    timer = setTimeout(poll, again ? 0 : POLL_MS);
    again = false;
  }
}

function setLive(ok, why) {
  const el = tid("live");
  el.dataset.state = ok ? "live" : "down";
  el.querySelector(".live-text").textContent = ok ? `live · ${new Date().toLocaleTimeString()}` : "offline";
  el.title = ok ? "polls the API every second" : why || "";
  const dot = el.querySelector(".dot");
  dot.classList.remove("beat");
  void dot.offsetWidth;
  if (ok) dot.classList.add("beat");
}

async function loadNamespaces() {
  try {
    const { data } = await api("GET", "/api/namespaces");
    tid("namespace-input").list.replaceChildren(...data.namespaces.map((n) => h("option", { value: n })));
  } catch (e) { /* the list is a convenience */ }
}

// -- app list ----------------------------------------------------------------------------

function renderList(data) {
  tid("list-namespace").textContent = data.namespace;
  const body = tid("app-list").querySelector("tbody");
  body.replaceChildren(...data.apps.map((a) => h("tr", { testid: `app-row-${a.name}` },
    h("td", {}, h("a", { class: "app", href: `#/${encodeURIComponent(a.namespace)}/${encodeURIComponent(a.name)}`,
      testid: `app-link-${a.name}` }, a.name)),
    h("td", { testid: `app-serving-${a.name}` }, a.serving ? trackTag(a.serving) : h("span", { class: "muted" }, "all selected")),
    h("td", {}, a.phase === "-" ? h("span", { class: "muted" }, "-") : h("span", { class: `badge ${a.phase}` }, a.phase)),
    h("td", { class: "mono" }, a.step),
    h("td", { class: "mono" }, a.tracks),
    h("td", {}, a.job ? h("span", { class: "badge Progressing" }, a.job) : ""))));
  tid("app-list-empty").hidden = data.apps.length > 0;
}

// -- app detail --------------------------------------------------------------------------

function renderDetail(d) {
  state.detail = d;
  const s = d.status;
  const rel = s.release;
  tid("app-name").textContent = s.app;
  const facts = [
    h("span", {}, "namespace ", h("b", {}, s.namespace)),
    h("span", { testid: "app-selector" }, "selector ", h("b", { class: "mono" }, fmtMap(s.selector))),
    h("span", {}, "ready endpoints ", h("b", { testid: "ready-endpoints" }, s.readyEndpoints)),
    h("span", { testid: "serving", class: "serving-list" }, "serving", ...(d.serving.length ? d.serving.map(trackTag) : [h("b", {}, "-")])),
  ];
  if (s.lease) facts.push(h("span", { testid: "lease" }, "engine ", h("b", { class: "mono" }, s.lease.holder)));
  tid("app-facts").replaceChildren(...facts);

  tid("tracks").querySelector("tbody").replaceChildren(...s.tracks.map((t) => h("tr", { testid: `track-row-${t.track || t.deployment}` },
    h("td", {}, trackTag(t.track)),
    h("td", { class: "mono" }, t.deployment),
    h("td", { testid: `ready-${t.track}` }, `${t.ready}/${t.replicas}`),
    h("td", { class: "mono" }, fmtMap(t.images)),
    h("td", {}, t.endpoints),
    h("td", { testid: `serving-${t.track}` }, t.serving ? h("span", { class: "badge serving" }, "serving") : h("span", { class: "muted" }, "idle")))));

  renderRelease(d);
  renderButtons(d);
  renderJobs(d.jobs);
  const sel = tid("scale-track");
  const keep = sel.value;
  const names = s.tracks.map((t) => t.track).filter(Boolean);
  if (names.join() !== [...sel.options].map((o) => o.value).join()) {
    sel.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
    if (names.includes(keep)) sel.value = keep;
  }
}

function renderRelease(d) {
  const rel = d.status.release;
  const body = tid("release-body");
  if (!rel) {
    body.replaceChildren(h("div", { class: "empty", testid: "no-release" }, "No release yet: release a new version on the right."));
    tid("canary").hidden = true;
    return;
  }
  const intent = d.status.intent;
  const kv = h("dl", { class: "kv" },
    h("dt", {}, "tracks"), h("dd", {}, trackTag(rel.stable), " → ", trackTag(rel.candidate)),
    h("dt", {}, "images"), h("dd", { class: "mono" }, fmtMap(rel.candidate_images)),
    h("dt", {}, "step"), h("dd", { class: "mono", testid: "release-step" }, rel.step),
    h("dt", {}, "message"), h("dd", { class: "msg", testid: "release-message" }, rel.message),
    h("dt", {}, "started"), h("dd", {}, when(rel.started_at), rel.finished_at ? ` · finished ${when(rel.finished_at)}` : ""));
  if (rel.last_error) kv.append(h("dt", {}, "last error"), h("dd", { class: "lasterr", testid: "release-last-error" }, rel.last_error));
  if (intent) kv.append(h("dt", {}, "intent"), h("dd", { testid: "release-intent" }, `${intent.action} by ${intent.by || "?"} (waiting for the engine)`));
  body.replaceChildren(
    h("div", { class: "release-head" },
      h("span", { class: `badge ${rel.phase}`, testid: "release-phase" }, rel.phase),
      h("span", { class: "mono", testid: "release-id" }, rel.id),
      h("span", { class: "muted" }, `${rel.kind} · ${rel.spec.strategy}${rel.spec.auto_promote ? " · auto-promote" : ""}${rel.spec.preview ? " · preview" : ""}`)),
    kv);
  renderCanary(d);
}

function renderCanary(d) {
  const box = tid("canary");
  if (!d.canary || !d.weights) { box.hidden = true; return; }
  box.hidden = false;
  const w = d.weights;
  tid("canary-weights").replaceChildren(
    h("span", {}, `${w.final ? "last step: " : ""}traffic to ${w.candidate}: requested `, h("b", { testid: "weight-requested" }, pct(w.requested))),
    h("span", {}, "achieved ", h("b", { testid: "weight-achieved" }, pct(w.achieved))),
    ...(w.final ? [h("span", { testid: "weight-now" }, "now ", h("b", {}, pct(w.now)))] : []),
    h("span", { class: "muted" }, `router ${w.router}`));
  const cand = h("div", {}, w.now > 12 ? `${w.candidate} ${pct(w.now)}` : "");
  const stab = h("div", {}, 100 - w.now > 12 ? `${w.stable} ${pct(100 - w.now)}` : "");
  cand.style.width = `${w.now}%`;
  cand.style.background = colorOf(w.candidate);
  stab.style.width = `${100 - w.now}%`;
  stab.style.background = colorOf(w.stable);
  tid("canary-bar").replaceChildren(cand, stab);
  const mark = { done: "✓", current: "▶", stopped: "■", pending: "" };
  tid("canary-steps").querySelector("tbody").replaceChildren(...d.canary.map((r) => h("tr", { class: `step-${r.state}`, testid: `canary-step-${r.number}` },
    h("td", { class: "mark" }, mark[r.state]),
    h("td", {}, r.number),
    h("td", { class: "mono" }, r.what),
    h("td", { testid: `canary-step-${r.number}-state` }, r.state),
    h("td", { testid: `canary-step-${r.number}-requested` }, pct(r.requested)),
    h("td", { testid: `canary-step-${r.number}-achieved` }, pct(r.achieved)))));
}

function renderButtons(d) {
  const rel = d.status.release;
  const live = !!(rel && !TERMINAL.includes(rel.phase));
  const aborting = !!(rel && rel.aborting);
  const canary = !!(rel && rel.spec.strategy === "canary");
  const set = (id, on) => { tid(id).disabled = !on; };
  set("btn-promote", live && !aborting);
  set("btn-promote-full", live && !aborting && canary);
  set("btn-pause", live && !aborting && !rel.paused);
  set("btn-resume", live);
  set("btn-abort", live && !aborting);
  set("btn-rollback", true);
  const waiting = live && rel.phase === "Paused" && !rel.paused;
  tid("btn-promote").classList.toggle("primary", waiting);
  tid("btn-promote").classList.toggle("attention", waiting);
}

function renderJobs(jobs) {
  const box = tid("jobs");
  const key = JSON.stringify(jobs);
  if (key === box.dataset.key) return;  // unchanged: keep the log's scroll position
  box.dataset.key = key;
  if (!jobs.length) {
    box.replaceChildren(h("div", { class: "empty" }, "Nothing started from this dashboard yet. Releases started elsewhere show up above; Resume takes one over."));
    return;
  }
  const shown = jobs.slice(-2).reverse();
  box.replaceChildren(...shown.map((j) => {
    const cls = j.state === "running" ? "Progressing" : j.state === "failed" ? "Failed" : "Succeeded";
    const el = h("div", { class: "job", testid: `job-${j.id}` },
      h("div", { class: "job-head" }, h("span", { class: `badge ${cls}`, testid: "job-state" }, j.state),
        h("b", {}, j.kind), h("span", { class: "mono muted" }, j.release || ""), h("span", { class: "muted" }, `started ${when(j.startedAt)}`)),
      j.error ? h("div", { class: "lasterr", testid: "job-error" }, j.error) : null,
      h("pre", { class: "log", testid: "job-log" }, j.lines.join("\n")));
    return el;
  }));
  box.querySelectorAll("pre.log").forEach((pre) => { pre.scrollTop = pre.scrollHeight; });
}

async function maybeHistory(d, token) {
  const rel = d.status.release;
  const key = rel ? `${rel.id}/${rel.phase}/${rel.step}` : "none";
  if (key === state.historyKey && state.pollN % 10 !== 0) return;
  state.historyKey = key;
  const { data } = await api("GET", appPath("/history"));
  if (token !== state.token) return;
  const rows = data.history.map((e, i) => h("tr", { testid: `history-row-${i}` },
    h("td", { class: "mono" }, e.id),
    h("td", {}, `${e.kind}${e.strategy ? " · " + e.strategy : ""}`),
    h("td", {}, h("span", { class: `badge ${e.phase}` }, e.phase)),
    h("td", {}, trackTag(e.stable), " → ", trackTag(e.candidate)),
    h("td", { class: "mono" }, fmtMap(e.candidate_images)),
    h("td", {}, when(e.started_at)),
    h("td", {}, when(e.finished_at))));
  tid("history").querySelector("tbody").replaceChildren(...rows);
  tid("history-empty").hidden = rows.length > 0;
}

// -- actions -----------------------------------------------------------------------------

async function act(button, path, body) {
  if (button.classList.contains("busy")) return;
  button.classList.add("busy");
  button.disabled = true;
  try {
    const { data } = await api("POST", appPath(path), body);
    clearError();
    showNotice(data.message || "done");
    state.historyKey = "";
  } catch (e) {
    showError(e.message);
  } finally {
    button.classList.remove("busy");
    button.disabled = false;
    pollNow();
  }
}

const delay = () => Number(tid("release-scale-down-delay").value || 30);

document.querySelectorAll("[data-intent]").forEach((b) =>
  b.addEventListener("click", () => act(b, `/intent/${b.dataset.intent}`, {})));
tid("btn-rollback").addEventListener("click", (ev) => act(ev.currentTarget, "/rollback", { scaleDownDelay: delay() }));

function strategyChanged() {
  const canary = tid("release-strategy").value === "canary";
  document.querySelectorAll("[data-canary]").forEach((el) => { el.hidden = !canary; });
  document.querySelectorAll("[data-bluegreen]").forEach((el) => { el.hidden = canary; });
}
tid("release-strategy").addEventListener("change", strategyChanged);

tid("release-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const canary = tid("release-strategy").value === "canary";
  act(tid("btn-release"), "/release", {
    image: tid("release-image").value,
    strategy: tid("release-strategy").value,
    steps: canary ? tid("release-steps").value : "",
    pause: canary ? tid("release-pause").value : "",
    autoPromote: tid("release-auto-promote").checked,
    preview: !canary && tid("release-preview").checked,
    force: tid("release-force").checked,
    scaleDownDelay: delay(),
  });
});
tid("scale-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  act(tid("btn-scale"), "/scale", { track: tid("scale-track").value, replicas: Number(tid("scale-replicas").value) });
});
tid("clone-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  act(tid("btn-clone"), "/clone", { track: tid("clone-track").value.trim(), image: tid("clone-image").value, replicas: Number(tid("clone-replicas").value) });
});
tid("split-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  act(tid("btn-split"), "/split", { weights: tid("split-weights").value });
});

// -- start -------------------------------------------------------------------------------

(async function start() {
  strategyChanged();
  try {
    state.config = (await api("GET", "/api/config")).data;
  } catch (e) {
    showError(e.message, "poll");
  }
  loadNamespaces();
  route();
})();
"""


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


HTML = (
    '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    '<link rel="icon" href="data:,">\n<title>kprism</title>\n'
    f"<style>{CSS}</style>\n</head>\n<body>{BODY}<script>{JS}</script>\n</body>\n</html>\n"
)

#: The page may run only its own inline script and style and talk only to its origin.
CSP = "; ".join(
    [
        "default-src 'none'",
        f"script-src {_hash(JS)}",
        f"style-src {_hash(CSS)}",
        "connect-src 'self'",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
