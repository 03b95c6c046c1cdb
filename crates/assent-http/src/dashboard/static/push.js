// The Settings page's "This device": registers the service worker (/dashboard/sw.js), asks
// for the notifications permission, subscribes to Web Push with the server's VAPID key
// (GET /v1/auth/web-push) and adds the subscription as a web_push channel
// (POST /v1/auth/channels; the session cookie and this page's Origin authenticate both).
(function () {
  "use strict";
  var button = document.getElementById("push-enable");
  var status = document.getElementById("push-status");
  if (!button || !status) {
    return;
  }
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    status.textContent = "This browser cannot receive Web Push (it needs HTTPS, or localhost).";
    return;
  }
  button.hidden = false;
  status.textContent = "";

  function say(text) {
    status.textContent = text;
  }

  // base64url → the bytes `applicationServerKey` takes.
  function bytes(base64url) {
    var text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/"));
    var out = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i += 1) {
      out[i] = text.charCodeAt(i);
    }
    return out;
  }

  // The JSON of an API answer; a refusal becomes an Error with its message.
  function answer(response) {
    return response.json().catch(function () { return {}; }).then(function (body) {
      if (!response.ok) {
        if (response.status === 404 && response.url.indexOf("/v1/auth/web-push") >= 0) {
          throw new Error("Web Push is not set up on this server.");
        }
        throw new Error(body.message || body.error || "The server refused (HTTP " + response.status + ").");
      }
      return body;
    });
  }

  // A browser that cannot reach its push service (offline, blocked) may never answer.
  var SUBSCRIBE_PATIENCE = 20000;

  function within(ms, promise) {
    return Promise.race([promise, new Promise(function (resolve, reject) {
      setTimeout(function () {
        reject(new Error("this browser's push service did not answer; check the network and try again."));
      }, ms);
    })]);
  }

  function enable() {
    button.disabled = true;
    say("Asking for permission…");
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") {
        throw new Error("Notifications are blocked for this site: allow them in the browser's site settings, then try again.");
      }
      say("Installing the service worker…");
      return navigator.serviceWorker.register("/dashboard/sw.js", { scope: "/dashboard/" });
    }).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (registration) {
      return fetch("/v1/auth/web-push", { credentials: "same-origin" }).then(answer).then(function (key) {
        return registration.pushManager.getSubscription().then(function (old) {
          // A subscription made with another key cannot be reused.
          return old ? old.unsubscribe() : null;
        }).then(function () {
          say("Subscribing at this browser's push service…");
          return within(SUBSCRIBE_PATIENCE, registration.pushManager.subscribe({
            userVisibleOnly: true,
            applicationServerKey: bytes(key.vapid_public_key)
          }));
        });
      });
    }).then(function (subscription) {
      var json = subscription.toJSON();
      return fetch("/v1/auth/channels", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ kind: "web_push", address: json.endpoint, keys: json.keys })
      }).then(answer);
    }).then(function () {
      say("Notifications are on for this device.");
      window.location.reload();
    }).catch(function (error) {
      say("Not enabled: " + (error && error.message ? error.message : error));
      button.disabled = false;
    });
  }

  button.addEventListener("click", enable);
})();
