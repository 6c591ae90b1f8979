// Payment settings: the webhook URL to give Stripe, the secrets (hint and fingerprint
// only), set, rotate and remove.
import { api, whoAmI } from "../api.js";
import { h, fill, when, badge, table, row, code, fieldError, copyButton } from "../dom.js";

const configured = (yes) => (yes ? badge("ok") : h("span", { class: "status bad" }, "not configured"));

function secretsState(state, c) {
  const rows = c.secrets.map((s) => row(code(s.hint), h("span", { class: `mode ${s.mode}` }, s.mode), code(s.fingerprint), when(s.created_at), s.expires_at ? when(s.expires_at) : "current"));
  fill(state,
    h("dl", { class: "kv" }, h("dt", {}, "Configured"), h("dd", {}, configured(c.configured)),
      h("dt", {}, "Last change"), h("dd", {}, when(c.updated_at))),
    rows.length ? table("secrets", ["Secret", "Mode", "Fingerprint", "Since", "Expires"], rows, "") : null);
}

// The restaurant's Stripe API key, for recovery and diagnosis: shown as a hint only.
async function apiKeySection(base) {
  const state = h("p", { id: "api-key-state" });
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", placeholder: "rk_live_…" });
  const show = (k) => fill(state, k.configured ? [badge("ok"), ` ${k.hint} (${k.mode})`] : "No key: missed events cannot be recovered and Stripe's side is not checked.");
  show(await api("GET", `${base}/stripe-api-key`));
  const save = async (e) => {
    e.preventDefault();
    fieldError(input, "");
    try {
      show(await api("PUT", `${base}/stripe-api-key`, { api_key: input.value }));
      input.value = ""; // never kept, never shown again
    } catch (err) {
      fieldError(input, err.message);
    }
  };
  return h("form", { class: "card", "aria-labelledby": "api-key-title", onsubmit: save },
    h("h2", { id: "api-key-title" }, "Stripe API key"),
    h("p", { class: "muted" }, "A restricted key with Read access to Events and Webhook Endpoints (Stripe's dashboard → Developers → API keys → Create restricted key)."),
    state, h("label", { for: "api-key" }, "Stripe API key (rk_live_… or rk_test_…)"), input, h("button", { type: "submit" }, "Save API key"));
}

// The restaurant's Stripe connected account (platform admins link it: a restaurant
// must not claim another's account).
async function connectedAccountSection(slug) {
  const tenant = (await api("GET", "/api/v1/admin/tenants")).items.find((t) => t.slug === slug) || {};
  const state = h("p", { id: "connected-account" });
  const show = (account) => fill(state, account ? ["Linked to ", code(account), ": its events come through the Connect endpoint."] : "Not linked to a connected account.");
  show(tenant.connect_account_id);
  const input = h("input", { id: "account-id", autocomplete: "off", placeholder: "acct_…" });
  const link = async (e) => {
    e.preventDefault();
    fieldError(input, "");
    try {
      const linked = await api("PUT", `/api/v1/admin/tenants/${encodeURIComponent(slug)}/connect`, { account_id: input.value });
      show(linked.account_id);
      input.value = "";
    } catch (err) {
      fieldError(input, err.status === 409 ? "Another restaurant is linked to this account." : err.message);
    }
  };
  const unlink = async () => {
    try { await api("DELETE", `/api/v1/admin/tenants/${encodeURIComponent(slug)}/connect`); } catch (err) { if (err.status !== 404) throw err; }
    show(null);
  };
  return h("form", { class: "card", "aria-labelledby": "account-title", onsubmit: link },
    h("h2", { id: "account-title" }, "Stripe connected account"), state,
    h("label", { for: "account-id" }, "Connected account id (acct_…)"), input,
    h("button", { type: "submit" }, "Link account"), h("button", { type: "button", id: "unlink-account", onclick: unlink }, "Unlink"));
}

