// The Shale console's only script, served by the console itself at
// /_shale/console/console.js (no build step, no third-party code).
//
// Uploads: every file picked on an Objects page is sent to the console's
// own upload endpoints (same origin, the session cookie, the page's CSRF
// token in the X-Shale-CSRF header; the key's secret never reaches the
// browser). A file up to PART_SIZE is one PutObject; a larger one is a
// multipart upload in parts of PART_SIZE, up to PARTS_IN_FLIGHT of them
// sent at once, completed with every part's number and ETag in order. If
// any step fails, the parts still in flight are cancelled and the upload
// is aborted. Each file has its own <progress>: the bytes sent of all its
// parts, from the XHRs' upload progress events. When every file is done,
// the listing is read again and replaced.
"use strict";

(function () {
  const PART_SIZE = 8 * 1024 * 1024;
  const PARTS_IN_FLIGHT = 3;

  // One POST to the console; `inFlight`, when given, holds the XHR while
  // it runs (so that it can be cancelled).
  function request(url, csrf, body, onProgress, inFlight) {
    return new Promise(function (resolve, reject) {
      const xhr = new XMLHttpRequest();
      if (inFlight) {
        inFlight.add(xhr);
        xhr.onloadend = function () { inFlight.delete(xhr); };
      }
      xhr.open("POST", url);
      xhr.setRequestHeader("X-Shale-CSRF", csrf);
      xhr.responseType = "json";
      if (onProgress) {
        xhr.upload.onprogress = function (e) {
          if (e.lengthComputable) {
            onProgress(e.loaded);
          }
        };
      }
      xhr.onload = function () {
        const answer = xhr.response || {};
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(answer);
        } else {
          reject(new Error(answer.error || "HTTP status " + xhr.status));
        }
      };
      xhr.onerror = function () {
        reject(new Error("the connection failed"));
      };
      xhr.onabort = function () {
        reject(new Error("cancelled"));
      };
      xhr.send(body === undefined ? null : body);
    });
  }

  function endpoint(base, step, params) {
    return base + "upload/" + step + "?" + new URLSearchParams(params).toString();
  }

  function row(list, file) {
    const li = document.createElement("li");
    li.className = "upload";
    li.dataset.name = file.name;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = Math.max(file.size, 1);
    bar.value = 0;
    const state = document.createElement("span");
    state.className = "state";
    state.textContent = "waiting";
    li.append(name, bar, state);
    list.append(li);
    return { bar: bar, state: state };
  }

  // Sends the parts of `file` to multipart upload `upload`, up to
  // PARTS_IN_FLIGHT at once; resolves to their ETags in part-number order.
  // On the first failure no further part is started, the others in flight
  // are cancelled, and, once every one has settled (so that none is still
  // arriving when the caller aborts the upload), it rejects with that
  // failure.
  async function uploadParts(base, csrf, key, upload, file, ui) {
    const count = Math.ceil(file.size / PART_SIZE);
    const etags = new Array(count);
    const sent = new Array(count).fill(0);
    const inFlight = new Set();
    let next = 0;
    let failure = null;
    function show() {
      ui.bar.value = sent.reduce(function (a, b) { return a + b; }, 0);
    }
    async function sender() {
      while (next < count && failure === null) {
        const i = next;
        next += 1;
        const start = i * PART_SIZE;
        const part = file.slice(start, Math.min(start + PART_SIZE, file.size));
        try {
          const done = await request(
            endpoint(base, "part", { key: key, upload: upload, part: i + 1 }), csrf, part,
            function (loaded) { sent[i] = loaded; show(); }, inFlight);
          etags[i] = done.etag;
          sent[i] = part.size;
          show();
        } catch (e) {
          if (failure === null) {
            failure = e;
            Array.from(inFlight).forEach(function (xhr) { xhr.abort(); });
          }
        }
      }
    }
    const senders = [];
    for (let k = 0; k < Math.min(PARTS_IN_FLIGHT, count); k += 1) {
      senders.push(sender());
    }
    await Promise.all(senders);
    if (failure !== null) {
      throw failure;
    }
    return etags;
  }

  async function uploadOne(box, file, ui) {
    const base = "/_shale/console/b/" + encodeURIComponent(box.dataset.bucket) + "/";
    const csrf = box.dataset.csrf;
    const key = box.dataset.prefix + file.name;
    const type = file.type || "";
    ui.state.textContent = "uploading";
    if (file.size <= PART_SIZE) {
      await request(endpoint(base, "put", { key: key, type: type }), csrf, file,
        function (loaded) { ui.bar.value = loaded; });
    } else {
      const created = await request(endpoint(base, "create", { key: key, type: type }), csrf);
      const upload = created.upload;
      try {
        const etags = await uploadParts(base, csrf, key, upload, file, ui);
        ui.state.textContent = "completing";
        await request(endpoint(base, "complete", { key: key, upload: upload }), csrf,
          JSON.stringify(etags));
      } catch (e) {
        request(endpoint(base, "abort", { key: key, upload: upload }), csrf).catch(function () {});
        throw e;
      }
    }
    ui.bar.value = ui.bar.max;
    ui.state.textContent = "done";
    ui.state.classList.add("done");
  }

  async function refreshListing() {
    const resp = await fetch(window.location.href, { credentials: "same-origin" });
    const page = new DOMParser().parseFromString(await resp.text(), "text/html");
    const fresh = page.getElementById("listing");
    const here = document.getElementById("listing");
    if (fresh && here) {
      here.replaceWith(fresh);
    }
  }

  function setUpUploads() {
    const box = document.getElementById("upload");
    const input = document.getElementById("files");
    const list = document.getElementById("uploads");
    if (!box || !input || !list) {
      return;
    }
    input.addEventListener("change", async function () {
      const files = Array.from(input.files);
      input.value = "";
      const uploads = files.map(function (file) {
        const ui = row(list, file);
        return uploadOne(box, file, ui).catch(function (e) {
          ui.state.textContent = "failed: " + e.message;
          ui.state.classList.add("failed");
        });
      });
      await Promise.all(uploads);
      await refreshListing().catch(function () {});
      document.body.dataset.uploadsSettled = String(
        (Number(document.body.dataset.uploadsSettled) || 0) + files.length);
    });
  }

  function setUpCopyLink() {
    const button = document.getElementById("copy-link");
    const field = document.getElementById("link");
    if (!button || !field) {
      return;
    }
    button.addEventListener("click", function () {
      field.select();
      if (navigator.clipboard) {
        navigator.clipboard.writeText(field.value).then(function () {
          button.textContent = "Copied";
        }, function () {});
      }
    });
  }

  setUpUploads();
  setUpCopyLink();
})();
