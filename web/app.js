// sendit dashboard: refreshes the parts of a page marked data-live in place,
// every few seconds while the tab is visible, so a new batch shows up
// without the reader reloading and without losing the scroll position, the
// page or the search. Pages work without this script.
"use strict";

(function () {
  const every = Number(document.body.dataset.liveEvery || 0);
  const stamp = document.getElementById("refreshed");
  if (!every) return;
  let busy = false;

  function show(text) {
    if (stamp) stamp.textContent = text;
  }

  async function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(window.location.href, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
        cache: "no-store",
      });
      // A session that ended lands on the login page: show it for real.
      if (response.redirected && new URL(response.url).pathname === "/login") {
        window.location.assign(response.url);
        return;
      }
      if (!response.ok) {
        show("Refresh failed (" + response.status + "); retrying.");
        return;
      }
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const fresh of doc.querySelectorAll("[data-live][id]")) {
        const old = document.getElementById(fresh.id);
        if (old && old.innerHTML !== fresh.innerHTML) old.innerHTML = fresh.innerHTML;
      }
      show("Updated " + new Date().toLocaleTimeString());
    } catch (e) {
      show("Refresh failed; retrying.");
    } finally {
      busy = false;
    }
  }

  window.setInterval(refresh, every * 1000);
  document.addEventListener("visibilitychange", refresh);
  show("Live: updates every " + every + " s");
})();
