// The order page while the payment is pending: wait on the order's event stream and
// reload once the status changes (the server renders the passes and their QR codes).
(function () {
  "use strict";
  var box = document.getElementById("order-status");
  if (!box || !window.EventSource) return;
  var initial = box.getAttribute("data-status");
  var source = new EventSource(box.getAttribute("data-stream"));
  source.addEventListener("update", function (e) {
    try {
      var order = JSON.parse(e.data);
      if (order.status && order.status !== initial) {
        source.close();
        window.location.reload();
      }
    } catch (err) { /* keep waiting */ }
  });
})();
