"use strict";
const LIST_PAGE = 50;  // apps per page of the list
const TERMINAL = new Set(["Succeeded", "Failed", "Aborted"]);
const COLORS = { blue: "#2f6fe4", green: "#1f9d55", red: "#d64545", yellow: "#d9a400", orange: "#e07b16",
  purple: "#8a4fd8", violet: "#8a4fd8", pink: "#d6479a", cyan: "#1597b5", teal: "#14907f", gray: "#7b8499",
  grey: "#7b8499", black: "#2b2f36", white: "#aab2c0", indigo: "#4f5bd5", brown: "#8d5a3b" };

const state = { ns: "", app: "", config: null, detail: null, historyKey: "", pollN: 0, token: 0, errorFrom: "", offset: 0, q: "", shown: null };

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
    state.shown = null;
    if (!app) state.offset = 0;
    clearError("poll");
    tid("notice").hidden = true;
    tid("list-namespace").textContent = nsLabel(ns);  // no rows of another namespace meanwhile
    tid("app-list").querySelector("tbody").replaceChildren();
    tid("app-list-empty").hidden = true;
  }
  tid("namespace-input").value = ns;
  tid("app-list-view").hidden = !!app;
  tid("app-detail").hidden = !app;
  const crumbs = tid("crumbs");
  crumbs.replaceChildren(h("a", { href: `#/${encodeURIComponent(ns)}`, testid: "crumb-namespace" }, nsLabel(ns)));
  if (app) crumbs.append(" / ", h("span", {}, app));
  document.title = app ? `${app} · ${ns} · kprism` : `${nsLabel(ns)} · kprism`;
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
      const { data } = await api("GET", `/api/apps?${listQuery()}`);
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
    clearTimeout(timer);
    if (again) timer = setTimeout(poll, 0);
    again = false;
    stream();  // live updates come as server-sent events; this read was a one-off
  }
}

function setLive(ok, why) {
  const el = tid("live");
  el.dataset.state = ok ? "live" : "down";
  el.querySelector(".live-text").textContent = ok ? `live · ${new Date().toLocaleTimeString()}` : "offline";
  el.title = ok ? "live updates from the dashboard (server-sent events)" : why || "";
  const dot = el.querySelector(".dot");
  dot.classList.remove("beat");
  void dot.offsetWidth;
  if (ok) dot.classList.add("beat");
}

async function loadNamespaces() {
  try {
    const { data } = await api("GET", "/api/namespaces");
    tid("namespace-input").list.replaceChildren(...data.namespaces.map((n) => h("option", { value: n }, nsLabel(n))));
  } catch { /* the list is a convenience */ }
}

// -- app list ----------------------------------------------------------------------------

// "*" stands for every namespace the user may list Services in (the overview).
const ALL_NAMESPACES = "*";
const nsLabel = (ns) => (ns === ALL_NAMESPACES ? "all namespaces" : ns);

function renderList(data) {
  tid("list-namespace").textContent = nsLabel(data.namespace);
  const across = data.namespace === ALL_NAMESPACES;
  const body = tid("app-list").querySelector("tbody");
  body.replaceChildren(...data.apps.map((a) => h("tr", { testid: `app-row-${across ? `${a.namespace}-` : ""}${a.name}` },
    h("td", {}, h("a", { class: "app", href: `#/${encodeURIComponent(a.namespace)}/${encodeURIComponent(a.name)}`,
      testid: `app-link-${across ? `${a.namespace}-` : ""}${a.name}` },
      across ? h("span", { class: "muted" }, `${a.namespace}/`) : "", a.name)),
    h("td", { testid: `app-serving-${a.name}` }, a.serving ? trackTag(a.serving) : h("span", { class: "muted" }, "all selected")),
    h("td", { class: "traffic-cell" }, trafficBar(a.traffic || [], `app-traffic-${a.name}`)),
    h("td", {}, a.phase === "-" ? h("span", { class: "muted" }, "-") : h("span", { class: `badge ${a.phase}` }, a.phase)),
    h("td", { class: "mono wide" }, a.step),
    h("td", { class: "mono wide" }, a.tracks),
    h("td", { class: "wide" }, a.job ? h("span", { class: "badge Progressing" }, a.job) : ""))));
  const total = data.total === undefined ? data.apps.length : data.total;
  tid("app-list-empty").hidden = data.apps.length > 0;
  const first = total ? (data.offset || 0) + 1 : 0;
  tid("list-range").textContent = `${first}–${(data.offset || 0) + data.apps.length} of ${total}`;
  tid("list-prev").disabled = !(data.offset > 0);
  tid("list-next").disabled = (data.offset || 0) + data.apps.length >= total;
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
    h("td", { testid: `age-${t.track}`, title: (d.ages || {})[t.track] ? when(d.ages[t.track]) : null }, age((d.ages || {})[t.track])),
    h("td", {}, t.endpoints),
    h("td", { testid: `serving-${t.track}` }, t.serving ? h("span", { class: "badge serving" }, "serving") : h("span", { class: "muted" }, "idle")))));

  renderNotReady(s);
  renderExplain(d);
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

