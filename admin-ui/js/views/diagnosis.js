// Diagnosis: what is wrong, with the evidence and the fix in plain words; and the
// recovery of events Stripe has that never arrived.
import { api } from "../api.js";
import { h, fill, when } from "../dom.js";

function finding(f) {
  return h("article", { class: `finding sev-${f.severity}`, "data-code": f.code },
    h("h3", {}, h("span", { class: `severity sev-${f.severity}` }, f.severity), " ", f.summary),
    h("p", { class: "muted" }, h("code", {}, f.code)),
    f.evidence.length ? h("ul", { class: "evidence" }, f.evidence.map((e) => h("li", { class: "once" }, e))) : null,
    h("p", { class: "fix" }, h("strong", {}, "Fix: "), f.fix));
}

export async function diagnosisView(body, { base }) {
  const list = h("div", { id: "findings", "aria-live": "polite" });
  const result = h("p", { id: "recover-result", role: "status" });
  const show = async () => {
    const d = await api("GET", `${base}/diagnosis`);
    fill(list,
      h("p", { class: "muted" }, `Checked ${when(d.checked_at)}.`),
      d.findings.length ? d.findings.map(finding) : h("p", { class: "ok-note" }, "Nothing wrong found: deliveries verify and orders close."));
  };
  const recover = async (e) => {
    e.target.disabled = true;
    result.textContent = "Asking Stripe…";
    try {
      const s = await api("POST", `${base}/recover`, {});
      result.textContent = `Stripe listed ${s.listed}; ${s.already_had} were here already, ${s.recovered} recovered, ${s.failed} failed.`;
      await show();
    } catch (err) {
      result.textContent = err.message;
    } finally {
      e.target.disabled = false;
    }
  };
  body.append(
    h("section", { class: "card", "aria-labelledby": "recover-title" }, h("h2", { id: "recover-title" }, "Recover missed events"),
      h("p", { class: "muted" }, "Fetches this restaurant's events of the last days from Stripe (with its API key) and applies those that never arrived, once."),
      h("button", { type: "button", id: "recover", onclick: recover }, "Recover missed events"), result),
    h("section", { class: "card", "aria-labelledby": "findings-title" }, h("h2", { id: "findings-title" }, "Diagnosis"), list));
  await show();
}
