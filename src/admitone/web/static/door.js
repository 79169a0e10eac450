// The door scanner: scans through /door/{event}/scan (same service as the API), a
// full-screen result, live counts, the camera where the browser has BarcodeDetector, and
// scans kept in localStorage while the network is down, synced through /door/{event}/sync.
(function () {
  "use strict";
  var door = document.getElementById("door");
  if (!door) return;
  var eventId = door.getAttribute("data-event");
  var checkpointId = door.getAttribute("data-checkpoint") || null;
  var csrf = door.getAttribute("data-csrf");
  var names = {};
  (door.getAttribute("data-checkpoints") || "").split("|").forEach(function (pair) {
    var i = pair.indexOf("=");
    if (i > 0) names[pair.slice(0, i)] = pair.slice(i + 1);
  });
  var form = document.getElementById("scan-form");
  var input = document.getElementById("code");
  var result = document.getElementById("result");
  var pendingNote = document.getElementById("pending");
  var conflicts = document.getElementById("conflicts");
  var net = document.getElementById("net");
  var queueKey = "admitone.door.queue." + eventId;
  var deviceKey = "admitone.door.device";
  var deviceId = localStorage.getItem(deviceKey);
  if (!deviceId) {
    deviceId = "web-" + randomId();
    localStorage.setItem(deviceKey, deviceId);
  }

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(36).slice(2);
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text) node.textContent = text;
    return node;
  }

  var LABELS = {
    accepted: "Accepted",
    already_checked_in: "Already checked in",
    invalid_code: "Invalid code",
    revoked: "Revoked",
    wrong_event: "Wrong event",
    not_allowed_here: "Not allowed here",
    outside_window: "Outside its time",
    unpaid: "Unpaid",
    saved_offline: "Saved offline"
  };

  function when(iso) {
    if (!iso) return "";
    var tz = door.getAttribute("data-timezone") || undefined;
    try {
      return new Date(iso).toLocaleString(undefined, { timeZone: tz, hour: "2-digit", minute: "2-digit", second: "2-digit", weekday: "short" });
    } catch (e) { return iso; }
  }

  function show(r) {
    result.textContent = "";
    result.className = "result show result-" + r.result;
    result.appendChild(el("p", "big", LABELS[r.result] || r.result));
    if (r.attendee && r.attendee.name) result.appendChild(el("p", "who", r.attendee.name));
    if (r.pass) result.appendChild(el("p", "", r.pass.tier_name + " · " + r.pass.code));
    if (r.result === "already_checked_in" && r.first_checked_in_at) {
      var where = names[r.checkpoint_id] ? ", " + names[r.checkpoint_id] : "";
      result.appendChild(el("p", "", "First at " + when(r.first_checked_in_at) + where));
    }
    if (r.message) result.appendChild(el("p", "reason", r.message));
    var next = el("button", "button secondary", "Next scan");
    next.type = "button";
    next.id = "next";
    next.addEventListener("click", dismiss);
    result.appendChild(next);
    result.hidden = false;
    next.focus();
  }

  function dismiss() {
    result.hidden = true;
    input.value = "";
    input.focus();
  }

  function queue() {
    try { return JSON.parse(localStorage.getItem(queueKey) || "[]"); } catch (e) { return []; }
  }
  function saveQueue(items) {
    localStorage.setItem(queueKey, JSON.stringify(items));
    pendingNote.hidden = items.length === 0;
    pendingNote.textContent = items.length + " scan(s) kept on this device, synced when the network is back.";
  }

  function post(path, body) {
    return fetch("/door/" + encodeURIComponent(eventId) + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: JSON.stringify(body)
    });
  }

  function keepOffline(code) {
    var items = queue();
    items.push({ code: code, scanned_at: new Date().toISOString(), nonce: randomId(), checkpoint_id: checkpointId });
    saveQueue(items);
    show({ result: "saved_offline", message: "No network: this scan is kept on the device and checked when the network is back." });
  }

  function scan(code) {
    code = code.trim();
    if (!code) return;
    if (!navigator.onLine) { keepOffline(code); return; }
    post("/scan", { code: code, checkpoint_id: checkpointId, device_id: deviceId, scan_id: randomId() })
      .then(function (resp) {
        return resp.json().then(function (body) {
          if (!resp.ok) throw { problem: body };
          show(body);
        });
      })
      .catch(function (err) {
        if (err && err.problem) {
          show({ result: "invalid_code", message: err.problem.detail || "Refused." });
        } else {
          keepOffline(code);
        }
      });
  }

  function sync() {
    var items = queue();
    if (!items.length || !navigator.onLine) { saveQueue(items); return; }
    post("/sync", { device_id: deviceId, checkpoint_id: checkpointId, scans: items })
      .then(function (resp) {
        if (!resp.ok) return;
        return resp.json().then(function (body) {
          saveQueue([]);
          (body.results || []).forEach(function (r, i) {
            if (r.result !== "accepted") {
              var who = r.attendee && r.attendee.name ? r.attendee.name + ": " : "";
              conflicts.appendChild(el("li", "notice warn", "Offline scan " + items[i].code + " — " + who + (LABELS[r.result] || r.result) + ". " + (r.message || "")));
            }
          });
        });
      })
      .catch(function () { /* still offline: keep the queue */ });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    scan(input.value);
  });
  document.addEventListener("keydown", function (e) {
    if (!result.hidden && (e.key === "Enter" || e.key === "Escape")) { e.preventDefault(); dismiss(); }
  });
  var staticNext = document.getElementById("next");
  if (staticNext) staticNext.addEventListener("click", function (e) { e.preventDefault(); dismiss(); });

  function online() { net.textContent = navigator.onLine ? "" : "Offline"; if (navigator.onLine) sync(); }
  window.addEventListener("online", online);
  window.addEventListener("offline", online);
  online();

  if (window.EventSource) {
    var stats = new EventSource("/door/" + encodeURIComponent(eventId) + "/stats");
    stats.addEventListener("update", function (e) {
      try {
        var s = JSON.parse(e.data);
        document.getElementById("count-in").textContent = s.checked_in;
        document.getElementById("count-inside").textContent = s.inside;
      } catch (err) { /* ignore */ }
    });
  }

  // Camera scanning where the browser can decode QR codes itself.
  var cameraButton = document.getElementById("camera");
  var video = document.getElementById("preview");
  if ("BarcodeDetector" in window && navigator.mediaDevices) {
    cameraButton.hidden = false;
    cameraButton.addEventListener("click", function () {
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
        video.srcObject = stream;
        video.hidden = false;
        video.play();
        var last = "";
        var tick = function () {
          if (video.hidden) return;
          detector.detect(video).then(function (codes) {
            if (codes.length && codes[0].rawValue !== last && result.hidden) {
              last = codes[0].rawValue;
              scan(last);
              setTimeout(function () { last = ""; }, 3000);
            }
            requestAnimationFrame(tick);
          }).catch(function () { requestAnimationFrame(tick); });
        };
        tick();
      }).catch(function () {
        cameraButton.hidden = true;
      });
    });
  }
})();
