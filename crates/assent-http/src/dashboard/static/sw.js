// assent's service worker (scope /dashboard/): shows the server's Web Push messages as
// notifications and carries out their actions. A push's data is the JSON that
// assent_core's `Content::push` makes: {title, body, url, tag, actions: [{action, title, url,
// method}]}. Approve and Reject, and a notification's answers (`answer:<id>`), are single-use
// links: the worker POSTs those with method POST, as the button of the link's confirmation
// page does (the fetch carries this origin's `Origin`, which the server checks), and says how
// it went. Open, an answer that cannot be undone (method GET: its page asks for a session), or
// a click on the notification opens its page.

"use strict";

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("push", function (event) {
  var message;
  try {
    message = event.data ? event.data.json() : null;
  } catch (e) {
    message = null;
  }
  if (!message || typeof message.title !== "string") {
    // Browsers require a notification for every push; this one says only that much.
    message = { title: "assent", body: "Something waits for you.", url: "/dashboard", tag: "assent", actions: [] };
  }
  var actions = Array.isArray(message.actions) ? message.actions : [];
  event.waitUntil(self.registration.showNotification(message.title, {
    body: message.body,
    tag: message.tag,
    icon: "/dashboard/static/icon-192.png",
    data: { url: message.url, actions: actions },
    actions: shown(actions).map(function (a) { return { action: a.action, title: a.title }; })
  }));
});

// The buttons the browser can show (`Notification.maxActions`, 2 in Chromium): every choice
// and then Open while there is room; when the choices do not all fit, Open only (showing some
// of them would hide the others). A click on the notification itself always opens it.
function shown(actions) {
  var max = typeof Notification !== "undefined" && Notification.maxActions >= 0 ? Notification.maxActions : 2;
  var choices = actions.filter(function (a) { return a.action !== "open"; });
  var open = actions.filter(function (a) { return a.action === "open"; });
  if (choices.length > max) {
    choices = [];
  }
  return choices.concat(open).slice(0, max);
}

// What a click on `action` ("" for the notification itself) does.
function act(notification, action) {
  var data = notification.data || {};
  var chosen = (data.actions || []).filter(function (a) { return a.action === action; })[0];
  notification.close();
  if (chosen && chosen.method === "POST") {
    return decide(chosen, notification.tag);
  }
  return self.clients.openWindow(chosen ? chosen.url : data.url || "/dashboard");
}

// Posts a decision link and replaces the notification with how it went.
function decide(chosen, tag) {
  var done = { approve: "Approved", reject: "Rejected" }[chosen.action] || "Answered: " + chosen.title;
  return fetch(chosen.url, { method: "POST", credentials: "same-origin" }).then(function (response) {
    if (response.ok) {
      return [done, "The service is told."];
    }
    if (response.status === 409) {
      return ["Not changed", "This was decided or answered already, or has expired."];
    }
    if (response.status === 410) {
      return ["Not changed", "This link was used already, or has expired."];
    }
    return ["Not done", "The server refused (HTTP " + response.status + "). Open the dashboard to decide."];
  }, function () {
    return ["Not done", "The server could not be reached. Open the dashboard to decide."];
  }).then(function (said) {
    return self.registration.showNotification(said[0], {
      body: said[1],
      tag: tag,
      icon: "/dashboard/static/icon-192.png",
      data: { url: "/dashboard", actions: [] }
    });
  });
}

self.addEventListener("notificationclick", function (event) {
  event.waitUntil(act(event.notification, event.action));
});

// A page of this origin may ask for the same as a click on a shown notification's action:
// Chromium's DevTools protocol cannot click a notification, so the browser test does this.
self.addEventListener("message", function (event) {
  var asked = event.data || {};
  if (asked.type !== "notificationclick") {
    return;
  }
  event.waitUntil(self.registration.getNotifications({ tag: asked.tag }).then(function (shown) {
    return shown.length ? act(shown[0], asked.action || "") : null;
  }));
});
