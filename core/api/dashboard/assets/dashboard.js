// fnproxy's dashboard: signs in at v1/auth/token and does everything else through the public
// API with that token, so the signed-in client's scopes hold here as anywhere. The token lives
// in this tab's sessionStorage (never in a URL); data from the API is only ever set as text.
"use strict";
(() => {
  const API_ROOT = new URL(".", document.baseURI); // the page's folder: keeps a stage prefix
  const SESSION_KEY = "fnproxy.dashboard.session";
  const ACTIVITY_REFRESH_MS = 5000;
  const PAGE_SIZE = 25;
  const STATUSES = ["queued", "running", "succeeded", "failed", "timed_out"];
  const WINDOWS = [["1 hour", 3600], ["24 hours", 86400], ["7 days", 604800], ["30 days", 2592000]];
  const CHART_POINTS = 48;

  const main = document.getElementById("main");
  const notice = document.getElementById("notice");
  let leavePage = []; // what the current page stops when another is shown (timers)

  // ---- elements --------------------------------------------------------------------------
  // h("tag.class", {attribute: value, onclick: fn}, child, ...): children are nodes or text.
  function h(spec, attributes, ...children) {
    const [tag, ...classes] = spec.split(".");
    const element = document.createElement(tag);
    if (classes.length) element.className = classes.join(" ");
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
      else if (name === "text") element.textContent = value;
      else if (name === "value" || (name in element && typeof element[name] === "boolean")) element[name] = value;
      else element.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) {
        element.append(child instanceof Node ? child : String(child));
      }
    }
    return element;
  }

  let fieldCount = 0;
  function field(labelText, control, hint) {
    control.id = control.id || `field-${++fieldCount}`;
    return h("div.field", {}, h("label", { for: control.id, text: labelText }), control,
      hint ? h("small", { text: hint }) : null);
  }

  let sectionCount = 0;
  function section(title, ...children) { // a region named by its heading
    const id = `section-${++sectionCount}`;
    return h("section.card", { "aria-labelledby": id }, h("h2", { id, text: title }), ...children);
  }

  function pre(value) {
    return h("pre.json", { tabindex: 0 }, value === undefined ? "" : JSON.stringify(value, null, 2));
  }

  function badge(text, kind) {
    return h(`span.badge.${kind || text}`, { text });
  }

  function table(headers, rows, caption) {
    return h("div.scroll", {}, h("table", {},
      caption ? h("caption", { text: caption }) : null,
      h("thead", {}, h("tr", {}, headers.map((title) => h("th", { scope: "col", text: title })))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td.empty", { colspan: headers.length, text: "Nothing yet." })))));
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : "—";
  }

  function ms(value) {
    return value === null || value === undefined ? "—" : `${Number(value).toFixed(1)} ms`;
  }

  let noticeTimer;
  function say(message, kind) {
    notice.textContent = message;
    notice.className = `notice ${kind || "info"}`;
    clearTimeout(noticeTimer);
    if (kind !== "error") noticeTimer = setTimeout(() => { notice.textContent = ""; }, 8000);
  }

  function show(title, ...children) {
    leavePage.forEach((stop) => stop());
    leavePage = [];
    document.title = `${title} · fnproxy`;
    const heading = h("h1", { text: title, tabindex: -1 });
    main.replaceChildren(heading, ...children);
    heading.focus();
  }

  // ---- session ---------------------------------------------------------------------------
  function session() {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    if (saved && saved.expires_at * 1000 > Date.now()) return saved;
    sessionStorage.removeItem(SESSION_KEY);
    return null;
  }

  function scopes() {
    return (session()?.scope || "").split(" ");
  }
  const can = {
    admin: () => scopes().includes("admin"),
    read: () => scopes().some((scope) => scope === "admin" || scope === "read"),
    invoke: () => scopes().some((scope) => scope === "admin" || scope === "invoke" || scope.startsWith("invoke:")),
  };

  function signOut(message) {
    sessionStorage.removeItem(SESSION_KEY);
    say(message || "Signed out.");
    location.hash = "#/signin";
    render();
  }

  // ---- the API ---------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, problem) {
      super(problem.detail || problem.title || `HTTP ${status}`);
      this.status = status;
      this.problem = problem;
    }
  }

  async function api(method, path, { query, body } = {}) {
    const url = new URL(path, API_ROOT);
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
    }
    const headers = { Accept: "application/json" };
    const token = session()?.token;
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", cache: "no-store",
    });
    const text = await response.text();
    const answer = text ? JSON.parse(text) : null;
    if (response.status === 401 && token) {
      signOut("Your session has ended: sign in again.");
      throw new ApiError(401, answer || {});
    }
    if (!response.ok) throw new ApiError(response.status, answer || {});
    return answer;
  }

  // Runs `action`: its answer (true for an empty one, as a 204's), or false after saying what
  // went wrong in the notice, never failing silently.
  async function attempt(action, done) {
    try {
      const answer = await action();
      if (done) say(done, "ok");
      return answer ?? true;
    } catch (error) {
      say(error instanceof ApiError ? `${error.problem.title || "Error"}: ${error.message}` : String(error), "error");
      return false;
    }
  }

  function parseJson(text, what) {
    try {
      return text.trim() === "" ? null : JSON.parse(text);
    } catch (error) {
      throw new Error(`${what}: ${error.message}`);
    }
  }

  const fn = (name) => `v1/functions/${encodeURIComponent(name)}`;

  // ---- pages -----------------------------------------------------------------------------
  function signInPage() {
    document.getElementById("nav").hidden = true;
    document.getElementById("sign-out").hidden = true;
    document.getElementById("who").textContent = "";
    const method = h("select", {},
      h("option", { value: "client", text: "Client credentials" }),
      h("option", { value: "module", text: "Module key" }));
    const clientId = h("input", { autocomplete: "username", required: true });
    const secret = h("input", { type: "password", autocomplete: "current-password", required: true });
    const secretLabel = h("label", { for: "sign-in-secret", text: "Client secret" });
    secret.id = "sign-in-secret";
    const idField = field("Client ID", clientId);
    method.addEventListener("change", () => {
      const module = method.value === "module";
      idField.hidden = module;
      clientId.required = !module;
      secretLabel.textContent = module ? "Module key" : "Client secret";
    });
    const form = h("form.card.narrow", {
      onsubmit: async (event) => {
        event.preventDefault();
        const body = method.value === "module"
          ? { api_key: secret.value }
          : { client_id: clientId.value.trim(), client_secret: secret.value };
        const grant = await attempt(() => api("POST", "v1/auth/token", { body }));
        if (!grant) return;
        sessionStorage.setItem(SESSION_KEY, JSON.stringify({
          token: grant.access_token, scope: grant.scope,
          who: body.client_id || "module key",
          expires_at: Date.now() / 1000 + grant.expires_in,
        }));
        secret.value = "";
        say("");
        location.hash = "#/";
      },
    },
    field("Sign in with", method), idField,
    h("div.field", {}, secretLabel, secret),
    h("button.primary", { type: "submit", text: "Sign in" }));
    show("Sign in", form);
  }

  async function overviewPage() {
    const windowSelect = h("select", {}, WINDOWS.map(([label, seconds]) => h("option", { value: seconds, text: label })));
    windowSelect.value = "86400";
    const functionSelect = h("select", {}, h("option", { value: "", text: "All functions" }));
    const figures = h("div.figures", { "aria-live": "polite" });
    const charts = h("div.charts");
    const health = h("div");
    const counts = h("div.figures");
    const feed = h("ol.feed", { "aria-label": "Recent activity" });
    const autoRefresh = h("input", { type: "checkbox", checked: true });
    show("Overview",
      h("div.toolbar", {}, field("Window", windowSelect), field("Function", functionSelect)),
      section("Invocations", figures, charts),
      h("div.columns", {},
        section("Health", health),
        section("Functions", counts)),
      section("Recent activity", h("div.toolbar", {}, field("Refresh every 5 s", autoRefresh)), feed));

    let latestStats = 0; // an answer to an older choice never replaces a newer one's
    async function loadStats() {
      const ticket = ++latestStats;
      const since = Math.floor(Date.now() / 1000) - Number(windowSelect.value);
      const stats = await attempt(() => api("GET", "v1/stats", { query: { since } }));
      if (!stats || ticket !== latestStats) return;
      const chosen = functionSelect.value;
      const names = Object.keys(stats.by_function).sort();
      functionSelect.replaceChildren(h("option", { value: "", text: "All functions" }),
        ...names.map((name) => h("option", { value: name, text: name })));
      functionSelect.value = names.includes(chosen) ? chosen : "";
      const shown = functionSelect.value ? stats.by_function[functionSelect.value] : stats;
      figures.replaceChildren(
        figure("Invocations", shown.count, "invocations"),
        figure("Success rate", shown.count ? `${(shown.success_rate * 100).toFixed(1)} %` : "—", "success-rate"),
        figure("p50", ms(shown.p50_ms), "p50"),
        figure("p95", ms(shown.p95_ms), "p95"),
        figure("p99", ms(shown.p99_ms), "p99"));
      const step = stats.bucket_s * Math.max(1, Math.ceil(Number(windowSelect.value) / stats.bucket_s / CHART_POINTS));
      const series = await attempt(() => api("GET", "v1/stats/series", {
        query: { since, step, function: functionSelect.value },
      }));
      if (series && ticket === latestStats) charts.replaceChildren(invocationsChart(series.buckets), latencyChart(series.buckets));
    }

    async function loadHealth() {
      const answer = await attempt(() => api("GET", "health"));
      if (!answer) return;
      const rows = Object.entries(answer.checks || {}).map(([port, state]) =>
        h("tr", {}, h("th", { scope: "row", text: port }), h("td", {}, badge(state, state === "ok" ? "ok" : "bad"))));
      const circuits = Object.entries(answer.circuits || {}).map(([target, state]) =>
        h("tr", {}, h("th", { scope: "row", text: `circuit ${target}` }), h("td", {}, badge(state.state || "open", "bad"))));
      health.replaceChildren(h("p", {}, "Status ", badge(answer.status, answer.status === "ok" ? "ok" : "bad"),
        ` · version ${answer.version}`), table(["Port", "State"], [...rows, ...circuits]));
    }

    async function loadCounts() {
      const all = await attempt(() => allFunctions());
      if (!all) return;
      const disabled = all.filter((item) => !item.enabled).length;
      counts.replaceChildren(figure("Registered", all.length, "functions-total"),
        figure("Active", all.length - disabled, "functions-enabled"),
        figure("Disabled", disabled, "functions-disabled"));
    }

    async function loadActivity() {
      const answer = await attempt(() => api("GET", "v1/activity", { query: { limit: 15 } }));
      if (!answer) return;
      feed.replaceChildren(...(answer.activity.length ? answer.activity.map((item) => h("li", {},
        badge(item.status), " ", h("a", { href: `#/executions/${item.execution_id}`, text: item.function }),
        item.version ? ` v${item.version}` : "", ` · ${ms(item.duration_ms)} · ${when(item.created_at)}`))
        : [h("li.empty", { text: "No invocations yet." })]));
    }

    windowSelect.addEventListener("change", loadStats);
    functionSelect.addEventListener("change", loadStats);
    const timer = setInterval(() => {
      if (autoRefresh.checked && !document.hidden) loadActivity();
    }, ACTIVITY_REFRESH_MS);
    leavePage.push(() => clearInterval(timer));
    await Promise.all([loadStats(), loadHealth(), loadCounts(), loadActivity()]);
  }

  function figure(label, value, name) {
    return h("div.figure", { "data-figure": name }, h("span.value", { text: value }), h("span.label", { text: label }));
  }

  async function allFunctions() {
    const found = [];
    let cursor;
    do {
      const page = await api("GET", "v1/functions", { query: { limit: 500, cursor } });
      found.push(...page.functions);
      cursor = page.next_cursor;
    } while (cursor);
    return found;
  }

  // Two SVG charts of a stats series: invocations (failures in their own colour) and latency.
  // Each bar and point has a <title>, so hovering (or a screen reader) gives its figures.
  const SVG = "http://www.w3.org/2000/svg";
  const CHART = { width: 600, height: 160, left: 36, top: 16 };

  function svg(tag, attributes, title) {
    const element = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
    if (title) element.append(Object.assign(document.createElementNS(SVG, "title"), { textContent: title }));
    return element;
  }

  // The frame of a chart whose highest value is `top`: its scale and slot width, and the axis.
  function frame(title, buckets, top, unit) {
    const picture = svg("svg", { viewBox: `0 0 ${CHART.width} ${CHART.height}`, role: "img", "aria-label": title, class: "chart" });
    const axis = svg("text", { x: 0, y: 12, class: "axis" });
    axis.textContent = `${Math.round(top)}${unit}`;
    picture.append(axis);
    const plotHeight = CHART.height - CHART.top;
    return {
      picture,
      y: (value) => CHART.height - (plotHeight * value) / top,
      x: (index) => CHART.left + index * ((CHART.width - CHART.left) / Math.max(1, buckets.length)),
      slot: (CHART.width - CHART.left) / Math.max(1, buckets.length),
      figure: () => h("figure.chart", {}, picture, h("figcaption", { text: title })),
    };
  }

  const bucketTime = (bucket) => new Date(bucket.start * 1000).toLocaleString();

  function invocationsChart(buckets) {
    const total = buckets.reduce((sum, bucket) => sum + bucket.invocations, 0);
    const top = Math.max(1, ...buckets.map((bucket) => bucket.invocations));
    const chart = frame(`Invocations over time: ${total} in ${buckets.length} steps`, buckets, top, "");
    buckets.forEach((bucket, index) => {
      const width = Math.max(1, chart.slot - 1);
      const bar = (value, className, title) => svg("rect", {
        x: chart.x(index), y: chart.y(value), width, height: CHART.height - chart.y(value), class: className,
      }, title);
      if (bucket.invocations) chart.picture.append(bar(bucket.invocations, "bar", `${bucketTime(bucket)}: ${bucket.invocations} invocations, ${bucket.failures} failed`));
      if (bucket.failures) chart.picture.append(bar(bucket.failures, "bar failed"));
    });
    return chart.figure();
  }

  function latencyChart(buckets) {
    const top = Math.max(1, ...buckets.map((bucket) => bucket.p95_ms || 0));
    const chart = frame("Latency over time: p50 and p95", buckets, top, " ms");
    for (const [key, name] of [["p50_ms", "p50"], ["p95_ms", "p95"]]) {
      const points = buckets.map((bucket, index) => bucket[key] === null ? null
        : [chart.x(index) + chart.slot / 2, chart.y(bucket[key]), bucket]).filter(Boolean);
      if (points.length > 1) chart.picture.append(svg("polyline", { points: points.map(([x, y]) => `${x},${y}`).join(" "), class: `line ${name}` }));
      for (const [x, y, bucket] of points) {
        chart.picture.append(svg("circle", { cx: x, cy: y, r: 3, class: name }, `${bucketTime(bucket)}: ${name} ${ms(bucket[key])}`));
      }
    }
    return chart.figure();
  }

  async function functionsPage() {
    const search = h("input", { type: "search", placeholder: "name or description" });
    const list = h("div");
    let functions = [];
    const draw = () => {
      const term = search.value.trim().toLowerCase();
      const shown = functions.filter((item) => !term || item.name.toLowerCase().includes(term)
        || (item.description || "").toLowerCase().includes(term));
      list.replaceChildren(table(["Name", "Active version", "Canary", "Status", "Updated"], shown.map((item) => h("tr", {},
        h("td", {}, h("a", { href: `#/functions/${encodeURIComponent(item.name)}`, text: item.name }),
          item.description ? h("div.muted", { text: item.description }) : null),
        h("td", { text: `v${item.active_version} of ${item.latest_version}` }),
        h("td", { text: item.canary ? `v${item.canary.version} at ${item.canary.weight} %` : "—" }),
        h("td", {}, badge(item.enabled ? "enabled" : "disabled")),
        h("td", { text: when(item.updated_at) })))));
    };
    search.addEventListener("input", draw);
    show("Functions", h("div.toolbar", {}, field("Search functions", search)), list,
      can.admin() ? createFunctionForm() : null);
    functions = (await attempt(allFunctions)) || [];
    draw();
  }

  function targetControl(value) {
    return h("textarea", { rows: 3, spellcheck: false, placeholder: '{"provider": "local", "function": "hello"}', value });
  }

  function createFunctionForm() {
    const name = h("input", { required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,127}" });
    const description = h("input", { maxlength: 1024 });
    const target = targetControl("");
    return section("Register a function", h("form", {
      onsubmit: async (event) => {
        event.preventDefault();
        const created = await attempt(() => api("POST", "v1/functions", {
          body: { name: name.value.trim(), description: description.value, target: parseJson(target.value, "target") },
        }), `Registered ${name.value.trim()}.`);
        if (created) location.hash = `#/functions/${encodeURIComponent(created.name)}`;
      },
    }, field("Name", name), field("Description", description),
    field("Target (JSON)", target, "provider and its fields, as in POST /v1/invoke"),
    h("button.primary", { type: "submit", text: "Register" })));
  }

  async function functionPage(name) {
    const detail = await attempt(() => api("GET", fn(name)));
    if (!detail) {
      show(name, h("p", {}, h("a", { href: "#/functions", text: "Back to functions" })));
      return;
    }
    const reload = () => functionPage(name);
    const admin = can.admin();
    const act = (method, path, body, done) => async () => {
      if (await attempt(() => api(method, path, { body }), done)) reload();
    };
    const previous = detail.versions.map((v) => v.version).filter((v) => v < detail.active_version);
    const changes = h("div");
    show(`Function ${detail.name}`,
      h("div.summary", {},
        badge(detail.enabled ? "enabled" : "disabled"),
        h("span", { text: ` active v${detail.active_version} of ${detail.latest_version}` }),
        detail.canary ? h("span", { text: ` · canary v${detail.canary.version} at ${detail.canary.weight} %` }) : null,
        detail.description ? h("p.muted", { text: detail.description }) : null),
      admin ? h("div.toolbar", {},
        detail.enabled
          ? h("button", { type: "button", text: "Disable", onclick: act("POST", `${fn(name)}/disable`, undefined, `Disabled ${name}.`) })
          : h("button", { type: "button", text: "Enable", onclick: act("POST", `${fn(name)}/enable`, undefined, `Enabled ${name}.`) }),
        previous.length ? h("button", {
          type: "button", text: `Roll back to v${Math.max(...previous)}`,
          onclick: act("POST", `${fn(name)}/active-version`, { version: Math.max(...previous) }, `Rolled back to v${Math.max(...previous)}.`),
        }) : null) : null,
      section("Versions", h("div.cards", {}, detail.versions.map((version) => versionCard(detail, version, act))),
        admin ? addVersionForm(name, reload) : null),
      h("div.columns", {},
        section("Canary", canaryPanel(detail, act)),
        section("Policy", policyPanel(detail, reload)),
        can.invoke() ? section("Test console", testConsole(detail)) : null,
        section("Change history", changes)),
      section("Executions", executionsExplorer(name)));
    loadChanges(name, changes);
  }

  function versionCard(detail, version, act) {
    const active = version.version === detail.active_version;
    const canary = detail.canary && detail.canary.version === version.version;
    const path = `${fn(detail.name)}`;
    return h("article.version", { "aria-label": `Version ${version.version}` },
      h("h3", {}, `v${version.version} `, active ? badge("active") : null, canary ? badge(`canary ${detail.canary.weight} %`, "canary") : null),
      pre(version.target),
      h("p.muted", { text: `created ${when(version.created_at)} by ${version.created_by}` }),
      can.admin() && !active ? h("div.toolbar", {},
        h("button", { type: "button", text: `Activate v${version.version}`, onclick: act("POST", `${path}/active-version`, { version: version.version }, `Activated v${version.version}.`) }),
        h("button.danger", {
          type: "button", text: `Delete v${version.version}`,
          onclick: async (event) => {
            if (confirm(`Delete version ${version.version} of ${detail.name}?`)) await act("DELETE", `${path}/versions/${version.version}`, undefined, `Deleted v${version.version}.`)(event);
          },
        })) : null);
  }

  function addVersionForm(name, reload) {
    const target = targetControl("");
    const activate = h("input", { type: "checkbox" });
    return h("form.inline", {
      onsubmit: async (event) => {
        event.preventDefault();
        const added = await attempt(() => api("POST", `${fn(name)}/versions`, {
          body: { target: parseJson(target.value, "target"), activate: activate.checked },
        }));
        if (added) {
          say(`Added v${added.version}.`, "ok");
          reload();
        }
      },
    }, h("h3", { text: "Add a version" }), field("New version's target (JSON)", target), field("Activate it now", activate),
    h("button.primary", { type: "submit", text: "Add version" }));
  }

  function canaryPanel(detail, act) {
    const current = detail.canary ? h("p", { text: `v${detail.canary.version} takes ${detail.canary.weight} % of invocations; v${detail.active_version} the rest.` })
      : h("p.muted", { text: "No canary: every invocation runs the active version." });
    if (!can.admin()) return current;
    const others = detail.versions.filter((v) => v.version !== detail.active_version);
    if (!others.length) return [current, h("p.muted", { text: "Add a second version to split traffic." })];
    const version = h("select", {}, others.map((v) => h("option", { value: v.version, text: `v${v.version}` })));
    const weight = h("input", { type: "number", min: 1, max: 99, required: true, value: detail.canary ? detail.canary.weight : 10 });
    if (detail.canary) version.value = String(detail.canary.version);
    return [current, h("form.inline", {
      onsubmit: (event) => {
        event.preventDefault();
        act("PUT", `${fn(detail.name)}/canary`, { version: Number(version.value), weight: Number(weight.value) }, "Canary set.")();
      },
    }, field("Canary version", version), field("Weight (%)", weight),
    h("button.primary", { type: "submit", text: "Set canary" }),
    detail.canary ? h("button", { type: "button", text: "Clear canary", onclick: act("DELETE", `${fn(detail.name)}/canary`, undefined, "Canary cleared.") }) : null)];
  }

  function policyPanel(detail, reload) {
    if (!can.admin()) return [h("p", { text: detail.description || "" }), pre(detail.policy)];
    const description = h("input", { value: detail.description || "", maxlength: 1024 });
    const policy = h("textarea", { rows: 6, spellcheck: false, value: JSON.stringify(detail.policy, null, 2) });
    return h("form", {
      onsubmit: async (event) => {
        event.preventDefault();
        const body = { description: description.value, policy: parseJson(policy.value, "policy") || {} };
        if (await attempt(() => api("PATCH", fn(detail.name), { body }), "Policy saved.")) reload();
      },
    }, field("Description", description),
    field("Policy (JSON)", policy, "allowed_clients, allowed_scopes, timeout_s, retry, rate_limit"),
    h("button.primary", { type: "submit", text: "Save policy" }));
  }

  function testConsole(detail) {
    const version = h("select", {}, detail.versions.map((v) => h("option", {
      value: v.version, text: v.version === detail.active_version ? `v${v.version} (active)` : `v${v.version}`,
    })));
    version.value = String(detail.active_version);
    const payload = h("textarea", { rows: 5, spellcheck: false, value: "{}" });
    const answer = h("div", { "aria-live": "polite" });
    return [h("form", {
      onsubmit: async (event) => {
        event.preventDefault();
        answer.replaceChildren(h("p.muted", { text: "Invoking…" }));
        try {
          const envelope = await api("POST", `${fn(detail.name)}/invoke`, {
            query: { version: version.value }, body: { payload: parseJson(payload.value, "payload") },
          });
          answer.replaceChildren(h("p", {}, badge(envelope.status), " ",
            h("a", { href: `#/executions/${envelope.execution_id}`, text: "open the execution" })), pre(envelope));
        } catch (error) {
          answer.replaceChildren(h("p.error", { text: error.message }), ...(error.problem ? [pre(error.problem)] : []));
        }
      },
    }, field("Version", version), field("Payload (JSON)", payload),
    h("button.primary", { type: "submit", text: "Invoke" })), answer];
  }

  async function loadChanges(name, into, cursor) {
    const page = await attempt(() => api("GET", `${fn(name)}/history`, { query: { limit: PAGE_SIZE, cursor } }));
    if (!page) return;
    const rows = page.changes.map((change) => h("tr", {},
      h("td", { text: change.revision }),
      h("td", { text: change.action.replace(/_/g, " ") }),
      h("td", { text: [change.from_version, change.to_version].filter((v) => v !== null).map((v) => `v${v}`).join(" → ") || "—" }),
      h("td", { text: change.by }),
      h("td", { text: when(change.at) })));
    const older = page.next_cursor ? h("button", {
      type: "button", text: "Older changes", onclick: (event) => {
        event.target.remove();
        loadChanges(name, into, page.next_cursor);
      },
    }) : null;
    const body = into.querySelector("tbody");
    if (cursor && body) {
      body.append(...rows);
      if (older) into.append(older);
    } else {
      into.replaceChildren(table(["Revision", "Change", "Versions", "By", "At"], rows), ...(older ? [older] : []));
    }
  }

  // Filters (function, status, time), a table of executions and paging by cursor, for one
  // function (its executions route) or all of them (v1/invocations).
  function executionsExplorer(functionName) {
    const functionFilter = functionName ? null : h("input", { placeholder: "e.g. greet or local:echo" });
    const status = h("select", {}, h("option", { value: "", text: "Any status" }), STATUSES.map((s) => h("option", { value: s, text: s })));
    const since = h("input", { type: "datetime-local" });
    const until = h("input", { type: "datetime-local" });
    const results = h("div");
    const cursors = [undefined];
    const epoch = (input) => (input.value ? Math.floor(new Date(input.value).getTime() / 1000) : undefined);
    let latest = 0; // an answer to an older request never replaces a newer one's
    async function load(pageIndex) {
      const ticket = ++latest;
      const query = {
        status: status.value, since: epoch(since), until: epoch(until), limit: PAGE_SIZE,
        cursor: cursors[pageIndex], function: functionFilter ? functionFilter.value.trim() : undefined,
      };
      const path = functionName ? `${fn(functionName)}/executions` : "v1/invocations";
      const page = await attempt(() => api("GET", path, { query }));
      if (!page || ticket !== latest) return;
      cursors[pageIndex + 1] = page.next_cursor;
      const items = page.executions || page.invocations;
      results.replaceChildren(
        table(["Status", "Function", "Version", "Mode", "Duration", "Started", "Execution"], items.map((item) => h("tr", {},
          h("td", {}, badge(item.status)),
          h("td", { text: item.function }),
          h("td", { text: item.version || item.function_version ? `v${item.version || item.function_version}` : "—" }),
          h("td", { text: item.mode }),
          h("td", { text: ms(item.duration_ms) }),
          h("td", { text: when(item.created_at) }),
          h("td", {}, h("a", { href: `#/executions/${item.execution_id}`, text: item.execution_id.slice(0, 12) }))))),
        h("div.toolbar", {},
          h("button", { type: "button", text: "Newer", disabled: pageIndex === 0, onclick: () => load(pageIndex - 1) }),
          h("span.muted", { text: `page ${pageIndex + 1}` }),
          h("button", { type: "button", text: "Older", disabled: !page.next_cursor, onclick: () => load(pageIndex + 1) })));
    }
    const form = h("form.toolbar", {
      onsubmit: (event) => {
        event.preventDefault();
        cursors.length = 1;
        load(0);
      },
    }, functionFilter ? field("Function", functionFilter) : null, field("Status", status), field("Since", since), field("Until", until),
    h("button.primary", { type: "submit", text: "Filter" }));
    load(0);
    return [form, results];
  }

  function invocationsPage() {
    show("Invocations", ...executionsExplorer(null));
  }

  function part(record, name, view) { // a payload, result or log: inline, cut, or a blob's link
    const blob = record[`${name}_blob`];
    if (blob && blob.url) {
      return [h("p", {}, `${blob.size} bytes, kept in blob storage: `,
        h("a", { href: blob.url, rel: "noreferrer", text: `download the ${name}` }), " (the link expires soon)")];
    }
    return [view(record[name]), record[`${name}_truncated`] ? h("p.muted", { text: "truncated" }) : null];
  }

  async function executionPage(id) {
    const record = await attempt(() => api("GET", `v1/invocations/${encodeURIComponent(id)}`));
    if (!record) {
      show("Execution", h("p", { text: `No execution ${id} to show.` }));
      return;
    }
    const facts = [
      ["Status", badge(record.status)], ["Function", record.function],
      ["Version", record.function_version ? `v${record.function_version}` : "—"],
      ["Mode", record.mode], ["Caller", record.caller], ["Status code", record.status_code ?? "—"],
      ["Attempts", record.attempts], ["Duration", ms(record.duration_ms)],
      ["Created", when(record.created_at)], ["Started", when(record.started_at)], ["Finished", when(record.finished_at)],
      ["Session", record.session_id || "—"],
    ];
    show(`Execution ${record.execution_id}`,
      section("Summary", h("dl.facts", {}, facts.flatMap(([term, value]) => [h("dt", { text: term }), h("dd", {}, value)]))),
      section("Payload", ...part(record, "payload", pre)),
      section("Result", ...part(record, "result", pre)),
      record.error ? section("Error", pre(record.error)) : null,
      section("Logs", ...part(record, "logs", (logs) => h("pre.logs", { tabindex: 0, text: logs || "(no logs)" }))),
      section("Target and provider", pre({ target: record.target, provider: record.provider, provider_info: record.provider_info })));
  }

  async function clientsPage() {
    const list = h("div");
    const created = h("div", { "aria-live": "polite" });
    const name = h("input", { required: true, maxlength: 128 });
    const scopeBoxes = ["read", "invoke", "admin"].map((scope) => [scope, h("input", { type: "checkbox", value: scope, checked: scope === "read" })]);
    const globs = h("input", { placeholder: "invoke:aws_lambda:billing-*" });
    async function load() {
      const answer = await attempt(() => api("GET", "v1/clients"));
      if (!answer) return;
      list.replaceChildren(table(["Name", "Client ID", "Scopes", "Created", "Last used", "Uses", ""], answer.clients.map((client) => h("tr", {},
        h("td", { text: client.name }), h("td", {}, h("code", { text: client.client_id })),
        h("td", { text: client.scopes.join(" ") }), h("td", { text: when(client.created_at) }),
        h("td", { text: when(client.last_used_at) }), h("td", { text: client.uses }),
        h("td", {}, client.revoked_at ? badge("revoked") : h("button.danger", {
          type: "button", text: `Revoke ${client.name}`,
          onclick: async () => {
            if (!confirm(`Revoke ${client.name}? Its tokens stop working.`)) return;
            if (await attempt(() => api("DELETE", `v1/clients/${encodeURIComponent(client.client_id)}`), `Revoked ${client.name}.`)) load();
          },
        }))))));
    }
    const form = h("form", {
      onsubmit: async (event) => {
        event.preventDefault();
        const chosen = scopeBoxes.filter(([, box]) => box.checked).map(([scope]) => scope);
        const extra = globs.value.split(/[\s,]+/).filter(Boolean);
        const client = await attempt(() => api("POST", "v1/clients", { body: { name: name.value.trim(), scopes: [...chosen, ...extra] } }));
        if (!client) return;
        name.value = "";
        const secretField = h("input", { readonly: true, value: client.client_secret, size: 48 });
        created.replaceChildren(h("div.card.secret", {},
          h("h3", { text: `Client ${client.name} created` }),
          h("p", { text: "Copy the secrets now: they are shown this once and cannot be read again." }),
          field("Client ID", h("input", { readonly: true, value: client.client_id, size: 48 })),
          field("Client secret", secretField),
          field("SigV4 secret", h("input", { readonly: true, value: client.sigv4_secret, size: 48 }),
            "the secret access key of the Lambda API front (/lambda-api), with the client ID as the access key id"),
          h("button", { type: "button", text: "Done, hide the secrets", onclick: () => created.replaceChildren() })));
        secretField.select();
        load();
      },
    }, field("Name", name),
    h("fieldset", {}, h("legend", { text: "Scopes" }), scopeBoxes.map(([scope, box]) => field(scope, box))),
    field("Scopes for some functions only", globs, "invoke:<glob> entries, separated by spaces or commas"),
    h("button.primary", { type: "submit", text: "Create client" }));
    show("Clients", section("Create a client", form, created), section("Clients", list));
    await load();
  }

  // ---- routing ---------------------------------------------------------------------------
  const ROUTES = [
    [/^#\/?$/, overviewPage],
    [/^#\/functions$/, functionsPage],
    [/^#\/functions\/(.+)$/, (name) => functionPage(decodeURIComponent(name))],
    [/^#\/invocations$/, invocationsPage],
    [/^#\/executions\/(.+)$/, (id) => executionPage(decodeURIComponent(id))],
    [/^#\/clients$/, clientsPage],
  ];

  function render() {
    const current = session();
    if (!current || location.hash === "#/signin") {
      if (current) location.hash = "#/";
      else signInPage();
      return;
    }
    const nav = document.getElementById("nav");
    nav.hidden = false;
    nav.querySelectorAll("[data-needs=admin]").forEach((link) => { link.hidden = !can.admin(); });
    const sectionOf = (hash) => hash.split("/")[1] || "";
    const here = { executions: "invocations" }[sectionOf(location.hash)] || sectionOf(location.hash);
    nav.querySelectorAll("a").forEach((link) => {
      if (sectionOf(link.getAttribute("href")) === here) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    });
    document.getElementById("who").textContent = `${current.who} (${current.scope})`;
    document.getElementById("sign-out").hidden = false;
    const hash = location.hash || "#/";
    if (!can.read()) {
      show("Nothing to show", h("p", { text: `This client's scopes (${current.scope}) do not include read, which every page needs. Sign in with a client that has it.` }));
      return;
    }
    for (const [pattern, page] of ROUTES) {
      const match = hash.match(pattern);
      if (match) return page(...match.slice(1));
    }
    show("Not found", h("p", {}, "No such page. ", h("a", { href: "#/", text: "Back to the overview" })));
  }

  document.getElementById("sign-out").addEventListener("click", () => signOut());
  document.querySelector(".skip").addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
  });
  window.addEventListener("hashchange", render);
  render();
})();
