// assent dashboard: live updates of the inbox, and copy buttons. Without this script every
// page still works by plain form posts and reloads.

// A button with `data-copy` copies the text of the element whose id it names; it stays hidden
// where the clipboard is not available.
(function () {
  "use strict";
  if (!navigator.clipboard) {
    return;
  }
  var buttons = document.querySelectorAll("button[data-copy]");
  Array.prototype.forEach.call(buttons, function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(target.textContent).then(function () {
        button.textContent = "Copied";
      }, function () {
        button.textContent = "Copy failed: select the text";
      });
    });
  });
})();

(function () {
  "use strict";
  var list = document.getElementById("inbox-items");
  if (!list || typeof EventSource === "undefined") {
    return;
  }
  var source = list.getAttribute("data-source");
  var busy = false;
  var again = false;

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(source, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("not logged in");
        }
        return response.text();
      })
      .then(function (html) {
        var active = document.activeElement;
        var focused = active && list.contains(active) ? active : null;
        // Keep a form the owner is filling in: refresh once they are done.
        if (focused && focused.tagName !== "BUTTON") {
          again = true;
          return;
        }
        list.innerHTML = html;
        if (focused) {
          refocus(focused);
        }
      })
      .catch(function () {
        events.close();
      })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          window.setTimeout(refresh, 1000);
        }
      });
  }

  // A keyboard user keeps their place: focus returns to the same button of the same form in
  // the new list, if it is still there.
  function refocus(button) {
    var action = button.form ? button.form.getAttribute("action") : null;
    var forms = list.querySelectorAll("form");
    for (var i = 0; i < forms.length; i++) {
      if (forms[i].getAttribute("action") !== action) {
        continue;
      }
      var buttons = forms[i].querySelectorAll("button");
      for (var j = 0; j < buttons.length; j++) {
        if (buttons[j].value === button.value && buttons[j].textContent === button.textContent) {
          buttons[j].focus();
          return;
        }
      }
    }
  }

  var events = new EventSource("/dashboard/events");
  events.addEventListener("changed", refresh);
})();
