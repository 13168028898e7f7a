"use strict";
const POLL_MS = 1000;
const TERMINAL = new Set(["Succeeded", "Failed", "Aborted"]);
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

class ApiError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.status = status;  // 0: the dashboard did not answer
  }
}

async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (method !== "GET") {
    init.headers["X-Kprism"] = "1";
    if (auth.csrf) init.headers["X-Kprism-Csrf"] = auth.csrf;
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body || {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError("the dashboard is unreachable (is `kprism web` still running?)");
  }
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (res.status === 401 && data && data.login && path !== "/api/login") showLogin(data.error);
  if (!res.ok) throw new ApiError((data && data.error) || `HTTP ${res.status}`, res.status);
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
    tid("list-namespace").textContent = ns;  // no rows of another namespace meanwhile
    tid("app-list").querySelector("tbody").replaceChildren();
    tid("app-list-empty").hidden = true;
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
    // a refusal (4xx, e.g. an unknown namespace) comes from a dashboard and cluster that answer
    const answered = e instanceof ApiError && e.status >= 400 && e.status < 500;
    setLive(answered, e.message);
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
  } catch { /* the list is a convenience */ }
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

  renderNotReady(s);
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

// Why pods are not ready: per track, each pod's reasons (a stuck one marked) and the
// recent Warning Events of those pods (failing probes, FailedScheduling).
function renderNotReady(s) {
  const box = tid("not-ready");
  const rows = [];
  for (const t of s.tracks) {
    if (!t.not_ready || !t.not_ready.length) continue;
    const pods = [...new Set(t.not_ready.map((i) => i.pod))];
    const name = t.track || t.deployment;
    rows.push(h("div", { class: "nr-head", testid: `not-ready-${name}` }, trackTag(t.track), ` ${pods.length} pod${pods.length === 1 ? "" : "s"} not ready`));
    for (const i of t.not_ready) {
      const extra = [i.exitCode !== null ? `exit code ${i.exitCode}` : "", i.restarts ? `${i.restarts} restart${i.restarts === 1 ? "" : "s"}` : ""].filter(Boolean).join(", ");
      rows.push(h("div", { class: `nr-issue${i.stuck ? " stuck" : ""}`, testid: "not-ready-issue" },
        h("span", { class: "mono" }, i.pod + (i.container ? ` / ${i.container}` : "")), " ",
        h("b", { testid: "not-ready-reason" }, i.reason), extra ? ` (${extra})` : "", i.stuck ? h("span", { class: "badge Failed" }, "stuck") : "",
        i.message ? h("div", { class: "muted" }, i.message) : ""));
    }
    for (const e of s.podEvents || []) {
      if (!pods.includes(e.pod)) continue;
      rows.push(h("div", { class: "nr-event", testid: "not-ready-event" }, h("span", { class: "mono" }, e.pod), " event ", h("b", {}, e.reason), e.count > 1 ? ` ×${e.count}` : "", h("div", { class: "muted" }, e.message)));
    }
  }
  box.hidden = !rows.length;
  box.replaceChildren(...(rows.length ? [h("h3", {}, "Why pods are not ready"), ...rows] : []));
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
  renderAnalysis(d);
}

// The SVG namespace as the HTML parser assigns it (the page holds no URL at all).
const SVG_NS = (() => { const t = document.createElement("template"); t.innerHTML = "<svg></svg>"; return t.content.firstChild.namespaceURI; })();
const POINT_COLORS = { Successful: "#1f9d55", Failed: "#d64545", Error: "#d64545", Inconclusive: "#d9a400" };

function svg(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  el.append(...kids);
  return el;
}

// A sparkline of a metric's measurements: numeric values on a line, each point colored
// by its verdict; measurements without a number sit on the baseline.
function sparkline(points, testid) {
  const W = 160, H = 28, P = 3;
  const nums = points.map((p) => p.value).filter((v) => v !== null);
  const lo = nums.length ? Math.min(...nums) : 0;
  const hi = nums.length ? Math.max(...nums) : 1;
  const x = (i) => (points.length < 2 ? W / 2 : P + (i * (W - 2 * P)) / (points.length - 1));
  const y = (v) => (v === null ? H - P : hi === lo ? H / 2 : H - P - ((v - lo) * (H - 2 * P)) / (hi - lo));
  const line = points.map((p, i) => `${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
  const dots = points.map((p, i) => svg("circle", { cx: x(i).toFixed(1), cy: y(p.value).toFixed(1), r: 2.5, fill: POINT_COLORS[p.phase] || "#7b8499" },
    svg("title", {}, `#${i + 1} ${p.phase}: ${p.text}${p.message ? ` — ${p.message}` : ""}`)));
  const el = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "spark", role: "img", "aria-label": `${points.length} measurements` },
    ...(points.length > 1 ? [svg("polyline", { points: line, fill: "none", stroke: "#aab2c0", "stroke-width": 1 })] : []), ...dots);
  el.dataset.testid = testid;
  return el;
}

