"""`/static/upload.js`: the one script of the console, optional. The upload
form works without it (a plain file input); with it, files dropped on the
form are put in that input and the form is sent, the same request. It is
served from here rather than from static/ so it ships with the package
(which carries static/*.css only). No script is ever fetched from elsewhere."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

SCRIPT = """\
(function () {
  "use strict";
  var form = document.getElementById("upload");
  if (!form) { return; }
  var input = form.querySelector("input[type=file]");
  var zone = document.getElementById("dropzone") || form;
  function stop(event) { event.preventDefault(); event.stopPropagation(); }
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) { stop(event); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function (event) { stop(event); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (event) {
    if (!event.dataTransfer || !event.dataTransfer.files.length) { return; }
    input.files = event.dataTransfer.files;
    form.submit();
  });
})();
"""


async def upload_js(request: Request) -> Response:
    return Response(SCRIPT, media_type="text/javascript; charset=utf-8")
