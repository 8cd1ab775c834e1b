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

  function postForm(url, csrf, accept) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: accept || "text/html" },
      body: "_csrf=" + encodeURIComponent(csrf),
    }).then(function (r) {
      if (!r.ok) throw new Error("The server refused that (" + r.status + "); reload the page and try again.");
      return r;
    });
  }

  function putFile(url, file, onProgress) {
    return new Promise(function (resolve, reject) {
      var x = new XMLHttpRequest();
      x.open("PUT", url);
      x.setRequestHeader("Content-Type", "text/csv");
      x.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      });
      x.addEventListener("load", function () {
        if (x.status >= 200 && x.status < 300) resolve();
        else reject(new Error("The upload was refused (" + x.status + "); try again."));
      });
      x.addEventListener("error", function () {
        reject(new Error("The upload did not get through; check the connection and try again."));
      });
      x.send(file);
    });
  }

  function uploadFile(e) {
    e.preventDefault();
    var form = e.target;
    var file = form.querySelector('input[type="file"]').files[0];
    var error = form.querySelector("#upload-error");
    if (!file) {
      error.textContent = "Choose a CSV file first.";
      error.hidden = false;
      return;
    }
    var csrf = form.querySelector('[name="_csrf"]').value;
    var bar = form.querySelector("#upload-bar");
    var text = form.querySelector("#upload-text");
    var button = form.querySelector('button[type="submit"]');
    var shown = function (share) {
      var pct = Math.floor(share * 100);
      bar.value = pct;
      text.textContent = pct + " %";
    };
    error.hidden = true;
    button.disabled = true;
    form.querySelector(".upload-state").hidden = false;
    shown(0);
    postForm(form.action, csrf, "application/json")
      .then(function (r) {
        return r.json();
      })
      .then(function (made) {
        return putFile(made.upload_url, file, shown).then(function () {
          shown(1);
          text.textContent = "100 % — starting the import";
          return postForm(made.start_url, csrf).then(function () {
            window.location.assign(made.page_url);
          });
        });
      })
      .catch(function (err) {
        error.textContent = err.message;
        error.hidden = false;
        button.disabled = false;
      });
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
      var values = JSON.parse(preview.dataset.values || "{}");
      var draw = function () {
        var body = preview.dataset.body || "";
        var shown = body.replace(/\{\{\s*([a-z0-9_]+)\s*\}\}/g, function (whole, k) {
          var field = form.querySelector('[name="field_' + k + '"]');
          var text = form.querySelector('[name="text_' + k + '"]');
          var own = field && field.value ? values[field.value] : "";
          return own || (text && text.value.trim()) || whole;
        });
        preview.querySelector(".text").textContent = shown;
      };
      form.addEventListener("input", draw);
      form.addEventListener("change", draw);
      draw();
    }
    // A contact file goes from the browser straight to its upload link: an import is made,
    // the file PUT with a progress bar, the import started, then its own page shows the rows.
    var upload = document.querySelector("form[data-upload]");
    if (upload) upload.addEventListener("submit", uploadFile);
    // Choosing an assignee submits its form.
    var assignee = document.getElementById("assignee");
    if (assignee) {
      assignee.addEventListener("change", function () {
        assignee.form.requestSubmit();
      });
    }
  });
})();
