// The restaurants list; for platform admins also new restaurants, new admins, and
// deliveries to slugs that match no restaurant.
import { api, whoAmI } from "../api.js";
import { h, fill, when, badge, table, row, code, fieldError } from "../dom.js";

export async function tenantsPage(main, reload) {
  const list = await api("GET", "/api/v1/admin/tenants");
  const problems = (t) => t.error_findings
    ? h("a", { class: "status bad", href: `#/t/${encodeURIComponent(t.slug)}/diagnosis` }, `${t.error_findings} problem${t.error_findings === 1 ? "" : "s"}`)
    : badge("ok");
  const rows = list.items.map((t) => row(
    h("a", { href: `#/t/${encodeURIComponent(t.slug)}/settings` }, t.name), code(t.slug), problems(t),
    t.connect_account_id ? code(t.connect_account_id) : "—", when(t.created_at)));
  const page = [h("h1", {}, "Restaurants"), h("div", { class: "card" }, table("tenants", ["Name", "Slug", "Health", "Connected account", "Created"], rows, "No restaurants yet."))];
  if (whoAmI().role === "platform_admin") {
    page.push(createTenantForm(reload), createAdminForm(list.items), await connectSection(), await unroutedSection());
  }
  fill(main, ...page);
}

// Deliveries whose URL names no restaurant: a mistyped endpoint in Stripe's dashboard.
async function unroutedSection() {
  const list = await api("GET", "/api/v1/admin/unrouted-deliveries?limit=20");
  const rows = list.items.map((d) => row(code(d.tenant_slug), d.account_id ? code(d.account_id) : "—", code(d.stripe_event_id), d.type || "—", when(d.received_at)));
  return h("section", { class: "card", id: "unrouted", "aria-labelledby": "unrouted-title" },
    h("h2", { id: "unrouted-title" }, "Deliveries to unknown restaurants"),
    h("p", { class: "muted" }, "Stripe called a webhook URL whose slug matches no restaurant (check the endpoint URL in that Stripe account), or the Connect endpoint sent an event of a connected account that no restaurant is linked to (link it under the restaurant's settings)."),
    rows.length ? table("unrouted-table", ["URL slug", "Connected account", "Stripe event", "Type", "Received"], rows, "")
      : h("p", {}, "None: every delivery named a known restaurant."));
}

// The platform's Stripe Connect endpoint: its signing secrets (per mode) and API key.
async function connectSection() {
  const state = h("div", { id: "connect-state" });
  const show = (c) => fill(state,
    h("p", {}, c.configured ? badge("ok") : h("span", { class: "status bad" }, "not configured"),
      ` Endpoint URL: ${location.origin}${c.webhook_path}`),
    c.secrets.length ? table("connect-secrets", ["Secret", "Mode", "Fingerprint", "Since", "Expires"],
      c.secrets.map((s) => row(code(s.hint), h("span", { class: `mode ${s.mode}` }, s.mode), code(s.fingerprint), when(s.created_at), s.expires_at ? when(s.expires_at) : "current")), "") : null,
    h("p", {}, "Platform API key: ", c.stripe_api_key.configured ? `${c.stripe_api_key.hint} (${c.stripe_api_key.mode})` : "none"));
  show(await api("GET", "/api/v1/admin/connect-config"));
  const secret = h("input", { id: "connect-secret", type: "password", autocomplete: "off", placeholder: "whsec_…" });
  const mode = h("select", { id: "connect-mode" }, h("option", { value: "live" }, "Live endpoint"), h("option", { value: "test" }, "Test endpoint"));
  const key = h("input", { id: "connect-api-key", type: "password", autocomplete: "off", placeholder: "rk_live_…" });
  const submit = async (e) => {
    e.preventDefault();
    fieldError(secret, "");
    const body = { mode: mode.value };
    if (secret.value) body.webhook_secret = secret.value;
    if (key.value) body.stripe_api_key = key.value;
    try {
      show(await api("PUT", "/api/v1/admin/connect-config", body));
      secret.value = ""; key.value = ""; // never kept, never shown again
    } catch (err) {
      fieldError(secret, err.message);
    }
  };
  return h("form", { class: "card", id: "connect", "aria-labelledby": "connect-title", onsubmit: submit },
    h("h2", { id: "connect-title" }, "Stripe Connect"),
    h("p", { class: "muted" }, "For restaurants onboarded as connected accounts: one endpoint of the platform's Stripe account, listening to events on connected accounts, delivers every account's events here; each goes to the restaurant linked to its account."),
    state,
    h("label", { for: "connect-mode" }, "Which Connect endpoint"), mode,
    h("label", { for: "connect-secret" }, "Connect endpoint signing secret (whsec_…)"), secret,
    h("label", { for: "connect-api-key" }, "Platform Stripe API key (for recovery and diagnosis)"), key,
    h("button", { type: "submit" }, "Save Connect settings"));
}

function createTenantForm(reload) {
  const slug = h("input", { id: "new-slug", required: true, pattern: "[a-z0-9-]{3,63}", autocomplete: "off" });
  const name = h("input", { id: "new-name", required: true });
  const submit = async (e) => {
    e.preventDefault();
    fieldError(slug, "");
    try {
      await api("POST", "/api/v1/admin/tenants", { slug: slug.value, name: name.value });
      reload();
    } catch (err) {
      fieldError(slug, err.status === 409 ? "This slug is taken." : err.message);
    }
  };
  return h("form", { class: "card", "aria-labelledby": "new-tenant-title", onsubmit: submit },
    h("h2", { id: "new-tenant-title" }, "New restaurant"),
    h("label", { for: "new-slug" }, "Slug (a-z, 0-9 and -, used in the webhook URL)"), slug,
    h("label", { for: "new-name" }, "Name"), name,
    h("button", { type: "submit" }, "Create restaurant"));
}

function createAdminForm(tenants) {
  const email = h("input", { id: "admin-email", type: "email", required: true, autocomplete: "off" });
  const password = h("input", { id: "admin-password", type: "password", required: true, minlength: 12, autocomplete: "new-password" });
  const role = h("select", { id: "admin-role" },
    h("option", { value: "tenant_admin" }, "Restaurant admin"), h("option", { value: "platform_admin" }, "Platform admin"));
  const tenant = h("select", { id: "admin-tenant" }, tenants.map((t) => h("option", { value: t.slug }, t.name)));
  const done = h("p", { class: "muted", role: "status" });
  const submit = async (e) => {
    e.preventDefault();
    fieldError(email, "");
    try {
      const body = { email: email.value, password: password.value, role: role.value,
        tenant: role.value === "tenant_admin" ? tenant.value : null };
      const created = await api("POST", "/api/v1/admin/users", body);
      password.value = "";
      done.textContent = `Created ${created.email}.`;
    } catch (err) {
      fieldError(email, err.status === 409 ? "An admin with this email exists." : err.message);
    }
  };
  return h("form", { class: "card", "aria-labelledby": "new-admin-title", onsubmit: submit },
    h("h2", { id: "new-admin-title" }, "New admin"),
    h("label", { for: "admin-email" }, "Email"), email,
    h("label", { for: "admin-password" }, "Password (12 characters or more)"), password,
    h("label", { for: "admin-role" }, "Role"), role,
    h("label", { for: "admin-tenant" }, "Restaurant"), tenant,
    h("button", { type: "submit" }, "Create admin"), done);
}
