// The Shale console's only script, served by the console itself at
// /_shale/console/console.js (no build step, no third-party code).
//
// Uploads: every file picked on an Objects page is sent to the console's
// own upload endpoints (same origin, the session cookie, the page's CSRF
// token in the X-Shale-CSRF header; the key's secret never reaches the
// browser). A file up to PART_SIZE is one PutObject; a larger one is a
// multipart upload in parts of PART_SIZE, one after the other, aborted if
// any step fails. Each file has its own <progress>, driven by the XHR's
// upload progress events. When every file is done, the listing is read
// again and replaced.
"use strict";

(function () {
  const PART_SIZE = 8 * 1024 * 1024;

  function request(url, csrf, body, onProgress) {
    return new Promise(function (resolve, reject) {
      const xhr = new XMLHttpRequest();
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
      const etags = [];
      try {
        for (let start = 0, n = 1; start < file.size; start += PART_SIZE, n += 1) {
          const part = file.slice(start, Math.min(start + PART_SIZE, file.size));
          const done = await request(
            endpoint(base, "part", { key: key, upload: upload, part: n }), csrf, part,
            function (loaded) { ui.bar.value = start + loaded; });
          etags.push(done.etag);
          ui.bar.value = start + part.size;
        }
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
