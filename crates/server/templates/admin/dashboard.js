// The dashboard's live parts: the TTL countdown, the registry's states,
// the approvals and kill-switch lists, and the audit stream, from the
// server-sent events. Everything else works without this script.
"use strict";
(function () {
  var STOPPED = {
    REVOKED: "stopped: revoked",
    ROTATED: "stopped: rotated",
    EXPIRED: "stopped: expired",
  };

  // a TTL bar that no longer counts down, saying why
  function stop(row, why) {
    row.querySelectorAll("[data-exp]").forEach(function (el) {
      el.removeAttribute("data-exp");
    });
    var bar = row.querySelector("progress.ttl");
    if (bar) bar.classList.add("stopped");
    var text = row.querySelector(".ttl-text");
    if (text) text.textContent = why;
  }

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
      if (left === 0) {
        var row = text.closest("tr");
        if (row) stop(row, STOPPED.EXPIRED);
      }
    });
    document.querySelectorAll(".age[data-since]").forEach(function (age) {
      var ago = Math.max(0, now - Number(age.dataset.since));
      age.textContent = "(" + ago + " s ago)";
    });
  }

  function showState(row, state, stopped) {
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
      stop(row, stopped || STOPPED[state] || "stopped");
    }
  }

  function parse(e) {
    try { return JSON.parse(e.data); } catch (err) { return null; }
  }

  function say(text) {
    var region = document.getElementById("live-change");
    if (region) region.textContent = text;
  }

  // swaps in a list the server rendered, when it changed
  function swap(kind, data) {
    var list = document.querySelector('.live-list[data-kind="' + kind + '"]');
    if (!list || !data || list.dataset.digest === data.digest) return;
    list.innerHTML = data.html;
    list.dataset.digest = data.digest;
    countdown();
    var rows = list.querySelectorAll("tbody tr").length;
    say(kind === "approvals"
      ? "Pending approvals updated: " + rows + " waiting."
      : "Kill-switches updated: " + rows + " engaged.");
  }

  function live() {
    var status = document.getElementById("live-status");
    var url = document.body.dataset.events;
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    var counted = function () {
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    };
    source.addEventListener("open", function () {
      if (status) status.textContent = "Live updates on.";
    });
    source.addEventListener("error", function () {
      if (status) status.textContent = "Live updates interrupted; retrying.";
    });
    source.addEventListener("registry", function (e) {
      var data = parse(e);
      if (!data) return;
      var unseen = 0;
      (data.passports || []).forEach(function (p) {
        var row = document.querySelector('tr[data-jti="' + CSS.escape(p.jti) + '"]');
        if (row) showState(row, p.state, p.stopped); else unseen += 1;
      });
      var notice = document.getElementById("new-passports");
      if (notice && unseen > 0) notice.hidden = false;
      counted();
    });
    ["approvals", "kill-switches"].forEach(function (kind) {
      source.addEventListener(kind, function (e) {
        swap(kind, parse(e));
        counted();
      });
    });
    var AUDIT_KEPT = 500;
    source.addEventListener("audit", function (e) {
      var log = document.getElementById("audit-log");
      if (!log) return;
      // the server rendered (and escaped) the entry
      var holder = document.createElement("ol");
      holder.innerHTML = e.data;
      var entry = holder.firstElementChild;
      if (entry) log.appendChild(entry);
      // bounded: a page left open through a flood keeps the newest
      // AUDIT_KEPT entries (the older ones are in the trail and on reload)
      while (log.children.length > AUDIT_KEPT) log.firstElementChild.remove();
      var empty = document.getElementById("audit-empty");
      if (empty) empty.remove();
      counted();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    countdown();
    setInterval(countdown, 1000);
    live();
  });
})();