function renderAnalysis(d) {
  const box = tid("analysis");
  if (!d.analysis) { box.hidden = true; return; }
  box.hidden = false;
  tid("analysis-runs").replaceChildren(...d.analysis.map((run) => h("div", { class: "run", testid: `analysis-run-${run.name}` },
    h("div", { class: "run-head" }, h("b", { class: "mono" }, run.name), " ", h("span", { class: `badge ${run.phase}`, testid: `analysis-run-${run.name}-phase` }, run.phase),
      run.verdict ? h("span", { class: "msg", testid: `analysis-run-${run.name}-verdict` }, ` ${run.verdict}`) : null),
    h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Metric"), h("th", {}, "Phase"), h("th", {}, "Measurements"), h("th", {}, "Measured"), h("th", {}, "Last value"), h("th", {}, "Condition"))),
      h("tbody", {}, ...run.metrics.map((m) => h("tr", { testid: `analysis-${run.name}-${m.name}` },
        h("td", { class: "mono" }, m.name),
        h("td", {}, m.phase),
        h("td", {}, sparkline(m.points, `spark-${run.name}-${m.name}`)),
        h("td", {}, `${m.count}${m.limit ? `/${m.limit}` : ""}${m.pending ? " …" : ""}`),
        h("td", { class: "mono" }, m.points.length ? m.points[m.points.length - 1].text : "-"),
        h("td", { class: "mono", title: m.message || null }, m.condition))))))));
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
  const live = !!(rel && !TERMINAL.has(rel.phase));
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
  applyPermissions();
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
    failFastAfter: tid("release-fail-fast-after").value,
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

// -- sign-in and permissions (kprism web --auth token|proxy) ------------------------------

const auth = { mode: "none", user: "", csrf: "", perms: null, permsNs: "", permsAt: 0, shown: false };
// which button is which action of /api/permissions
const ACTION_OF = { "btn-promote": "promote", "btn-promote-full": "promote-full", "btn-pause": "pause",
  "btn-resume": "resume", "btn-abort": "abort", "btn-rollback": "rollback", "btn-release": "release",
  "btn-scale": "scale", "btn-clone": "clone", "btn-split": "split" };

function showLogin(message) {
  auth.csrf = "";
  auth.perms = null;
  tid("login-view").hidden = false;
  tid("app-list-view").hidden = true;
  tid("app-detail").hidden = true;
  tid("user").hidden = true;
  const err = tid("login-error");
  err.textContent = message || "";
  err.hidden = !message || message.includes("not signed in");
  if (!auth.shown) tid("login-token").focus();
  auth.shown = true;
}

function signedIn(data) {
  auth.mode = data.mode;
  auth.user = data.user;
  auth.csrf = data.csrf;
  tid("login-view").hidden = true;
  tid("user").hidden = !data.user;
  tid("user-name").textContent = data.user;
}

async function loadPermissions() {
  if (auth.mode === "none" || !state.ns) return;
  if (auth.permsNs === state.ns && Date.now() - auth.permsAt < 30000) return;
  auth.permsNs = state.ns;
  auth.permsAt = Date.now();
  try {
    const { data } = await api("GET", `/api/permissions?namespace=${encodeURIComponent(state.ns)}`);
    if (data.namespace === state.ns) auth.perms = data.actions;
  } catch { auth.perms = null; auth.permsAt = 0; }
  applyPermissions();
}

// Buttons the user may not use are disabled, with the reason (title and a line below).
function applyPermissions() {
  if (auth.mode === "none") return;
  loadPermissions();
  const denied = new Map();
  for (const [id, action] of Object.entries(ACTION_OF)) {
    const el = tid(id);
    const p = auth.perms && auth.perms[action];
    if (!el.dataset.title) el.dataset.title = el.title || " ";
    if (p && !p.allowed) {
      el.disabled = true;
      el.title = p.reason;
      el.dataset.denied = p.reason;
      denied.set(p.reason, [...(denied.get(p.reason) || []), el.textContent.trim()]);
    } else {
      el.title = el.dataset.title.trim();
      delete el.dataset.denied;
    }
  }
  const note = tid("permission-note");
  note.textContent = [...denied].map(([why, names]) => `${names.join(", ")}: ${why}`).join("\n");
  note.hidden = denied.size === 0;
}

tid("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = tid("login-token");
  try {
    const { data } = await api("POST", "/api/login", { token: input.value.trim() });
    input.value = "";
    signedIn(data);
    start();
  } catch (e) {
    input.value = "";
    const err = tid("login-error");
    err.textContent = e.message;
    err.hidden = false;
  }
});
tid("logout").addEventListener("click", async () => {
  try { await api("POST", "/api/logout"); } catch { /* signed out either way */ }
  location.reload();
});

// -- start -------------------------------------------------------------------------------

async function start() {
  try {
    signedIn((await api("GET", "/api/session")).data);
  } catch (e) {
    if (e.status === 401) return;  // the sign-in form is showing
    showError(e.message, "poll");
  }
  strategyChanged();
  try {
    state.config = (await api("GET", "/api/config")).data;
  } catch (e) {
    showError(e.message, "poll");
  }
  loadNamespaces();
  route();
}
start();
