// The light touch of JavaScript: refresh the dashboard's live panel in place. Everything works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const panel = document.querySelector("[data-refresh]");
  if (!panel) return;
  const every = 1000 * Number(panel.dataset.every || 10);
  const refresh = async () => {
    try {
      const reply = await fetch(panel.dataset.refresh, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (reply.ok) panel.innerHTML = await reply.text();  // server-rendered and escaped, same origin
    } catch (_) { /* offline for a moment: keep the last figures */ }
  };
  setInterval(refresh, every);
});
