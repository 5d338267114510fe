// The dashboard's live parts: the TTL countdown and the registry's states
// from the server-sent events. Everything else works without this script.
"use strict";
(function () {
  function countdown() {
    var now = Math.floor(Date.now() / 1000);
    document.querySelectorAll("progress.ttl[data-exp]").forEach(function (bar) {
      var left = Math.max(0, Number(bar.dataset.exp) - now);
      bar.value = left;
      bar.textContent = left + " s";
    });
    document.querySelectorAll(".ttl-text[data-exp]").forEach(function (text) {
      var left = Math.max(0, Number(text.dataset.exp) - now);
      text.textContent = left + " s left";
    });
  }

  function showState(row, state) {
    if (row.dataset.state === state) return;
    row.dataset.state = state;
    var badge = row.querySelector(".state");
    if (badge) {
      badge.textContent = state;
      badge.className = "state state-" + state;
    }
    if (state !== "ACTIVE") {
      var form = row.querySelector("form");
      if (form) form.remove();
    }
  }

  function live() {
    var status = document.getElementById("live-status");
    var url = document.body.dataset.events;
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    source.addEventListener("open", function () {
      if (status) status.textContent = "Live updates on.";
    });
    source.addEventListener("error", function () {
      if (status) status.textContent = "Live updates interrupted; retrying.";
    });
    source.addEventListener("registry", function (e) {
      var data;
      try { data = JSON.parse(e.data); } catch (err) { return; }
      var unseen = 0;
      (data.passports || []).forEach(function (p) {
        var row = document.querySelector('tr[data-jti="' + CSS.escape(p.jti) + '"]');
        if (row) showState(row, p.state); else unseen += 1;
      });
      var notice = document.getElementById("new-passports");
      if (notice && unseen > 0) notice.hidden = false;
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    countdown();
    setInterval(countdown, 1000);
    live();
  });
})();
