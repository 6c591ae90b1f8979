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
    h("a", { href: `#/t/${encodeURIComponent(t.slug)}/settings` }, t.name), code(t.slug), problems(t), when(t.created_at)));
  const page = [h("h1", {}, "Restaurants"), h("div", { class: "card" }, table("tenants", ["Name", "Slug", "Health", "Created"], rows, "No restaurants yet."))];
  if (whoAmI().role === "platform_admin") {
    page.push(createTenantForm(reload), createAdminForm(list.items), await unroutedSection());
  }
  fill(main, ...page);
}

// Deliveries whose URL names no restaurant: a mistyped endpoint in Stripe's dashboard.
async function unroutedSection() {
  const list = await api("GET", "/api/v1/admin/unrouted-deliveries?limit=20");
  const rows = list.items.map((d) => row(code(d.tenant_slug), code(d.stripe_event_id), d.type || "—", when(d.received_at)));
  return h("section", { class: "card", id: "unrouted", "aria-labelledby": "unrouted-title" },
    h("h2", { id: "unrouted-title" }, "Deliveries to unknown restaurants"),
    h("p", { class: "muted" }, "Stripe called a webhook URL whose slug matches no restaurant: check the endpoint URL in that Stripe account."),
    rows.length ? table("unrouted-table", ["URL slug", "Stripe event", "Type", "Received"], rows, "")
      : h("p", {}, "None: every delivery named a known restaurant."));
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
