/* Autosave of the guided interview as an encrypted server-side draft.
 *
 * Progressive enhancement only: without this file the "Save draft" button does the same.
 * About ten seconds after a change, and whenever the page is hidden (tab switched, window
 * closed, phone locked), the form is posted to /web/drafts url-encoded, with the page's
 * CSRF token, and the status line (an aria-live region) says when the draft was saved.
 * Nothing is kept in the browser: no localStorage, no IndexedDB, no service worker.
 */
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosave]");
  var status = document.getElementById("draft-status");
  if (!form || !status || !window.fetch || !window.FormData || !window.URLSearchParams) {
    return;
  }
  var url = form.getAttribute("data-autosave");
  var resume = form.getAttribute("data-resume");
  var idField = form.querySelector("input[name=draft_id]");
  var delay = 10000;
  var dirty = false;
  var busy = false;
  var submitting = false;
  var timer = null;

  function say(name, when) {
    var text = status.getAttribute(name) || "";
    if (when) {
      text = text.replace("{time}", when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
    }
    status.textContent = text;
  }

  function schedule() {
    dirty = true;
    if (timer === null) {
      timer = window.setTimeout(function () {
        timer = null;
        save(false);
      }, delay);
    }
  }

  function save(leaving) {
    if (!dirty || busy || submitting) {
      return;
    }
    if (timer !== null) {
      window.clearTimeout(timer);
      timer = null;
    }
    dirty = false;
    busy = true;
    var body = new URLSearchParams(new FormData(form)).toString();
    var options = {
      method: "POST",
      body: body,
      credentials: "same-origin",
      redirect: "manual",
      headers: {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded"
      }
    };
    if (leaving && body.length < 60000) {
      options.keepalive = true; /* lets the save finish after the page is gone */
    }
    say("data-saving");
    fetch(url, options).then(function (response) {
      if (response.status === 404 && idField.value) {
        idField.value = ""; /* the draft expired or was discarded elsewhere: start a new one */
      }
      if (!response.ok) {
        throw new Error("draft not saved: " + response.status);
      }
      return response.json();
    }).then(function (saved) {
      idField.value = saved.id;
      if (window.history && window.history.replaceState) {
        window.history.replaceState(null, "", resume + encodeURIComponent(saved.id));
      }
      say("data-saved", new Date(saved.updated_at));
    }).catch(function () {
      dirty = true;
      say("data-failed");
    }).then(function () {
      busy = false;
      if (dirty && !submitting) {
        schedule();
      }
    });
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  form.addEventListener("submit", function () {
    submitting = true;
    if (timer !== null) {
      window.clearTimeout(timer);
      timer = null;
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      save(true);
    }
  });
  window.addEventListener("pagehide", function () { save(true); });
  window.addEventListener("online", function () { save(false); });
})();
