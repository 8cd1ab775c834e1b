// WhatATalk's only script. Pages work without it; with it, the inbox refreshes itself.
// Served from the binary under a CSP that allows no inline script. Nothing here builds HTML
// from strings: refreshed regions are nodes the server rendered (and escaped) itself.
"use strict";

(function () {
  var EVERY_MS = 2500;

  function liveRegions(doc) {
    var found = {};
    doc.querySelectorAll("[data-live-region]").forEach(function (el) {
      if (el.id) found[el.id] = el;
    });
    return found;
  }

  var etag = null;
  var busy = false;

  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    var headers = { "X-Requested-With": "fetch" };
    if (etag) headers["If-None-Match"] = etag;
    fetch(window.location.href, { headers: headers, credentials: "same-origin", redirect: "manual" })
      .then(function (r) {
        if (r.type === "opaqueredirect" || r.status === 0) {
          // The session ended: the login page says so.
          window.location.assign("/app/login");
          return null;
        }
        if (r.status !== 200) return null;
        etag = r.headers.get("ETag");
        return r.text();
      })
      .then(function (html) {
        if (!html) return;
        var fresh = liveRegions(new DOMParser().parseFromString(html, "text/html"));
        var current = liveRegions(document);
        Object.keys(fresh).forEach(function (id) {
          var old = current[id];
          if (old && old.innerHTML !== fresh[id].innerHTML) {
            old.replaceWith(document.importNode(fresh[id], true));
          }
        });
        scrollThread();
      })
      .catch(function () {})
      .then(function () {
        busy = false;
      });
  }

  function scrollThread() {
    var t = document.getElementById("thread");
    if (t) t.scrollTop = t.scrollHeight;
  }

  document.addEventListener("DOMContentLoaded", function () {
    scrollThread();
    if (document.body.dataset.live) {
      // The first refresh learns the page's ETag; later ones cost a 304 when nothing changed.
      setInterval(refresh, EVERY_MS);
    }
    // Enter sends a reply; Shift+Enter is a new line.
    var reply = document.getElementById("reply");
    if (reply) {
      reply.addEventListener("keydown", function (e) {
        if (e.key === "Enter" && !e.shiftKey && reply.value.trim() !== "") {
          e.preventDefault();
          reply.form.requestSubmit();
        }
      });
    }
    // A broadcast's preview follows its fields: {{k}} is the sample contact's value of the
    // chosen field, else the text. Only textContent is set: the values are never markup.
    var preview = document.querySelector("[data-preview]");
    if (preview) {
      var form = preview.closest("form");
      var draw = function () {
        var body = preview.dataset.body || "";
        var shown = body.replace(/\{\{\s*([a-z0-9_]+)\s*\}\}/g, function (whole, k) {
          var field = form.querySelector('[name="field_' + k + '"]');
          var text = form.querySelector('[name="text_' + k + '"]');
          var own = field && field.value ? preview.dataset[field.value] : "";
          return own || (text && text.value.trim()) || whole;
        });
        preview.querySelector(".text").textContent = shown;
      };
      form.addEventListener("input", draw);
      form.addEventListener("change", draw);
      draw();
    }
    // Choosing an assignee submits its form.
    var assignee = document.getElementById("assignee");
    if (assignee) {
      assignee.addEventListener("change", function () {
        assignee.form.requestSubmit();
      });
    }
  });
})();