export async function settingsView(body, { base, slug, config }) {
  const url = `${location.origin}/api/v1/webhooks/stripe/${slug}`;
  const urlField = h("input", { id: "webhook-url", readonly: true, value: url });
  const secret = h("input", { id: "secret", type: "password", autocomplete: "off", placeholder: "whsec_…" });
  const rotateSecret = h("input", { id: "rotate-secret", type: "password", autocomplete: "off", placeholder: "whsec_…" });
  const grace = h("select", { id: "rotate-grace" },
    h("option", { value: "3600" }, "1 hour"), h("option", { value: "21600" }, "6 hours"), h("option", { value: "86400" }, "24 hours"));
  // Stripe signs a live endpoint's and a test endpoint's events with different secrets.
  const modeSelect = (id) => h("select", { id },
    h("option", { value: "live" }, "Live endpoint"), h("option", { value: "test" }, "Test endpoint"));
  const secretMode = modeSelect("secret-mode");
  const rotateMode = modeSelect("rotate-mode");
  const saved = h("p", { class: "muted", role: "status" });
  const state = h("div");
  secretsState(state, config);

  const submit = async (input, method, path, extra) => {
    fieldError(input, "");
    try {
      const c = await api(method, path, { webhook_secret: input.value, ...extra });
      input.value = ""; // never kept, never shown again
      saved.textContent = "Saved.";
      secretsState(state, c);
    } catch (err) {
      fieldError(input, err.message);
    }
  };
  const remove = async () => {
    if (!confirm("Remove the Stripe configuration? Stripe's deliveries will be refused until a new secret is set.")) return;
    try { await api("DELETE", `${base}/payment-config`); } catch (err) { if (err.status !== 404) throw err; }
    secretsState(state, await api("GET", `${base}/payment-config`));
  };

  body.append(
    h("section", { class: "card", "aria-labelledby": "url-title" }, h("h2", { id: "url-title" }, "Webhook URL"),
      h("p", { class: "muted" }, "Paste this into the endpoint of Stripe's dashboard (Developers → Webhooks)."),
      h("label", { for: "webhook-url" }, "Endpoint URL"), urlField, copyButton(() => url, "Copy URL")),
    h("section", { class: "card", "aria-labelledby": "secret-title" }, h("h2", { id: "secret-title" }, "Signing secret"), state, saved),
    h("form", { class: "card", "aria-labelledby": "set-title",
      onsubmit: (e) => { e.preventDefault(); submit(secret, "PUT", `${base}/payment-config`, { mode: secretMode.value }); } },
      h("h2", { id: "set-title" }, "Enter or replace the secret"),
      h("p", { class: "muted" }, "Replacing stops the old secret of that endpoint at once; the other endpoint's is kept. To change without missing events, rotate instead."),
      h("label", { for: "secret-mode" }, "Which Stripe endpoint"), secretMode,
      h("label", { for: "secret" }, "Signing secret (whsec_…)"), secret, h("button", { type: "submit" }, "Save secret")),
    h("form", { class: "card", "aria-labelledby": "rotate-title",
      onsubmit: (e) => {
        e.preventDefault();
        submit(rotateSecret, "POST", `${base}/payment-config/rotate`, { previous_expires_in_secs: Number(grace.value), mode: rotateMode.value });
      } },
      h("h2", { id: "rotate-title" }, "Rotate"),
      h("p", { class: "muted" }, "The new secret works now; the current one keeps working until the grace period ends."),
      h("label", { for: "rotate-mode" }, "Which Stripe endpoint"), rotateMode,
      h("label", { for: "rotate-secret" }, "New signing secret"), rotateSecret,
      h("label", { for: "rotate-grace" }, "Keep the current secret for"), grace,
      h("button", { type: "submit" }, "Rotate secret")),
    await apiKeySection(base),
    ...(whoAmI().role === "platform_admin" ? [await connectedAccountSection(slug)] : []),
    h("section", { class: "card" }, h("h2", {}, "Remove"),
      h("button", { type: "button", class: "danger", id: "delete-secret", onclick: remove }, "Remove configuration")));
}
