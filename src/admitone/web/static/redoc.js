// ReDoc on /openapi.json (the standalone bundle is vendored: static/vendor/redoc).
(function () {
  "use strict";
  var el = document.getElementById("redoc");
  window.Redoc.init(el.getAttribute("data-openapi"), {}, el);
})();
