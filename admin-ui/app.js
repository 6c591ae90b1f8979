// The settings panel: plain DOM, no framework, no innerHTML. Every value from the API
// (an event payload is untrusted input from the internet) goes in as text.
// The token lives in this closure only: not in localStorage, not in a cookie.
"use strict";
(() => {
  let token = null;
  let me = null;
  let waiting = null; // the pending sign-in, when a request found the session expired

  const $ = (id) => document.getElementById(id);
  const main = $("main");

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  // replaceChildren, skipping the null/false of conditional parts.
  const fill = (el, ...kids) => el.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
  const badge = (s) => h("span", { class: `status ${s || ""}` }, s || "—");
  const money = (amount, currency) => `${(amount / 100).toFixed(2)} ${String(currency || "").toUpperCase()}`;

  class ApiError extends Error {
    constructor(status, body) {
      super((body && (body.message || body.reason || body.error)) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  async function api(method, path, body) {
    for (;;) {
      const headers = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers["content-type"] = "application/json";
      const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      if (res.status === 401 && path !== "/api/v1/admin/login") {
        token = null;
        await signIn(true); // keeps the page, and what was typed in it, as it is
        continue;
      }
      const text = await res.text();
      let data = null;
      try { data = text ? JSON.parse(text) : null; } catch { data = text; }
      if (!res.ok) throw new ApiError(res.status, data);
      return data;
    }
  }

  // Sign-in overlay: resolves once signed in.
  function signIn(expired) {
    if (waiting) return waiting.promise;
    let resolve;
    const promise = new Promise((r) => (resolve = r));
    waiting = { promise, resolve };
    $("signin-note").hidden = !expired;
    $("signin-error").textContent = "";
    $("signin").hidden = false;
    $("signin-email").focus();
    return promise;
  }

  $("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const email = $("signin-email").value;
    const password = $("signin-password").value;
    try {
      const res = await api("POST", "/api/v1/admin/login", { email, password });
      token = res.token;
      $("signin-password").value = "";
      me = await api("GET", "/api/v1/admin/me");
      $("who").textContent = `${me.email} · ${me.role === "platform_admin" ? "platform admin" : `admin of ${me.tenant}`}`;
      $("signout").hidden = false;
      $("signin").hidden = true;
      const w = waiting;
      waiting = null;
      if (w) w.resolve();
    } catch (err) {
      $("signin-error").textContent = err.status === 429 ? "Too many attempts: wait a minute." : "Wrong email or password.";
    }
  });

  $("signout").addEventListener("click", () => {
    token = null;
    me = null;
    $("who").textContent = "";
    $("signout").hidden = true;
    fill(main);
    location.hash = "#/tenants";
    signIn(false).then(route);
  });

  function fieldError(input, message) {
    const id = `${input.id}-error`;
    let el = document.getElementById(id);
    if (!el) {
      el = h("p", { id, class: "error", role: "alert" });
      input.after(el);
      input.setAttribute("aria-describedby", id);
    }
    el.textContent = message || "";
    input.setAttribute("aria-invalid", message ? "true" : "false");
  }

  function copyButton(getText, label) {
    return h("button", {
      type: "button", class: "secondary",
      onclick: async (e) => {
        const text = getText();
        try { await navigator.clipboard.writeText(text); e.target.textContent = "Copied"; }
        catch { e.target.textContent = "Select and copy"; }
        setTimeout(() => (e.target.textContent = label || "Copy"), 1500);
      },
    }, label || "Copy");
  }

  // ---- Routing ---------------------------------------------------------------
  const TABS = [["settings", "Payment settings"], ["events", "Webhook events"], ["orders", "Orders"], ["keys", "API keys"], ["health", "Health"]];

  async function route() {
    if (!token) return signIn(false).then(route);
    const parts = location.hash.replace(/^#\/?/, "").split("/");
    try {
      if (parts[0] === "t" && parts[1]) return await tenantPage(decodeURIComponent(parts[1]), parts[2] || "settings");
      return await tenantsPage();
    } catch (err) {
      fill(main, h("div", { class: "card" }, h("h1", {}, err.status === 404 ? "Not found" : "Something went wrong"),
        h("p", {}, err.status === 404 ? "This restaurant does not exist, or is not yours." : err.message)));
    }
  }
  window.addEventListener("hashchange", route);

  // ---- Restaurants (platform admin: create restaurants and admins) -----------
  async function tenantsPage() {
    const list = await api("GET", "/api/v1/admin/tenants");
    const rows = list.items.map((t) => h("tr", {},
      h("td", {}, h("a", { href: `#/t/${encodeURIComponent(t.slug)}/settings` }, t.name)),
      h("td", { class: "once" }, t.slug), h("td", {}, when(t.created_at))));
    const page = [h("h1", {}, "Restaurants"),
      h("div", { class: "table-wrap card" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Slug"), h("th", {}, "Created"))), h("tbody", {}, rows)))];
    if (me.role === "platform_admin") page.push(createTenantForm(), createAdminForm(list.items), await unroutedSection());
    fill(main, ...page);
  }

  // Deliveries whose URL names no restaurant: a mistyped endpoint in Stripe's dashboard.
  async function unroutedSection() {
    const list = await api("GET", "/api/v1/admin/unrouted-deliveries?limit=20");
    const rows = list.items.map((d) => h("tr", {}, h("td", { class: "once" }, d.tenant_slug), h("td", { class: "once" }, d.stripe_event_id || "—"),
      h("td", {}, d.type || "—"), h("td", {}, when(d.received_at))));
    return h("section", { class: "card", id: "unrouted", "aria-labelledby": "unrouted-title" }, h("h2", { id: "unrouted-title" }, "Deliveries to unknown restaurants"),
      h("p", { class: "muted" }, "Stripe called a webhook URL whose slug matches no restaurant: check the endpoint URL in that Stripe account."),
      rows.length ? h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, ["URL slug", "Stripe event", "Type", "Received"].map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rows)))
        : h("p", {}, "None: every delivery named a known restaurant."));
  }

  function createTenantForm() {
    const slug = h("input", { id: "new-slug", required: true, pattern: "[a-z0-9-]{3,63}", autocomplete: "off" });
    const name = h("input", { id: "new-name", required: true });
    return h("form", { class: "card", "aria-labelledby": "new-tenant-title", onsubmit: async (e) => {
      e.preventDefault();
      fieldError(slug, "");
      try { await api("POST", "/api/v1/admin/tenants", { slug: slug.value, name: name.value }); route(); }
      catch (err) { fieldError(slug, err.status === 409 ? "This slug is taken." : err.message); }
    } }, h("h2", { id: "new-tenant-title" }, "New restaurant"),
      h("label", { for: "new-slug" }, "Slug (a-z, 0-9 and -, used in the webhook URL)"), slug,
      h("label", { for: "new-name" }, "Name"), name, h("button", { type: "submit" }, "Create restaurant"));
  }

  function createAdminForm(tenants) {
    const email = h("input", { id: "admin-email", type: "email", required: true, autocomplete: "off" });
    const password = h("input", { id: "admin-password", type: "password", required: true, minlength: 12, autocomplete: "new-password" });
    const role = h("select", { id: "admin-role" }, h("option", { value: "tenant_admin" }, "Restaurant admin"), h("option", { value: "platform_admin" }, "Platform admin"));
    const tenant = h("select", { id: "admin-tenant" }, tenants.map((t) => h("option", { value: t.slug }, t.name)));
    const done = h("p", { class: "muted", role: "status" });
    return h("form", { class: "card", "aria-labelledby": "new-admin-title", onsubmit: async (e) => {
      e.preventDefault();
      fieldError(email, "");
      try {
        const body = { email: email.value, password: password.value, role: role.value, tenant: role.value === "tenant_admin" ? tenant.value : null };
        const created = await api("POST", "/api/v1/admin/users", body);
        password.value = "";
        done.textContent = `Created ${created.email}.`;
      } catch (err) { fieldError(email, err.status === 409 ? "An admin with this email exists." : err.message); }
    } }, h("h2", { id: "new-admin-title" }, "New admin"),
      h("label", { for: "admin-email" }, "Email"), email, h("label", { for: "admin-password" }, "Password (12 characters or more)"), password,
      h("label", { for: "admin-role" }, "Role"), role, h("label", { for: "admin-tenant" }, "Restaurant"), tenant,
      h("button", { type: "submit" }, "Create admin"), done);
  }

  // ---- One restaurant ---------------------------------------------------------
  async function tenantPage(slug, tab) {
    const base = `/api/v1/admin/tenants/${encodeURIComponent(slug)}`;
    const config = await api("GET", `${base}/payment-config`); // 404 when not ours
    const tenants = await api("GET", "/api/v1/admin/tenants");
    const tenant = tenants.items.find((t) => t.slug === slug) || { slug, name: slug };
    const nav = h("nav", { class: "tabs", "aria-label": "Restaurant sections" },
      TABS.map(([id, label]) => h("a", { href: `#/t/${encodeURIComponent(slug)}/${id}`, "aria-current": id === tab ? "page" : null }, label)));
    const body = h("div");
    fill(main, h("h1", {}, tenant.name), nav, body);
    const views = { settings: settingsView, events: eventsView, orders: ordersView, keys: keysView, health: healthView };
    await (views[tab] || settingsView)(body, base, slug, config);
  }

  async function settingsView(body, base, slug, config) {
    const url = `${location.origin}/api/v1/webhooks/stripe/${slug}`;
    const urlField = h("input", { id: "webhook-url", readonly: true, value: url });
    const secret = h("input", { id: "secret", type: "password", autocomplete: "off", placeholder: "whsec_…" });
    const rotateSecret = h("input", { id: "rotate-secret", type: "password", autocomplete: "off", placeholder: "whsec_…" });
    const grace = h("select", { id: "rotate-grace" }, h("option", { value: "3600" }, "1 hour"), h("option", { value: "21600" }, "6 hours"), h("option", { value: "86400" }, "24 hours"));
    const saved = h("p", { class: "muted", role: "status" });
    const state = h("div");

    const show = (c) => {
      fill(state, 
        h("dl", { class: "kv" }, h("dt", {}, "Configured"), h("dd", {}, c.configured ? badge("ok") : h("span", { class: "status bad" }, "not configured")),
          h("dt", {}, "Last change"), h("dd", {}, when(c.updated_at))),
        c.secrets.length ? h("div", { class: "table-wrap" }, h("table", { id: "secrets" }, h("thead", {}, h("tr", {}, h("th", {}, "Secret"), h("th", {}, "Fingerprint"), h("th", {}, "Since"), h("th", {}, "Expires"))),
          h("tbody", {}, c.secrets.map((s) => h("tr", {}, h("td", { class: "once" }, s.hint), h("td", { class: "once" }, s.fingerprint), h("td", {}, when(s.created_at)), h("td", {}, s.expires_at ? when(s.expires_at) : "current")))))) : null);
    };
    show(config);

    const submit = async (input, method, path, extra) => {
      fieldError(input, "");
      try {
        const c = await api(method, path, { webhook_secret: input.value, ...extra });
        input.value = ""; // never kept, never shown again
        saved.textContent = "Saved.";
        show(c);
      } catch (err) { fieldError(input, err.message); }
    };

    body.append(
      h("section", { class: "card", "aria-labelledby": "url-title" }, h("h2", { id: "url-title" }, "Webhook URL"),
        h("p", { class: "muted" }, "Paste this into the endpoint of Stripe's dashboard (Developers → Webhooks)."),
        h("label", { for: "webhook-url" }, "Endpoint URL"), urlField, copyButton(() => url, "Copy URL")),
      h("section", { class: "card", "aria-labelledby": "secret-title" }, h("h2", { id: "secret-title" }, "Signing secret"), state, saved),
      h("form", { class: "card", "aria-labelledby": "set-title", onsubmit: (e) => { e.preventDefault(); submit(secret, "PUT", `${base}/payment-config`, {}); } },
        h("h2", { id: "set-title" }, "Enter or replace the secret"),
        h("p", { class: "muted" }, "Replacing stops the old secret at once. To change without missing events, rotate instead."),
        h("label", { for: "secret" }, "Signing secret (whsec_…)"), secret, h("button", { type: "submit" }, "Save secret")),
      h("form", { class: "card", "aria-labelledby": "rotate-title", onsubmit: (e) => { e.preventDefault(); submit(rotateSecret, "POST", `${base}/payment-config/rotate`, { previous_expires_in_secs: Number(grace.value) }); } },
        h("h2", { id: "rotate-title" }, "Rotate"),
        h("p", { class: "muted" }, "The new secret works now; the current one keeps working until the grace period ends."),
        h("label", { for: "rotate-secret" }, "New signing secret"), rotateSecret, h("label", { for: "rotate-grace" }, "Keep the current secret for"), grace,
        h("button", { type: "submit" }, "Rotate secret")),
      h("section", { class: "card" }, h("h2", {}, "Remove"),
        h("button", { type: "button", class: "danger", id: "delete-secret", onclick: async () => {
          if (!confirm("Remove the Stripe configuration? Stripe's deliveries will be refused until a new secret is set.")) return;
          try { await api("DELETE", `${base}/payment-config`); } catch (err) { if (err.status !== 404) throw err; }
          show(await api("GET", `${base}/payment-config`));
        } }, "Remove configuration")));
  }

  async function eventsView(body, base) {
    const status = h("select", { id: "filter-status" }, h("option", { value: "" }, "any"),
      ["PROCESSING", "COMPLETED", "FAILED", "VERIFICATION_FAILED", "NO_CONFIG"].map((s) => h("option", { value: s }, s)));
    const type = h("input", { id: "filter-type", placeholder: "e.g. checkout.session.completed" });
    const tbody = h("tbody");
    const more = h("button", { type: "button", class: "secondary", id: "load-more", hidden: true }, "Load more");
    const detail = h("section", { class: "card", id: "event-detail", hidden: true, "aria-live": "polite" });
    let cursor = null;

    const load = async (reset) => {
      if (reset) { fill(tbody); cursor = null; }
      const q = new URLSearchParams({ limit: "50" });
      if (status.value) q.set("status", status.value);
      if (type.value.trim()) q.set("type", type.value.trim());
      if (cursor) q.set("cursor", cursor);
      const page = await api("GET", `${base}/webhook-events?${q}`);
      for (const ev of page.items) {
        tbody.append(h("tr", {}, h("td", {}, badge(ev.status)), h("td", {}, ev.type || "—"), h("td", { class: "once" }, ev.stripe_event_id || "—"),
          h("td", {}, ev.outcome || (ev.error ? "error" : "—")), h("td", {}, ev.attempts), h("td", {}, when(ev.received_at)), h("td", {}, when(ev.processed_at)),
          h("td", {}, h("button", { type: "button", class: "secondary", onclick: () => open(ev.id) }, "Open"))));
      }
      cursor = page.next_cursor;
      more.hidden = !cursor;
      if (!tbody.children.length) tbody.append(h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No deliveries yet.")));
    };

    const open = async (id) => {
      const ev = await api("GET", `${base}/webhook-events/${id}`);
      const retry = ev.status === "FAILED" ? h("button", { type: "button", id: "retry-event", onclick: async () => {
        try { await api("POST", `${base}/webhook-events/${id}/retry`); await open(id); await load(true); }
        catch (err) { detail.append(h("p", { class: "error", role: "alert" }, err.message)); }
      } }, "Retry") : null;
      fill(detail, h("h2", {}, `Event ${ev.stripe_event_id || ev.id}`),
        h("dl", { class: "kv" }, h("dt", {}, "Status"), h("dd", {}, badge(ev.status)), h("dt", {}, "Type"), h("dd", {}, ev.type || "—"),
          h("dt", {}, "Outcome"), h("dd", {}, ev.outcome || "—"), h("dt", {}, "Order"), h("dd", { class: "once" }, ev.order_id || "—"),
          h("dt", {}, "Attempts"), h("dd", {}, ev.attempts), h("dt", {}, "Error"), h("dd", { id: "event-error" }, ev.error || "—")),
        retry, h("h3", {}, "Payload"),
        h("pre", { id: "event-payload" }, ev.payload === null ? "(not stored: the delivery was not verified)" : JSON.stringify(ev.payload, null, 2)),
        h("button", { type: "button", class: "secondary", onclick: () => { detail.hidden = true; } }, "Close"));
      detail.hidden = false;
      detail.scrollIntoView({ block: "nearest" });
    };

    body.append(h("form", { class: "card row", onsubmit: (e) => { e.preventDefault(); load(true); } },
      h("div", {}, h("label", { for: "filter-status" }, "Status"), status), h("div", {}, h("label", { for: "filter-type" }, "Type"), type),
      h("div", {}, h("button", { type: "submit" }, "Filter"))),
      detail,
      h("div", { class: "table-wrap" }, h("table", { id: "events" }, h("thead", {}, h("tr", {}, ["Status", "Type", "Stripe event", "Outcome", "Attempts", "Received", "Processed", ""].map((c) => h("th", { scope: "col" }, c)))), tbody)),
      more);
    more.addEventListener("click", () => load(false));
    await load(true);
  }

  async function ordersView(body, base) {
    const list = await api("GET", `${base}/orders?limit=100`);
    const rows = list.items.map((o) => {
      const select = h("select", { id: `override-status-${o.order_id}`, "aria-label": `New status of ${o.order_id}` },
        ["PAID", "PAYMENT_PENDING", "PAYMENT_FAILED", "EXPIRED", "PARTIALLY_REFUNDED", "REFUNDED"].map((s) => h("option", { value: s }, s)));
      const reason = h("input", { id: `override-reason-${o.order_id}`, "aria-label": `Reason for ${o.order_id}`, placeholder: "reason (required)" });
      const msg = h("span", { class: "error", role: "alert" });
      return h("tr", {}, h("td", { class: "once" }, o.order_id), h("td", {}, badge(o.status)), h("td", {}, money(o.amount, o.currency)), h("td", {}, o.reference || "—"),
        h("td", {}, o.payments.length ? o.payments.map((p) => h("div", {}, `${p.status} ${p.amount === null ? "" : money(p.amount, p.currency)}${p.amount_refunded ? ` (refunded ${money(p.amount_refunded, p.currency)})` : ""}`)) : "—"),
        h("td", {}, o.manual_status ? `${o.manual_status}: ${o.manual_reason}` : "—"),
        h("td", {}, h("form", { onsubmit: async (e) => {
          e.preventDefault();
          try { await api("POST", `${base}/orders/${encodeURIComponent(o.order_id)}/override`, { status: select.value, reason: reason.value }); route(); }
          catch (err) { msg.textContent = err.message; }
        } }, select, reason, h("button", { type: "submit" }, "Override"), msg)));
    });
    body.append(h("div", { class: "table-wrap" }, h("table", { id: "orders" }, h("thead", {}, h("tr", {}, ["Order", "Status", "Amount", "Reference", "Payments", "Manual status", "Override"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No orders yet."))))));
  }

  async function keysView(body, base) {
    const shown = h("div", { id: "new-key" });
    const list = await api("GET", `${base}/api-keys`);
    const rows = list.items.map((k) => h("tr", {}, h("td", {}, k.id), h("td", { class: "once" }, `${k.prefix}…`), h("td", {}, when(k.created_at)),
      h("td", {}, k.revoked_at ? `revoked ${when(k.revoked_at)}` : h("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm(`Revoke key ${k.prefix}…? Backends using it stop working.`)) return;
        await api("DELETE", `${base}/api-keys/${k.id}`); route();
      } }, "Revoke"))));
    body.append(h("section", { class: "card" }, h("h2", {}, "API keys for your backend"),
      h("button", { type: "button", id: "create-key", onclick: async () => {
        const key = await api("POST", `${base}/api-keys`);
        const field = h("input", { id: "new-key-value", readonly: true, value: key.key, class: "once" });
        fill(shown, h("label", { for: "new-key-value" }, "New key: shown this once, store it now"), field, copyButton(() => key.key, "Copy key"));
      } }, "Create key"), shown),
      h("div", { class: "table-wrap" }, h("table", { id: "keys" }, h("thead", {}, h("tr", {}, ["Id", "Prefix", "Created", ""].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No keys yet."))))));
  }

  const COLORS = { COMPLETED: "#17753a", FAILED: "#b3261e", VERIFICATION_FAILED: "#e06c00", NO_CONFIG: "#8a6d00", PROCESSING: "#3451d1" };

  function chart(hours) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    const W = 720, H = 180, pad = 24, bw = (W - pad) / hours.length;
    svg.setAttribute("viewBox", `0 0 ${W} ${H + 20}`);
    svg.setAttribute("class", "chart");
    svg.setAttribute("role", "img");
    const total = hours.map((x) => Object.values(x.counts).reduce((a, b) => a + b, 0));
    const max = Math.max(1, ...total);
    svg.setAttribute("aria-label", `Deliveries per hour over the last 24 hours; busiest hour ${max}.`);
    hours.forEach((hour, i) => {
      let y = H;
      for (const [status, color] of Object.entries(COLORS)) {
        const n = hour.counts[status] || 0;
        if (!n) continue;
        const height = (n / max) * (H - 10);
        y -= height;
        const r = document.createElementNS(ns, "rect");
        r.setAttribute("x", pad + i * bw + 1); r.setAttribute("y", y); r.setAttribute("width", Math.max(1, bw - 2)); r.setAttribute("height", height);
        r.setAttribute("fill", color);
        const t = document.createElementNS(ns, "title");
        t.textContent = `${new Date(hour.hour).toLocaleString()}: ${n} ${status}`;
        r.append(t);
        svg.append(r);
      }
      if (i % 6 === 0) {
        const label = document.createElementNS(ns, "text");
        label.setAttribute("x", pad + i * bw); label.setAttribute("y", H + 15); label.setAttribute("font-size", "11");
        label.textContent = new Date(hour.hour).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        svg.append(label);
      }
    });
    const axis = document.createElementNS(ns, "text");
    axis.setAttribute("x", 0); axis.setAttribute("y", 12); axis.setAttribute("font-size", "11");
    axis.textContent = String(max);
    svg.append(axis);
    return svg;
  }

  async function healthView(body, base) {
    const hl = await api("GET", `${base}/health`);
    const f = hl.recent_failures;
    body.append(h("section", { class: "card", id: "health" }, h("h2", {}, "At a glance"),
      h("dl", { class: "kv" },
        h("dt", {}, "Stripe secret"), h("dd", {}, hl.configured ? badge("ok") : h("span", { class: "status bad" }, "not configured")),
        h("dt", {}, "Last delivery"), h("dd", {}, hl.last_delivery ? [when(hl.last_delivery.at), " ", badge(hl.last_delivery.status)] : "Stripe has never called (check the webhook URL in Stripe)"),
        h("dt", {}, "Last success"), h("dd", {}, when(hl.last_successful_webhook)),
        h("dt", {}, "Failed verification (24 h)"), h("dd", {}, f.verification_failed),
        h("dt", {}, "No configuration (24 h)"), h("dd", {}, f.no_config),
        h("dt", {}, "Processing failed (24 h)"), h("dd", {}, f.failed),
        h("dt", {}, "Stuck in processing"), h("dd", {}, hl.stuck_processing))),
      h("section", { class: "card" }, h("h2", {}, "Deliveries per hour, last 24 hours"), chart(hl.deliveries_per_hour),
        h("p", { class: "legend" }, Object.entries(COLORS).map(([s, c]) => h("span", {}, h("span", { class: "swatch", style: null, "data-color": c }), s)))));
    // Swatch colours set through the DOM (CSP forbids inline style attributes).
    body.querySelectorAll(".swatch").forEach((el) => { el.style.background = el.dataset.color; });
  }

  route();
})();
