// wavekeep's upload glue: drives tus-js-client (loaded before this file as
// the global `tus`) for the upload page, which is written in Rust/WASM and
// calls `window.wavekeepUploader`. Everything the page shows (progress bars,
// speed, time left, errors) is computed on the Rust side from these callbacks.
(function () {
  "use strict";

  var CHUNK = 5 * 1024 * 1024;
  var PARALLEL_FROM = 4 * CHUNK;

  function trackIdFrom(res) {
    var id = res && res.getHeader && res.getHeader("Wavekeep-Track-Id");
    return id ? Number(id) : null;
  }

  function errorText(err) {
    var res = err && err.originalResponse;
    if (res) {
      try {
        var body = JSON.parse(res.getBody());
        if (body && body.error) return body.error;
      } catch (_) { /* not JSON */ }
      return "the server answered " + res.getStatus();
    }
    if (err && err.originalRequest) return "the network connection failed; retries ran out";
    return (err && err.message) || String(err);
  }

  // start(file, meta, handlers) → handle {pause(), resume(), cancel()}.
  // handlers: progress(sent, total), done(trackId), failed(message),
  // resumed(offset) when a stored upload of the same file is continued.
  function start(file, meta, h) {
    var trackId = null;
    var upload = new tus.Upload(file, {
      endpoint: "/api/uploads",
      chunkSize: CHUNK,
      parallelUploads: file.size >= PARALLEL_FROM ? 4 : 1,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000, 30000],
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      metadata: meta,
      onProgress: function (sent, total) { h.progress(sent, total); },
      onAfterResponse: function (_req, res) {
        var id = trackIdFrom(res);
        if (id) trackId = id;
      },
      onSuccess: function () {
        if (trackId) {
          h.done(trackId);
          return;
        }
        // The final answer did not reach us (a retry): ask the upload.
        fetch(upload.url, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" }, credentials: "same-origin" })
          .then(function (r) { h.done(Number(r.headers.get("Wavekeep-Track-Id")) || 0); })
          .catch(function () { h.done(0); });
      },
      onError: function (err) { h.failed(errorText(err)); },
      onShouldRetry: function (err, _attempt, options) {
        var status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        // Our refusals (quota, bad file, signed out) will not change on retry.
        if (status === 413 || status === 401 || status === 403 || status === 400) return false;
        return status === 0 || status === 409 || status === 423 || status >= 500 || status === 429;
      },
    });
    var handle = {
      paused: false,
      pause: function () { handle.paused = true; upload.abort(false); },
      resume: function () { handle.paused = false; upload.start(); },
      cancel: function () { upload.abort(true); },
    };
    upload.findPreviousUploads().then(function (previous) {
      var same = previous.filter(function (p) { return !p.parallelUploadUrls === !(file.size >= PARALLEL_FROM); });
      if (same.length) {
        upload.resumeFromPreviousUpload(same[0]);
        h.resumed();
      }
      upload.start();
    }, function () { upload.start(); });
    return handle;
  }

  // Unfinished uploads this browser remembers (to offer continuing them).
  function pending() {
    var out = [];
    try {
      for (var i = 0; i < localStorage.length; i++) {
        var key = localStorage.key(i);
        if (key && key.indexOf("tus::") === 0) {
          var v = JSON.parse(localStorage.getItem(key));
          if (v && v.metadata) out.push({ name: v.metadata.filename || "file", size: v.size || 0 });
        }
      }
    } catch (_) { /* storage unavailable */ }
    return out;
  }

  window.wavekeepUploader = { start: start, pending: pending, supported: !!(window.tus && tus.isSupported) };
})();
