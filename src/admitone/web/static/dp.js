// The DP campaign page: pick a design, crop and zoom the photo on a canvas, type the texts,
// post to the API's generate route, then show, download and share the result.
(function () {
  "use strict";
  var form = document.getElementById("dp-form");
  if (!form) return;
  var TOKEN_KEY = "admitone.dp_token";
  var maxBytes = parseInt(form.dataset.maxBytes, 10);
  var photoInput = document.getElementById("dp-photo");
  var crop = document.getElementById("dp-crop");
  var canvas = document.getElementById("dp-canvas");
  var zoom = document.getElementById("dp-zoom");
  var textsBox = document.getElementById("dp-texts");
  var statusLine = document.getElementById("dp-status");
  var errorBox = document.getElementById("dp-error");
  var submit = document.getElementById("dp-submit");
  var state = { image: null, file: null, scale: 1, dx: 0, dy: 0 };

  var MESSAGES = {
    file_too_large: "This photo is too large. Choose one under " + Math.floor(maxBytes / 1048576) + " MB.",
    unsupported_image_type: "This file is not an image we can use. Choose a JPEG, PNG, WebP or HEIC photo.",
    invalid_image: "This file is not an image we can read (damaged or not a photo). Choose another photo.",
    image_too_large: "This photo has too many pixels. Choose a smaller photo.",
    pass_required: "This DP is for ticket holders: sign in with the account that holds your ticket, or get a ticket first.",
    dp_campaign_not_open: "This campaign is closed: no new DPs.",
    image_blocked: "This photo cannot be used. Choose another one.",
    text_blocked: "This text cannot be used. Change it and try again."
  };

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    statusLine.textContent = "";
  }
  function clearError() { errorBox.hidden = true; errorBox.textContent = ""; }

  function chosen() { return form.querySelector("input[name=template_id]:checked"); }

  function renderTextFields() {
    var radio = chosen();
    var old = {};
    textsBox.querySelectorAll("input").forEach(function (i) { old[i.name] = i.value; });
    textsBox.textContent = "";
    var texts = radio ? JSON.parse(radio.dataset.texts) : [];
    texts.forEach(function (t, n) {
      var id = "dp-text-" + n;
      var label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = (n === 0 ? "3. " : "") + t.key.charAt(0).toUpperCase() + t.key.slice(1).replace(/_/g, " ") + (t.required ? "" : " (optional)");
      var input = document.createElement("input");
      input.id = id; input.name = t.key; input.type = "text"; input.maxLength = 200;
      input.required = !!t.required; input.value = old[t.key] || "";
      input.autocomplete = t.key === "name" ? "name" : "off";
      textsBox.appendChild(label); textsBox.appendChild(input);
    });
    sizeCanvas();
  }

  function slot() {
    var radio = chosen();
    return radio ? JSON.parse(radio.dataset.photo) : { width: 1, height: 1 };
  }

  function sizeCanvas() {
    var s = slot();
    canvas.width = 480;
    canvas.height = Math.round(480 * s.height / s.width);
    draw();
  }

  function draw() {
    var ctx = canvas.getContext("2d");
    ctx.fillStyle = "#eee";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    var img = state.image;
    if (!img) return;
    var cover = Math.max(canvas.width / img.naturalWidth, canvas.height / img.naturalHeight) * state.scale;
    var w = img.naturalWidth * cover, h = img.naturalHeight * cover;
    // Keep the photo covering the slot whatever the pan.
    state.dx = Math.min(0, Math.max(canvas.width - w, state.dx));
    state.dy = Math.min(0, Math.max(canvas.height - h, state.dy));
    ctx.drawImage(img, state.dx, state.dy, w, h);
  }

  function centre() {
    var img = state.image;
    var cover = Math.max(canvas.width / img.naturalWidth, canvas.height / img.naturalHeight) * state.scale;
    state.dx = (canvas.width - img.naturalWidth * cover) / 2;
    state.dy = (canvas.height - img.naturalHeight * cover) / 2;
  }

  photoInput.addEventListener("change", function () {
    clearError();
    state.image = null; state.file = null; crop.hidden = true;
    var file = photoInput.files && photoInput.files[0];
    if (!file) return;
    if (file.size > maxBytes) { showError(MESSAGES.file_too_large); return; }
    state.file = file;
    var url = URL.createObjectURL(file);
    var img = new Image();
    img.onload = function () {
      state.image = img; state.scale = 1; zoom.value = "1";
      crop.hidden = false; sizeCanvas(); centre(); draw();
    };
    // A format the browser cannot show (HEIC in most browsers, or not an image at all): the
    // file is sent as it is and the server decides.
    img.onerror = function () { URL.revokeObjectURL(url); };
    img.src = url;
  });

  zoom.addEventListener("input", function () {
    if (!state.image) return;
    var cx = canvas.width / 2, cy = canvas.height / 2;
    var before = state.scale;
    state.scale = parseFloat(zoom.value);
    state.dx = cx - (cx - state.dx) * state.scale / before;
    state.dy = cy - (cy - state.dy) * state.scale / before;
    draw();
  });

  var drag = null;
  canvas.addEventListener("pointerdown", function (e) {
    drag = { x: e.clientX, y: e.clientY };
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener("pointermove", function (e) {
    if (!drag || !state.image) return;
    var ratio = canvas.width / canvas.getBoundingClientRect().width;
    state.dx += (e.clientX - drag.x) * ratio; state.dy += (e.clientY - drag.y) * ratio;
    drag = { x: e.clientX, y: e.clientY };
    draw();
  });
  canvas.addEventListener("pointerup", function () { drag = null; });

  form.querySelectorAll("input[name=template_id]").forEach(function (r) {
    r.addEventListener("change", renderTextFields);
  });

  function croppedPhoto() {
    // The crop the person chose, at up to 2048 px on its long side, as a JPEG.
    return new Promise(function (resolve) {
      if (!state.image) { resolve(state.file); return; }
      var img = state.image;
      var cover = Math.max(canvas.width / img.naturalWidth, canvas.height / img.naturalHeight) * state.scale;
      var sx = -state.dx / cover, sy = -state.dy / cover;
      var sw = canvas.width / cover, sh = canvas.height / cover;
      var out = document.createElement("canvas");
      var k = Math.min(1, 2048 / Math.max(sw, sh));
      out.width = Math.max(1, Math.round(sw * k)); out.height = Math.max(1, Math.round(sh * k));
      out.getContext("2d").drawImage(img, sx, sy, sw, sh, 0, 0, out.width, out.height);
      out.toBlob(function (blob) { resolve(blob || state.file); }, "image/jpeg", 0.92);
    });
  }

  function problem(response) {
    return response.json().then(function (body) { return body; }, function () { return {}; });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    clearError();
    if (!state.file) { showError("Choose a photo first."); return; }
    if (state.file.size > maxBytes && !state.image) { showError(MESSAGES.file_too_large); return; }
    var texts = {};
    var missing = null;
    textsBox.querySelectorAll("input").forEach(function (i) {
      texts[i.name] = i.value.trim();
      if (i.required && !texts[i.name] && !missing) missing = i;
    });
    if (missing) { showError("Fill in: " + missing.labels[0].textContent); missing.focus(); return; }
    submit.disabled = true;
    statusLine.textContent = "Making your DP…";
    croppedPhoto().then(function (photo) {
      var body = new FormData();
      body.append("file", photo, state.image ? "photo.jpg" : state.file.name);
      body.append("template_id", chosen().value);
      body.append("texts", JSON.stringify(texts));
      body.append("share_to_hub", document.getElementById("dp-hub").checked ? "true" : "false");
      var headers = {};
      var token = window.localStorage.getItem(TOKEN_KEY);
      if (token) headers["X-DP-Token"] = token;
      return fetch("/api/v1/dp-campaigns/" + form.dataset.campaignId + "/generate", {
        method: "POST", body: body, headers: headers
      });
    }).then(function (response) {
      if (!response.ok) {
        return problem(response).then(function (p) {
          var text = MESSAGES[p.code] || p.detail || "Something went wrong (" + response.status + "). Try again.";
          if (response.status === 413) text = MESSAGES.file_too_large;
          showError(text);
        });
      }
      return response.json().then(showResult);
    }).catch(function () {
      showError("The network failed. Check your connection and try again.");
    }).then(function () { submit.disabled = false; });
  });

  function showResult(dp) {
    if (dp.dp_token) window.localStorage.setItem(TOKEN_KEY, dp.dp_token);
    var token = window.localStorage.getItem(TOKEN_KEY);
    var headers = token ? { "X-DP-Token": token } : {};
    return fetch(new URL(dp.image_url).pathname, { headers: headers }).then(function (r) {
      if (!r.ok) throw new Error("image");
      return r.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      document.getElementById("dp-result-image").src = url;
      var download = document.getElementById("dp-download");
      download.download = blob.type === "image/png" ? "dp.png" : "dp.jpg";
      download.href = dp.public_image_url ? new URL(dp.public_image_url).pathname + "?download=1" : url;
      document.getElementById("dp-share-url").value = dp.share_url;
      document.getElementById("dp-result").hidden = false;
      statusLine.textContent = "Your DP is ready.";
      document.getElementById("dp-share").onclick = function () {
        if (navigator.share) {
          navigator.share({ title: document.title, url: dp.share_url }).catch(function () {});
        } else {
          var field = document.getElementById("dp-share-url");
          field.select();
          if (navigator.clipboard) navigator.clipboard.writeText(dp.share_url).catch(function () {});
          statusLine.textContent = "Link copied.";
        }
      };
    });
  }

  renderTextFields();
})();