// which action of the page's `controls` each release button is
const CONTROL_OF = { "btn-promote": "promote", "btn-promote-full": "promote-full", "btn-pause": "pause",
  "btn-resume": "resume", "btn-abort": "abort", "btn-rollback": "rollback" };

// A button that would do nothing is disabled, its reason in the tooltip and in words below.
function renderButtons(d) {
  const rel = d.status.release;
  const live = !!(rel && !TERMINAL.has(rel.phase));
  const controls = d.controls || {};
  const why = new Map();
  for (const [id, action] of Object.entries(CONTROL_OF)) {
    const el = tid(id);
    if (el.dataset.base === undefined) el.dataset.base = el.title || "";
    const reason = controls[action] || "";
    el.disabled = !!reason;
    el.title = reason || el.dataset.base;
    el.dataset.title = el.title || " ";
    if (reason) why.set(reason, [...(why.get(reason) || []), el.textContent.trim()]);
  }
  const note = tid("control-note");
  note.replaceChildren(...[...why].map(([reason, names]) => h("div", {}, h("b", {}, names.join(", ")), `: ${reason}`)));
  note.hidden = why.size === 0;
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
  state.history = data.history;
  rows.forEach((row, i) => {
    row.tabIndex = 0;
    row.classList.add("pick");
    row.title = "show this release's timeline";
    const pick = () => { state.shown = data.history[i]; renderTimeline(state.detail); };
    row.addEventListener("click", pick);
    row.addEventListener("keydown", (ev) => { if (ev.key === "Enter") pick(); });
  });
  loadAudit();
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
  b.addEventListener("click", () => (b.dataset.intent === "abort" ? confirmAbort(b) : act(b, `/intent/${b.dataset.intent}`, {}))));
tid("btn-rollback").addEventListener("click", (ev) => confirmRollback(ev.currentTarget));

function strategyChanged() {
  const canary = tid("release-strategy").value === "canary";
  document.querySelectorAll("[data-canary]").forEach((el) => { el.hidden = !canary; });
  document.querySelectorAll("[data-bluegreen]").forEach((el) => { el.hidden = canary; });
}
tid("release-strategy").addEventListener("change", strategyChanged);

tid("release-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  confirmRelease(releaseBody());
});

