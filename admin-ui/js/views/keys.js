// API keys for the restaurant's backend: create (shown once), list, revoke.
import { api } from "../api.js";
import { h, fill, when, table, row, code, copyButton } from "../dom.js";

export async function keysView(body, { base, reload }) {
  const shown = h("div", { id: "new-key" });
  const list = await api("GET", `${base}/api-keys`);
  const revoke = (k) => async () => {
    if (!confirm(`Revoke key ${k.prefix}…? Backends using it stop working.`)) return;
    await api("DELETE", `${base}/api-keys/${k.id}`);
    reload();
  };
  const rows = list.items.map((k) => row(k.id, code(`${k.prefix}…`), when(k.created_at),
    k.revoked_at ? `revoked ${when(k.revoked_at)}` : h("button", { type: "button", class: "danger", onclick: revoke(k) }, "Revoke")));
  const create = async () => {
    const key = await api("POST", `${base}/api-keys`);
    const field = h("input", { id: "new-key-value", readonly: true, value: key.key, class: "once" });
    fill(shown, h("label", { for: "new-key-value" }, "New key: shown this once, store it now"), field, copyButton(() => key.key, "Copy key"));
  };
  body.append(
    h("section", { class: "card" }, h("h2", {}, "API keys for your backend"),
      h("button", { type: "button", id: "create-key", onclick: create }, "Create key"), shown),
    table("keys", ["Id", "Prefix", "Created", ""], rows, "No keys yet."));
}
