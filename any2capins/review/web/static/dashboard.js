// The lead's dashboard: reopen decided items (with a reason) and log out. Everything else on
// the page is rendered by the server.
"use strict";
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(() => ({ message: `HTTP ${response.status}` }));
    if (response.status === 401) window.location.assign("/login?why=expired");
    return { status: response.status, data };
  }

  async function reopen(itemId, reason) {
    const { status, data } = await post(`/api/items/${itemId}/reopen`, { reason });
    $("reopen-status").textContent = status === 200
      ? `item ${itemId} is back in the queue` : data.message;
    if (status === 200) window.setTimeout(() => window.location.reload(), 600);
  }

  $("reopen-form").addEventListener("submit", (event) => {
    event.preventDefault();
    reopen($("reopen-item").value, $("reopen-reason").value);
  });
  for (const button of document.querySelectorAll("button.reopen-one")) {
    button.addEventListener("click", () => {
      $("reopen-item").value = button.dataset.item;
      $("reopen-reason").focus();
    });
  }
  $("logout").addEventListener("click", async () => {
    await post("/api/logout", {});
    window.location.assign("/login?why=logged_out");
  });
})();
