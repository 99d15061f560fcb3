// goray's dashboard page. Plain JavaScript, no framework and no build step:
// the head's API is the page's only source (every URL relative to the page,
// so it works behind kubectl port-forward and a path-prefix proxy), views
// are picked by the URL's fragment (#/jobs), and every value shown goes into
// the page as text, never as markup.
"use strict";

(() => {
  const POLL_MS = 2000;
  const view = document.getElementById("view");
  const banner = document.getElementById("banner");
  const loginForm = document.getElementById("login");
  const updated = document.getElementById("updated");
  let authMode = "disabled";
  let running = null; // the shown view: {controller, timer}
  let loginShown = false;

  // ---- DOM helpers: text only, so data never becomes markup ----

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const kid of kids.flat()) {
      if (kid === undefined || kid === null || kid === false) continue;
      e.append(kid instanceof Node ? kid : String(kid));
    }
    return e;
  }

  function table(columns, rows, rowAttrs) {
    if (!rows.length) return el("p", { class: "muted" }, "None.");
    return el("table", {},
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c[0])))),
      el("tbody", {}, rows.map((r) => el("tr", rowAttrs ? rowAttrs(r) : {},
        columns.map((c) => { const v = c[1](r); return v instanceof Node ? el("td", {}, v) : el("td", {}, v ?? ""); })))));
  }

  const OK = new Set(["ALIVE", "RUNNING", "FINISHED", "SUCCEEDED", "HEALTHY", "CREATED", "IDLE"]);
  const BAD = new Set(["DEAD", "FAILED", "UNHEALTHY", "DEPLOY_FAILED", "STOPPED", "INFEASIBLE"]);
  function stateTag(s) {
    s = s || "";
    return el("span", { class: "state " + (OK.has(s) ? "ok" : BAD.has(s) ? "bad" : "wait") }, s);
  }

  const short = (id) => (id ? String(id).slice(0, 12) : "");
  const mono = (s, title) => el("span", { class: "mono", title: title || s }, s ?? "");
  const when = (ms) => (ms ? new Date(Number(ms)).toLocaleString() : "");
  const card = (n, label, id) => el("div", { class: "card" }, el("span", { class: "n", id }, n), el("span", { class: "l" }, label));

  function fmtAmount(key, v) {
    if (/memory/i.test(key)) {
      const units = ["B", "KiB", "MiB", "GiB", "TiB"];
      let i = 0;
      while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
      return (Math.round(v * 10) / 10) + " " + units[i];
    }
    return String(Math.round(v * 100) / 100);
  }

  function usageBar(key, used, total) {
    const pct = total > 0 ? Math.min(100, (100 * used) / total) : 0;
    const fill = el("span");
    fill.style.width = pct.toFixed(1) + "%";
    return el("span", {}, el("span", { class: "bar" }, fill), `${fmtAmount(key, used)} / ${fmtAmount(key, total)}`);
  }

  const resources = (m) => Object.entries(m || {}).filter(([k]) => !k.startsWith("node:"))
    .map(([k, v]) => `${k}: ${fmtAmount(k, v)}`).join(", ");

  // ---- the API ----

  class AuthNeeded extends Error {}

  async function api(path, opts) {
    const r = await fetch(path, Object.assign({ credentials: "same-origin", cache: "no-store" }, opts));
    if (r.status === 401) {
      showLogin();
      throw new AuthNeeded(await r.text());
    }
    if (!r.ok) throw new Error(`${path}: ${r.status} ${(await r.text()).trim()}`);
    return r;
  }
  const getJSON = async (path, signal) => (await api(path, { signal })).json();

  // stateList reads one of Ray's /api/v0 lists: {total, num_filtered, result: [rows], warnings}.
  async function stateList(resource, params, signal) {
    const body = await getJSON(`api/v0/${resource}?${params || ""}`, signal);
    if (!body.result) throw new Error(body.msg);
    return body.data.result;
  }

  // ---- login (see runtime/auth/login.go) ----

  function showLogin() {
    if (loginShown) return;
    loginShown = true;
    document.getElementById("session").hidden = true;
    stopView();
    view.replaceChildren();
    loginForm.hidden = false;
    document.getElementById("token").focus();
  }

  loginForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = document.getElementById("token");
    const msg = document.getElementById("login-error");
    const r = await fetch("api/authenticate", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { Authorization: "Bearer " + input.value.trim() },
    });
    if (!r.ok) {
      msg.textContent = r.status === 401 ? "That is not this cluster's token." : `Login failed: ${r.status} ${await r.text()}`;
      msg.hidden = false;
      return;
    }
    input.value = "";
    msg.hidden = true;
    loginForm.hidden = true;
    loginShown = false;
    document.getElementById("session").hidden = false;
    showSession();
    route();
  });

  function showSession() {
    const s = document.getElementById("session");
    s.replaceChildren();
    if (authMode !== "token") return;
    s.append(el("button", {
      type: "button", id: "logout",
      onclick: async () => { await fetch("api/authenticate", { method: "DELETE", credentials: "same-origin" }); showLogin(); },
    }, "Log out"));
  }

  // ---- views ----

  async function overview(ctx) {
    const st = await getJSON("api/cluster_status", ctx.signal);
    const nodes = st.nodes || [];
    const alive = nodes.filter((n) => n.alive);
    const total = {}, avail = {};
    for (const n of alive) {
      for (const [k, v] of Object.entries(n.total || {})) total[k] = (total[k] || 0) + v;
      for (const [k, v] of Object.entries(n.available || {})) avail[k] = (avail[k] || 0) + v;
    }
    const keys = Object.keys(total).filter((k) => !k.startsWith("node:")).sort();
    const pending = st.pending || [], gangs = st.pending_gangs || [];
    return el("div", {},
      el("h1", {}, "Overview"),
      el("div", { class: "cards" },
        card(alive.length, "alive nodes", "nodes-alive"),
        card(nodes.length - alive.length, "dead nodes", "nodes-dead"),
        card(st.alive_actors || 0, "alive actors", "actors-alive"),
        card(st.pending_actors || 0, "pending actors", "actors-pending"),
        card(pending.reduce((s, d) => s + Number(d.count || 0), 0) + gangs.length, "pending requests", "pending-total")),
      el("h2", {}, "Resources (used / total)"),
      table([["Resource", (k) => k], ["Usage", (k) => usageBar(k, total[k] - (avail[k] || 0), total[k])]], keys),
      el("h2", {}, "Pending demand"),
      pending.length || gangs.length
        ? el("div", {},
          table([["Shape", (d) => resources(d.shape)], ["Count", (d) => d.count], ["Feasible", (d) => (d.infeasible ? "no: no node can ever fit it" : "yes")]], pending),
          gangs.length ? table([["Placement group", (g) => mono(short(g.placement_group_id), g.placement_group_id)], ["Strategy", (g) => g.strategy],
            ["Bundles", (g) => (g.bundles || []).map((b) => "{" + resources(b.resources) + "}").join(" ")]], gangs) : null)
        : el("p", { class: "muted", id: "no-pending" }, "No pending demand: every request fits."),
      (st.constraints || []).length ? el("p", {}, "Requested minimum (request_resources): ",
        st.constraints.map((d) => `${d.count} × {${resources(d.shape)}}`).join(", ")) : null,
      autoscaler(st.autoscaling_state),
      el("h2", {}, "Nodes"),
      table([["Node", (n) => mono(short(n.node_id), n.node_id)], ["IP", (n) => n.ip], ["Head", (n) => (n.is_head ? "yes" : "")],
        ["State", (n) => stateTag(n.alive ? (n.status || "ALIVE") : "DEAD")], ["Type", (n) => n.node_type_name],
        ["CPU", (n) => usageBar("CPU", (n.total?.CPU || 0) - (n.available?.CPU || 0), n.total?.CPU || 0)],
        ["Object store", (n) => fmtAmount("memory", Number(n.object_store_used || 0))]], nodes, (n) => ({ "data-id": n.node_id })));
  }

  // autoscaler is what the autoscaler last reported (absent when none runs:
  // the head of a RayCluster without enableInTreeAutoscaling).
  function autoscaler(a) {
    if (!a || !Number(a.timestamp_ms)) return null;
    const groups = Object.entries(a.target_replicas || {}).sort();
    return el("div", { id: "autoscaler" },
      el("h2", {}, "Autoscaler"),
      el("dl", { class: "kv" },
        el("dt", {}, "Last decision"), el("dd", {}, a.last_decision || "", " ", el("span", { class: "muted" }, when(a.last_decision_timestamp_ms))),
        el("dt", {}, "Target replicas"), el("dd", {}, groups.map(([g, n]) => `${g}: ${n}`).join(", ")),
        el("dt", {}, "Waiting on limits"), el("dd", {}, (a.unmet || []).map((d) => `${d.count} × {${resources(d.shape)}}`).join(", ")),
        el("dt", {}, "Infeasible"), el("dd", {}, (a.infeasible || []).map((d) => `${d.count} × {${resources(d.shape)}}`).join(", ")),
        el("dt", {}, "Pods being deleted"), el("dd", {}, (a.pending_deletes || []).join(", ")),
        el("dt", {}, "Error"), el("dd", { class: "error" }, a.error || "")));
  }

  async function jobs(ctx) {
    const res = await stateList("jobs", "limit=1000", ctx.signal);
    const rows = res.result.slice().sort((a, b) => (b.start_time || 0) - (a.start_time || 0));
    return el("div", {},
      el("h1", {}, `Jobs (${res.total})`),
      table([
        ["Submission", (j) => (j.submission_id ? el("a", { href: "#/jobs/" + encodeURIComponent(j.submission_id) }, j.submission_id) : "")],
        ["Job", (j) => mono(j.job_id)], ["Type", (j) => j.type], ["Status", (j) => stateTag(j.status)],
        ["Entrypoint", (j) => mono(j.entrypoint)], ["Started", (j) => when(j.start_time)], ["Ended", (j) => when(j.end_time)],
        ["Message", (j) => j.message]], rows, (j) => ({ "data-id": j.submission_id || j.job_id })));
  }

  // jobDetail shows a submission and follows its log as the job writes it
  // (api/jobs/{id}/logs/tail streams until the job ends).
  function jobDetail(ctx, id) {
    const info = el("div", { id: "job-info" });
    const log = el("pre", { class: "log", id: "job-log" });
    const logState = el("span", { class: "muted", id: "job-log-state" }, "following the log…");
    view.replaceChildren(el("div", {},
      el("p", {}, el("a", { href: "#/jobs" }, "← Jobs")),
      el("h1", {}, "Job ", mono(id)), info,
      el("h2", {}, "Log ", logState), log));
    const refresh = async () => {
      const j = await getJSON(`api/jobs/${encodeURIComponent(id)}`, ctx.signal);
      const terminal = ["SUCCEEDED", "FAILED", "STOPPED"].includes(j.status);
      info.replaceChildren(el("dl", { class: "kv" },
        el("dt", {}, "Status"), el("dd", { id: "job-status" }, stateTag(j.status)),
        el("dt", {}, "Entrypoint"), el("dd", {}, mono(j.entrypoint)),
        el("dt", {}, "Job ID"), el("dd", {}, mono(j.job_id)),
        el("dt", {}, "Started"), el("dd", {}, when(j.start_time)),
        el("dt", {}, "Ended"), el("dd", {}, when(j.end_time)),
        el("dt", {}, "Message"), el("dd", { class: j.status === "FAILED" ? "error" : "" }, j.message || ""),
        el("dt", {}, "Driver exit code"), el("dd", {}, j.driver_exit_code ?? "")),
      terminal ? null : el("div", { class: "toolbar" }, el("button", {
        type: "button", id: "job-stop",
        onclick: async () => { await api(`api/jobs/${encodeURIComponent(id)}/stop`, { method: "POST" }); },
      }, "Stop job")));
      return !terminal;
    };
    poll(ctx, refresh, true);
    (async () => {
      try {
        const r = await api(`api/jobs/${encodeURIComponent(id)}/logs/tail`, { signal: ctx.signal });
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
          log.append(dec.decode(value, { stream: true }));
          // A long log keeps its last 20,000 pieces: the page stays light.
          while (log.childNodes.length > 20000) log.firstChild.remove();
          if (atEnd) log.scrollTop = log.scrollHeight;
        }
        logState.textContent = "(the job ended; the log is complete)";
      } catch (e) {
        if (!ctx.signal.aborted && !(e instanceof AuthNeeded)) logState.textContent = "log stream failed: " + e.message;
      }
    })();
  }

  async function actors(ctx) {
    const res = await stateList("actors", "limit=10000&detail=true", ctx.signal);
    const counts = {};
    for (const a of res.result) counts[a.state] = (counts[a.state] || 0) + 1;
    return el("div", {},
      el("h1", {}, `Actors (${res.total})`),
      el("div", { class: "cards" }, Object.entries(counts).sort().map(([s, n]) => card(n, s))),
      table([["Actor", (a) => mono(short(a.actor_id), a.actor_id)], ["Class", (a) => a.class_name], ["Name", (a) => a.name],
        ["State", (a) => stateTag(a.state)], ["Node", (a) => mono(short(a.node_id), a.node_id)], ["PID", (a) => a.pid],
        ["Restarts", (a) => a.num_restarts], ["Resources", (a) => resources(a.required_resources)],
        ["Death cause", (a) => el("span", { class: "error" }, a.death_cause?.actor_died_error_context?.error_message || "")],
        ["Log", (a) => (a.node_id ? logLink({ actor_id: a.actor_id }) : "")]],
      res.result, (a) => ({ "data-id": a.actor_id })));
  }

  let taskState = "";
  async function tasks(ctx) {
    const q = "limit=1000&detail=true" + (taskState ? "&filter_keys=state&filter_predicates=%3D&filter_values=" + encodeURIComponent(taskState) : "");
    const [res, sum] = await Promise.all([stateList("tasks", q, ctx.signal),
      getJSON("api/v0/tasks/summarize", ctx.signal)]);
    // Ray's TaskSummaries: per function, the count of its tasks in each state.
    const byFunc = Object.values(sum.data?.result?.result?.node_id_to_summary?.cluster?.summary || {})
      .sort((a, b) => a.func_or_class_name.localeCompare(b.func_or_class_name));
    const counts = {};
    for (const s of byFunc) {
      for (const [st, n] of Object.entries(s.state_counts || {})) counts[st] = (counts[st] || 0) + n;
    }
    const pick = el("select", { id: "task-state", onchange: (e) => { taskState = e.target.value; route(); } },
      ["", "PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT", "SUBMITTED_TO_WORKER", "RUNNING", "FINISHED", "FAILED"]
        .map((s) => el("option", { value: s, selected: s === taskState ? "selected" : null }, s || "any state")));
    return el("div", {},
      el("h1", {}, `Tasks (${res.total} in the history)`),
      el("div", { class: "cards" }, Object.entries(counts).sort().map(([s, n]) => card(n, s))),
      (res.warnings || []).map((w) => el("p", { class: "error" }, w)),
      el("h2", {}, "By function"),
      table([["Function", (f) => f.func_or_class_name], ["Type", (f) => f.type],
        ["States", (f) => Object.entries(f.state_counts || {}).sort().map(([st, n]) => `${st}: ${n}`).join(", ")]], byFunc),
      el("h2", {}, "Attempts"),
      el("div", { class: "toolbar" }, el("label", {}, "Show ", pick), el("span", { class: "muted" },
        `${res.result.length} of ${res.num_filtered} shown, newest first`)),
      table([["Task", (t) => mono(t.task_id)], ["Attempt", (t) => t.attempt_number], ["Name", (t) => t.name],
        ["Type", (t) => t.type], ["State", (t) => stateTag(t.state)], ["Job", (t) => mono(t.job_id)],
        ["Node", (t) => mono(short(t.node_id), t.node_id)], ["PID", (t) => t.worker_pid],
        ["Error", (t) => (t.error_type ? el("span", { class: "error" }, t.error_type + (t.error_message ? ": " + t.error_message : "")) : "")],
        ["Log", (t) => (t.worker_id ? logLink({ task_id: t.task_id, attempt_number: t.attempt_number }) : "")]],
      res.result, (t) => ({ "data-id": t.task_id })));
  }

  async function placementGroups(ctx) {
    const res = await stateList("placement_groups", "limit=10000&detail=true", ctx.signal);
    return el("div", {},
      el("h1", {}, `Placement groups (${res.total})`),
      table([["Placement group", (p) => mono(short(p.placement_group_id), p.placement_group_id)], ["Name", (p) => p.name],
        ["State", (p) => stateTag(p.state)], ["Scheduling", (p) => p.stats?.scheduling_state], ["Job", (p) => mono(p.creator_job_id)],
        ["Detached", (p) => (p.is_detached ? "yes" : "")],
        ["Bundles", (p) => el("div", {}, (p.bundles || []).map((b) =>
          el("div", {}, `{${resources(b.unit_resources)}} on `, mono(b.node_id ? short(b.node_id) : "(not placed)", b.node_id))))]],
      res.result, (p) => ({ "data-id": p.placement_group_id })));
  }

  async function serve(ctx) {
    const d = await getJSON("api/serve/applications/", ctx.signal);
    const apps = Object.values(d.applications || {}).sort((a, b) => a.name.localeCompare(b.name));
    return el("div", {},
      el("h1", {}, `Serve (${apps.length} application${apps.length === 1 ? "" : "s"})`),
      apps.length ? null : el("p", { class: "muted" }, "No serve applications are deployed."),
      apps.map((app) => el("section", { class: "serve-app", "data-id": app.name },
        el("h2", {}, "Application ", mono(app.name), " ", stateTag(app.status), " ", el("span", { class: "muted" }, app.route_prefix || "")),
        app.message ? el("p", { class: "error" }, app.message) : null,
        Object.values(app.deployments || {}).sort((a, b) => a.name.localeCompare(b.name)).map((dep) => el("div", { class: "serve-deployment", "data-id": dep.name },
          el("h3", {}, "Deployment ", mono(dep.name), " ", stateTag(dep.status),
            el("span", { class: "muted" }, ` ${(dep.replicas || []).length} of ${dep.target_num_replicas} replicas`)),
          dep.message ? el("p", { class: "error" }, dep.message) : null,
          table([["Replica", (r) => mono(r.replica_id)], ["State", (r) => stateTag(r.state)], ["Node", (r) => r.node_ip],
            ["PID", (r) => r.pid], ["Started", (r) => when(r.start_time_s * 1000)]], dep.replicas || [], (r) => ({ "data-id": r.replica_id })))))),
      el("h2", {}, "Proxies"),
      table([["Node", (p) => p.node_ip], ["Status", (p) => stateTag(p.status)], ["Port", (p) => p.port]], Object.values(d.proxies || {})));
  }

  async function nodes(ctx) {
    const [res, st] = await Promise.all([stateList("nodes", "limit=10000&detail=true", ctx.signal), getJSON("api/cluster_status", ctx.signal)]);
    const live = {};
    for (const n of st.nodes || []) live[n.node_id] = n;
    return el("div", {},
      el("h1", {}, `Nodes (${res.total})`),
      table([["Node", (n) => el("a", { href: "#/nodes/" + encodeURIComponent(n.node_id), title: n.node_id }, mono(short(n.node_id), n.node_id))],
        ["IP", (n) => n.node_ip], ["Name", (n) => n.node_name],
        ["Head", (n) => (n.is_head_node ? "yes" : "")], ["State", (n) => stateTag(n.state)], ["Why", (n) => n.state_message],
        ["Total", (n) => resources(n.resources_total)], ["Available", (n) => resources(live[n.node_id]?.available)],
        ["Objects", (n) => live[n.node_id]?.object_store_objects ?? ""],
        ["Labels", (n) => Object.entries(n.labels || {}).map(([k, v]) => `${k}=${v}`).join(", ")],
        ["Logs", (n) => (n.state === "ALIVE" ? el("a", { href: "#/nodes/" + encodeURIComponent(n.node_id), class: "node-logs" }, "logs") : "")]],
      res.result, (n) => ({ "data-id": n.node_id })));
  }

  const logLink = (params, text) => el("a", { href: "#/logs?" + new URLSearchParams(params).toString(), class: "log-link" }, text || "log");

  // nodeDetail is a node and its log files (api/v0/logs?node_id=: Ray's
  // categories, each a list of file names the node's agent serves).
  async function nodeDetail(ctx, id) {
    const q = "detail=true&filter_keys=node_id&filter_predicates=%3D&filter_values=" + encodeURIComponent(id);
    const res = await stateList("nodes", q, ctx.signal);
    const n = res.result[0];
    if (!n) throw new Error(`No node ${id} in the cluster.`);
    let files = null, why = "";
    if (n.state === "ALIVE") {
      const body = await getJSON("api/v0/logs?node_id=" + encodeURIComponent(id), ctx.signal);
      files = body.data?.result || {};
    } else {
      why = "The node is dead: its logs cannot be reached.";
    }
    return el("div", {},
      el("p", {}, el("a", { href: "#/nodes" }, "← Nodes")),
      el("h1", {}, "Node ", mono(id)),
      el("dl", { class: "kv" },
        el("dt", {}, "IP"), el("dd", {}, n.node_ip), el("dt", {}, "Name"), el("dd", {}, n.node_name),
        el("dt", {}, "Head"), el("dd", {}, n.is_head_node ? "yes" : "no"), el("dt", {}, "State"), el("dd", {}, stateTag(n.state)),
        el("dt", {}, "Resources"), el("dd", {}, resources(n.resources_total))),
      el("h2", {}, "Logs"),
      why ? el("p", { class: "muted" }, why) : null,
      files ? Object.entries(files).sort().map(([cat, names]) => el("section", { class: "log-category", "data-id": cat },
        el("h3", {}, cat, el("span", { class: "muted" }, ` (${(names || []).length})`)),
        (names || []).length ? el("ul", {}, names.slice().sort().map((f) => el("li", {}, logLink({ node_id: id, filename: f }, f))))
          : el("p", { class: "muted" }, "None."))) : null);
  }

  // logView follows one log file (api/v0/logs/stream: its last 1000 lines,
  // then what is appended) named the ways Ray's log API takes: node_id and
  // filename, actor_id, task_id with attempt_number, submission_id.
  const LOG_KEYS = ["node_id", "node_ip", "filename", "actor_id", "task_id", "attempt_number", "submission_id", "pid"];
  function logView(ctx) {
    const q = new URLSearchParams();
    for (const k of LOG_KEYS) if (ctx.params.has(k)) q.set(k, ctx.params.get(k));
    q.set("lines", "1000");
    const what = q.has("actor_id") ? ["actor ", mono(q.get("actor_id"))]
      : q.has("task_id") ? ["task ", mono(q.get("task_id")), ` attempt ${q.get("attempt_number") || 0}`]
        : q.has("submission_id") ? ["job ", mono(q.get("submission_id"))]
          : [mono(q.get("filename") || ""), " on node ", mono(q.get("node_id") || q.get("node_ip") || "")];
    const back = q.has("node_id") ? ["#/nodes/" + encodeURIComponent(q.get("node_id")), "← Node"]
      : q.has("actor_id") ? ["#/actors", "← Actors"] : q.has("task_id") ? ["#/tasks", "← Tasks"] : ["#/jobs", "← Jobs"];
    const log = el("pre", { class: "log", id: "log-view" });
    const state = el("span", { class: "muted", id: "log-state" }, "following…");
    view.replaceChildren(el("div", {}, el("p", {}, el("a", { href: back[0] }, back[1])),
      el("h1", {}, "Log of ", ...what), el("p", {}, state), log));
    (async () => {
      try {
        const r = await api("api/v0/logs/stream?" + q.toString(), { signal: ctx.signal });
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
          log.append(dec.decode(value, { stream: true }));
          while (log.childNodes.length > 20000) log.firstChild.remove();
          if (atEnd) log.scrollTop = log.scrollHeight;
        }
        state.textContent = "the stream ended (the head follows a log for 5 minutes): reload to follow again";
      } catch (e) {
        if (!ctx.signal.aborted && !(e instanceof AuthNeeded)) {
          state.textContent = "";
          showError(e.message);
        }
      }
    })();
  }

  // Cluster events (GET api/v0/cluster_events): the GCS keeps the newest,
  // answers the newest matching ones oldest first; shown newest first.
  const eventFilter = { severity: "", source_type: "" };
  const SEVERITY = { INFO: "ok", WARNING: "wait", ERROR: "bad", FATAL: "bad" };
  async function events(ctx) {
    const q = "limit=1000&detail=true" + Object.entries(eventFilter).filter(([, v]) => v)
      .map(([k, v]) => `&filter_keys=${k}&filter_predicates=%3D&filter_values=${encodeURIComponent(v)}`).join("");
    const res = await stateList("cluster_events", q, ctx.signal);
    const rows = res.result.slice().reverse();
    const pick = (key, options) => el("select", { id: "event-" + key, onchange: (e) => { eventFilter[key] = e.target.value; route(); } },
      ["", ...options].map((o) => el("option", { value: o, selected: o === eventFilter[key] ? "selected" : null }, o || "any")));
    return el("div", {},
      el("h1", {}, `Cluster events (${res.total})`),
      (res.warnings || []).map((w) => el("p", { class: "error" }, w)),
      el("div", { class: "toolbar" },
        el("label", {}, "Severity ", pick("severity", Object.keys(SEVERITY))),
        el("label", {}, "Source ", pick("source_type", ["GCS", "RAYLET", "CORE_WORKER", "JOBS", "AUTOSCALER", "SERVE"])),
        el("span", { class: "muted" }, `${res.result.length} of ${res.num_filtered} shown, newest first`)),
      table([["Time", (e) => when(e.custom_fields?.timestamp_ms) || e.time],
        ["Severity", (e) => el("span", { class: "state " + (SEVERITY[e.severity] || "") }, e.severity)],
        ["Source", (e) => e.source_type], ["Message", (e) => e.message]], rows, (e) => ({ "data-id": e.event_id })));
  }

  // ---- routing and polling ----

  const routes = [
    [/^overview$/, overview], [/^jobs$/, jobs], [/^jobs\/(.+)$/, jobDetail, true], [/^actors$/, actors], [/^tasks$/, tasks],
    [/^placement-groups$/, placementGroups], [/^serve$/, serve], [/^nodes$/, nodes], [/^nodes\/(.+)$/, nodeDetail],
    [/^logs$/, logView, true], [/^events$/, events],
  ];

  function stopView() {
    if (!running) return;
    running.controller.abort();
    clearTimeout(running.timer);
    running = null;
  }

  function showError(msg) {
    banner.textContent = msg;
    banner.hidden = false;
  }

  // poll runs step now and every POLL_MS while the view is shown: a render
  // step's result replaces the view; a custom one (own=true) returns
  // whether to go on.
  function poll(ctx, step, own) {
    const tick = async () => {
      let again = true;
      try {
        const out = await step(ctx);
        if (ctx.signal.aborted) return;
        if (own) again = out;
        else view.replaceChildren(out);
        banner.hidden = true;
        updated.textContent = "Updated " + new Date().toLocaleTimeString();
      } catch (e) {
        if (ctx.signal.aborted || e instanceof AuthNeeded) return;
        showError(e.message);
      }
      if (again && !ctx.signal.aborted) ctx.timer = setTimeout(tick, POLL_MS);
    };
    tick();
  }

  function route() {
    stopView();
    updated.textContent = ""; // a view that polls says when it last did
    if (loginShown) return;
    // #/path?query: the path picks the view, the query is its parameters.
    const raw = location.hash.replace(/^#\/?/, "");
    const cut = raw.indexOf("?");
    const path = decodeURIComponent(cut < 0 ? raw : raw.slice(0, cut)) || "overview";
    const params = new URLSearchParams(cut < 0 ? "" : raw.slice(cut + 1));
    for (const a of document.querySelectorAll("#nav a")) {
      const target = a.getAttribute("href").slice(2);
      a.classList.toggle("active", path === target || path.startsWith(target + "/"));
    }
    const controller = new AbortController();
    const ctx = { signal: controller.signal, timer: 0, params };
    running = { controller, get timer() { return ctx.timer; } };
    for (const [re, fn, own] of routes) {
      const m = path.match(re);
      if (!m) continue;
      if (own) fn(ctx, ...m.slice(1));
      else poll(ctx, (c) => fn(c, ...m.slice(1)));
      return;
    }
    view.replaceChildren(el("p", { class: "error" }, `No page "${path}".`));
  }

  window.addEventListener("hashchange", route);
  (async () => {
    try {
      authMode = (await (await fetch("api/authentication_mode", { cache: "no-store" })).json()).authentication_mode;
    } catch (e) {
      showError("The head did not answer: " + e.message);
    }
    showSession();
    route();
  })();
})();
