// Health at a glance, and deliveries per hour over the last 24 hours.
import { api } from "../api.js";
import { h, when, badge } from "../dom.js";

const COLORS = { COMPLETED: "#17753a", FAILED: "#b3261e", VERIFICATION_FAILED: "#e06c00", NO_CONFIG: "#8a6d00", PROCESSING: "#3451d1" };
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function chart(hours) {
  const W = 720, H = 180, pad = 24, bw = (W - pad) / hours.length;
  const total = hours.map((x) => Object.values(x.counts).reduce((a, b) => a + b, 0));
  const max = Math.max(1, ...total);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H + 20}`, class: "chart", role: "img",
    "aria-label": `Deliveries per hour over the last 24 hours; busiest hour ${max}.` });
  hours.forEach((hour, i) => {
    let y = H;
    for (const [status, color] of Object.entries(COLORS)) {
      const n = hour.counts[status] || 0;
      if (!n) continue;
      const height = (n / max) * (H - 10);
      y -= height;
      const bar = svg("rect", { x: pad + i * bw + 1, y, width: Math.max(1, bw - 2), height, fill: color });
      bar.append(svg("title", {}, `${new Date(hour.hour).toLocaleString()}: ${n} ${status}`));
      root.append(bar);
    }
    if (i % 6 === 0) {
      const label = new Date(hour.hour).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      root.append(svg("text", { x: pad + i * bw, y: H + 15, "font-size": "11" }, label));
    }
  });
  root.append(svg("text", { x: 0, y: 12, "font-size": "11" }, String(max)));
  return root;
}

export async function healthView(body, { base }) {
  const hl = await api("GET", `${base}/health`);
  const f = hl.recent_failures;
  const fact = (name, value) => [h("dt", {}, name), h("dd", {}, value)];
  const last = hl.last_delivery ? [when(hl.last_delivery.at), " ", badge(hl.last_delivery.status)]
    : "Stripe has never called (check the webhook URL in Stripe)";
  body.append(
    h("section", { class: "card", id: "health" }, h("h2", {}, "At a glance"),
      h("dl", { class: "kv" },
        fact("Stripe secret", hl.configured ? badge("ok") : h("span", { class: "status bad" }, "not configured")),
        fact("Last delivery", last),
        fact("Last success", when(hl.last_successful_webhook)),
        fact("Failed verification (24 h)", f.verification_failed),
        fact("No configuration (24 h)", f.no_config),
        fact("Processing failed (24 h)", f.failed),
        fact("Stuck in processing", hl.stuck_processing),
        fact("Answered 200 (last hour)", hl.success_rate_1h === null ? "no deliveries"
          : h("span", { id: "success-rate", class: hl.success_rate_1h < 0.95 ? "status bad" : "" },
            `${(hl.success_rate_1h * 100).toFixed(1)} % of ${hl.deliveries_1h}`)),
        fact("95 % answered within (last hour)", hl.p95_response_ms_1h === null ? "—" : `${hl.p95_response_ms_1h} ms`))),
    h("section", { class: "card" }, h("h2", {}, "Deliveries per hour, last 24 hours"), chart(hl.deliveries_per_hour),
      h("p", { class: "legend" }, Object.entries(COLORS).map(([s, c]) => h("span", {}, h("span", { class: "swatch", "data-color": c }), s)))));
  // Swatch colours set through the DOM (CSP forbids inline style attributes).
  body.querySelectorAll(".swatch").forEach((el) => { el.style.background = el.dataset.color; });
}