function releaseBody() {
  const canary = tid("release-strategy").value === "canary";
  return {
    image: tid("release-image").value,
    strategy: tid("release-strategy").value,
    steps: canary ? tid("release-steps").value : "",
    pause: canary ? tid("release-pause").value : "",
    autoPromote: tid("release-auto-promote").checked,
    preview: !canary && tid("release-preview").checked,
    force: tid("release-force").checked,
    scaleDownDelay: delay(),
    failFastAfter: tid("release-fail-fast-after").value,
    env: tid("release-env").value,
    patch: tid("release-patch").value,
    router: canary ? tid("release-router").value : "",
    route: canary ? tid("release-route").value : "",
    maxSurge: canary ? tid("release-max-surge").value : "",
    notify: tid("release-notify").value,
  };
}
tid("scale-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  confirmScale({ track: tid("scale-track").value, replicas: Number(tid("scale-replicas").value) });
});
tid("clone-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  act(tid("btn-clone"), "/clone", { track: tid("clone-track").value.trim(), image: tid("clone-image").value, replicas: Number(tid("clone-replicas").value) });
});
tid("split-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  confirmSplit(tid("split-weights").value);
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
  if (auth.mode === "none" || !state.ns || state.ns === ALL_NAMESPACES) return;
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

// -- live updates: server-sent events (issue 14 item 5) ------------------------------------

let source = null;
let sourceKey = "";

function listQuery() {
  return new URLSearchParams({ namespace: state.ns, q: state.q, offset: String(state.offset), limit: String(LIST_PAGE) }).toString();
}

// One EventSource for what the page shows: the app's detail, or a page of the list. The
// browser reconnects by itself (the stream says retry: 2000); a stream refused outright
// (signed out, the dashboard gone) is opened again after a one-off read said why.
function stream() {
  const login = tid("login-view");
  if (login && !login.hidden) return;
  const params = state.app ? new URLSearchParams({ namespace: state.ns, app: state.app }).toString() : listQuery();
  if (source && sourceKey === params && source.readyState !== EventSource.CLOSED) return;
  if (source) source.close();
  sourceKey = params;
  const token = state.token;
  const es = new EventSource(`/api/stream?${params}`);
  source = es;
  const mine = () => source === es && token === state.token;
  es.addEventListener("detail", (ev) => {
    if (!mine()) return;
    const d = JSON.parse(ev.data);
    renderDetail(d);
    setLive(true);
    clearError("poll");
    maybeHistory(d, token).catch((e) => showError(e.message, "poll"));
  });
  es.addEventListener("apps", (ev) => {
    if (!mine()) return;
    renderList(JSON.parse(ev.data));
    setLive(true);
    clearError("poll");
  });
  es.addEventListener("problem", (ev) => {
    if (!mine()) return;
    const p = JSON.parse(ev.data);
    setLive(p.status >= 400 && p.status < 500, p.error);
    showError(p.error, "poll");
  });
  es.addEventListener("error", () => {
    if (source !== es) return;
    setLive(false, "the dashboard is unreachable: reconnecting");
    if (es.readyState === EventSource.CLOSED) {
      sourceKey = "";
      setTimeout(() => { if (source === es) pollNow(); }, 2000);
    }
  });
}

// -- the list's pages and search ---------------------------------------------------------

tid("list-prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - LIST_PAGE); pollNow(); });
tid("list-next").addEventListener("click", () => { state.offset += LIST_PAGE; pollNow(); });
tid("list-search").addEventListener("input", (ev) => { state.q = ev.target.value.trim(); state.offset = 0; pollNow(); });

// -- traffic, ages, preview, countdown, timeline, plot ----------------------------------------

// A traffic bar: one segment per track, each with its name and share in words (colour is
// never the only signal), and the same as a text line under it.
function trafficBar(segments, testid) {
  const bar = h("div", { class: "split traffic", role: "img", "aria-label": segments.map((s) => s.label).join(", ") || "no traffic" });
  bar.append(...segments.filter((s) => s.weight > 0).map((s) => {
    const seg = h("div", { title: s.label }, s.weight >= 18 ? s.label : "");
    seg.style.width = `${s.weight}%`;
    seg.style.background = colorOf(s.track);
    return seg;
  }));
  const text = h("div", { class: "traffic-text", testid: `${testid}-text` }, segments.map((s) => s.label).join(" · ") || "no traffic");
  return h("div", { class: "traffic-wrap", testid }, bar, text);
}

function age(iso) {
  if (!iso) return "-";
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (isNaN(s)) return "-";
  if (s < 90) return `${Math.round(s)}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

function renderExplain(d) {
  tid("detail-traffic").replaceChildren(trafficBar(d.traffic || [], "traffic"));
  const pv = tid("preview");
  pv.hidden = !d.preview;
  if (d.preview) {
    pv.replaceChildren(h("b", {}, "Preview "), "Service ", h("span", { class: "mono", testid: "preview-service" }, d.preview.service),
      ` serves ${d.preview.track} before the switch. Reach it with `, h("code", { class: "mono" }, d.preview.reach));
  }
  const sel = tid("rollback-to");
  const want = ["", ...(d.rollbackTargets || []).map((t) => t.id)];
  if (want.join() !== [...sel.options].map((o) => o.value).join()) {
    const keep = sel.value;
    sel.replaceChildren(h("option", { value: "" }, "the previous track"), ...(d.rollbackTargets || []).map((t) => h("option", { value: t.id }, t.label)));
    if (want.includes(keep)) sel.value = keep;
  }
  renderCountdown();
  renderTimeline(d);
}

// A timed pause: until when (local time) and how long still.
function renderCountdown() {
  const box = tid("countdown");
  const rel = state.detail && state.detail.status.release;
  const until = rel && !TERMINAL.has(rel.phase) && rel.pause_until ? new Date(rel.pause_until) : null;
  if (!until || isNaN(until)) { box.hidden = true; return; }
  const left = Math.max(0, Math.round((until.getTime() - Date.now()) / 1000));
  box.hidden = false;
  box.textContent = `paused until ${until.toLocaleTimeString()} (your time) · ${left >= 60 ? `${Math.floor(left / 60)}m ` : ""}${left % 60}s left`;
}
setInterval(renderCountdown, 1000);

// The release's timeline (the current one, or a history row picked) and its weight plot.
function renderTimeline(d) {
  if (!d) return;
  const shown = state.shown;
  const rows = shown ? shown.rows || [] : d.timeline || [];
  const points = shown ? shown.plot || [] : d.plot || [];
  const card = tid("timeline-card");
  card.hidden = !rows.length;
  tid("timeline-title").textContent = shown ? `Timeline of ${shown.kind} ${shown.id}` : "Timeline of the current release";
  tid("timeline-current").hidden = !shown;
  tid("weight-plot").replaceChildren(...(points.length > 1 ? [plot(points)] : []));
  tid("timeline").querySelector("tbody").replaceChildren(...rows.map((r, i) => h("tr", { testid: `timeline-row-${i}`, class: `tl-${r.kind}` },
    h("td", { title: r.at }, when(r.at)),
    h("td", {}, h("b", {}, r.what), r.kind === "intent" ? h("span", { class: `badge ${r.outcome === "applied" ? "Succeeded" : "Paused"}` }, r.outcome) : ""),
    h("td", {}, r.by || ""),
    h("td", { class: "msg" }, [r.reason ? `reason: ${r.reason}. ` : "", r.text || ""].join("")))));
}
tid("timeline-current").addEventListener("click", () => { state.shown = null; renderTimeline(state.detail); });

// The candidate's share over time as a step line (inline SVG; the CSP allows nothing else).
function plot(points) {
  const W = 320, H = 70, L = 30, R = 6, T = 6, B = 16;
  const ts = points.map((p) => new Date(p.at).getTime());
  const t0 = Math.min(...ts), t1 = Math.max(...ts);
  const x = (t) => L + (t1 === t0 ? 0 : ((t - t0) * (W - L - R)) / (t1 - t0));
  const y = (w) => T + ((100 - w) * (H - T - B)) / 100;
  let path = "";
  points.forEach((p, i) => {
    const px = x(ts[i]).toFixed(1), py = y(p.weight).toFixed(1);
    path += i === 0 ? `M${px},${py}` : ` H${px} V${py}`;
  });
  const last = points[points.length - 1];
  const el = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img",
    "aria-label": `candidate traffic over time: ${points.map((p) => `${p.weight}%`).join(" → ")}` },
  svg("line", { x1: L, x2: W - R, y1: y(0), y2: y(0), stroke: "#d5dbe6" }),
  svg("line", { x1: L, x2: W - R, y1: y(100), y2: y(100), stroke: "#eef1f6" }),
  svg("text", { x: 2, y: y(100) + 4, "font-size": 10, fill: "#647084" }, "100%"),
  svg("text", { x: 10, y: y(0) + 4, "font-size": 10, fill: "#647084" }, "0%"),
  svg("text", { x: L, y: H - 2, "font-size": 10, fill: "#647084" }, new Date(t0).toLocaleTimeString()),
  svg("text", { x: W - R, y: H - 2, "font-size": 10, fill: "#647084", "text-anchor": "end" }, new Date(t1).toLocaleTimeString()),
  svg("path", { d: path, fill: "none", stroke: "#3656d6", "stroke-width": 2 }),
  ...points.map((p, i) => svg("circle", { cx: x(ts[i]).toFixed(1), cy: y(p.weight).toFixed(1), r: 2.5, fill: "#3656d6" },
    svg("title", {}, `${when(p.at)}: ${p.weight}%`))));
  el.dataset.testid = "weight-plot-svg";
  el.dataset.last = String(last.weight);
  return el;
}

// -- the audit trail, with filters (issue 14 item 3) -------------------------------------------

async function loadAudit() {
  if (!state.app) return;
  const token = state.token;
  const q = new URLSearchParams({ actor: tid("audit-actor").value.trim(), kind: tid("audit-kind").value, outcome: tid("audit-outcome").value.trim() });
  try {
    const { data } = await api("GET", `${appPath("/audit")}?${q}`);
    if (token !== state.token) return;
    tid("audit").querySelector("tbody").replaceChildren(...data.audit.map((r, i) => h("tr", { testid: `audit-row-${i}` },
      h("td", { title: r.at }, when(r.at)),
      h("td", {}, h("b", {}, r.kind), " ", h("span", { class: "mono muted" }, r.release)),
      h("td", {}, h("span", { class: `badge ${r.outcome}` }, r.outcome || "-")),
      h("td", {}, r.by, r.source ? h("span", { class: "muted" }, ` · ${r.source}`) : ""),
      h("td", { class: "msg" }, [r.reason ? `reason: ${r.reason}. ` : "", r.text].join("")))));
    tid("audit-empty").hidden = data.audit.length > 0;
  } catch (e) {
    showError(e.message, "poll");
  }
}
tid("audit-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadAudit(); });
tid("audit-kind").addEventListener("change", loadAudit);

// -- confirmations that show what will change (issue 14 item 6) ------------------------------

let confirmed = null;

// Opens the dialog (modal: focus stays inside, Escape closes it) and resolves with the
// reason typed (or "") on OK, null on cancel.
function ask({ title, lines = [], diff = null, note = "", reason = false, ok = "Confirm", danger = true }) {
  const dlg = tid("confirm");
  tid("confirm-title").textContent = title;
  const body = tid("confirm-body");
  body.replaceChildren(...lines.map((l) => h("p", {}, l)));
  if (note) body.append(h("p", { class: "muted", testid: "confirm-note" }, note));
  if (diff) {
    body.append(diff.length
      ? h("table", { class: "diff", testid: "confirm-diff" },
        h("thead", {}, h("tr", {}, h("th", {}, "field"), h("th", {}, "now"), h("th", {}, "after"))),
        h("tbody", {}, ...diff.map((c) => h("tr", {},
          h("td", { class: "mono" }, c.path),
          h("td", { class: "mono del" }, c.before === null ? "(none)" : c.before),
          h("td", { class: "mono add" }, c.after === null ? "(removed)" : c.after)))))
      : h("p", { class: "muted", testid: "confirm-diff" }, "the pod template stays as it is"));
  }
  const field = tid("confirm-reason-field");
  field.hidden = !reason;
  tid("confirm-reason").value = "";
  const btn = tid("confirm-ok");
  btn.textContent = ok;
  btn.classList.toggle("danger", danger);
  btn.classList.toggle("primary", !danger);
  const opener = document.activeElement;
  dlg.showModal();
  (reason ? tid("confirm-reason") : btn).focus();
  return new Promise((resolve) => {
    confirmed = (value) => {
      confirmed = null;
      if (dlg.open) dlg.close();
      if (opener && opener.focus) opener.focus();
      resolve(value);
    };
  });
}
tid("confirm-form").addEventListener("submit", (ev) => { ev.preventDefault(); if (confirmed) confirmed(tid("confirm-reason").value.trim()); });
tid("confirm-cancel").addEventListener("click", () => { if (confirmed) confirmed(null); });
tid("confirm").addEventListener("close", () => { if (confirmed) confirmed(null); });
// Tab and Shift+Tab go round the dialog's own controls (the page behind is inert).
tid("confirm").addEventListener("keydown", (ev) => {
  if (ev.key !== "Tab") return;
  const items = [...tid("confirm").querySelectorAll("button, input, select, textarea")].filter((e) => !e.disabled && e.offsetParent !== null);
  if (!items.length) return;
  const first = items[0], last = items[items.length - 1];
  if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
  else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
});

async function confirmAbort(button) {
  const rel = state.detail && state.detail.status.release;
  const lines = rel ? [`Traffic stays on (or returns to) ${rel.stable}; ${rel.candidate_deployment} is scaled to 0.`] : [];
  const t = (state.detail && state.detail.traffic) || [];
  if (t.length) lines.push(`Traffic now: ${t.map((s) => s.label).join(", ")} → after: ${rel ? `${rel.stable} 100%` : "-"}.`);
  const reason = await ask({ title: `Abort release ${rel ? rel.id : ""}?`, lines, reason: true, ok: "Abort" });
  if (reason !== null) act(button, "/intent/abort", reason ? { reason } : {});
}

async function confirmRollback(button) {
  const to = tid("rollback-to").value;
  let preview;
  try {
    preview = (await api("GET", `${appPath("/diff/rollback")}${to ? `?to=${encodeURIComponent(to)}` : ""}`)).data;
  } catch (e) { showError(e.message); return; }
  const reason = await ask({ title: to ? `Roll back to release ${to}?` : "Roll back?", lines: [`${preview.from} → ${preview.to}`],
    note: preview.note, diff: preview.diff, ok: "Roll back" });
  if (reason !== null) act(button, "/rollback", { scaleDownDelay: delay(), ...(to ? { to } : {}) });
}

async function confirmRelease(body) {
  let preview;
  try {
    preview = (await api("POST", appPath("/diff/release"), body)).data;
  } catch (e) { showError(e.message); return; }
  const reason = await ask({ title: `Release onto a new track from ${preview.from}?`, lines: [`strategy ${body.strategy}${body.steps ? `, steps ${body.steps}` : ""}`],
    diff: preview.diff, ok: "Release", danger: false });
  if (reason !== null) act(tid("btn-release"), "/release", body);
}

async function confirmScale(body) {
  const track = (state.detail ? state.detail.status.tracks : []).find((t) => t.track === body.track);
  if (!track || body.replicas >= track.replicas) { act(tid("btn-scale"), "/scale", body); return; }
  const reason = await ask({ title: `Scale ${track.deployment} down?`, lines: [`${body.track}: ${track.replicas} → ${body.replicas} replicas (${track.ready} ready now)`,
    track.serving ? `${body.track} serves traffic: fewer pods carry all of it.` : `${body.track} serves no traffic.`], ok: "Scale down" });
  if (reason !== null) act(tid("btn-scale"), "/scale", body);
}

async function confirmSplit(text) {
  const now = ((state.detail && state.detail.traffic) || []).map((s) => s.label).join(", ") || "-";
  const after = text.split(/[\s,]+/).filter(Boolean).map((w) => w.replace("=", " ") + (w.includes("%") ? "" : "%")).join(", ");
  const reason = await ask({ title: "Split traffic?", lines: [`now: ${now}`, `after: ${after}`], ok: "Split" });
  if (reason !== null) act(tid("btn-split"), "/split", { weights: text });
}

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
