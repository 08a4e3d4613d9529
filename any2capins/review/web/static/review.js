// The item page of `any2capins review serve`: claims items through the JSON API, plays the
// clip's preview with its condition overlays on a canvas, edits the six sections in place and
// sends the decision; the next item loads by itself. Caption text is untrusted (LLM output):
// it is only ever set as text (textarea values, textContent), never parsed as HTML.
"use strict";
(() => {
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";
  const $ = (id) => document.getElementById(id);
  const SECTIONS = ["dense", "main_object", "background", "camera", "style", "action"];
  const COLORS = ["#ff4d4d", "#4dd2ff", "#ffd24d", "#7dff4d", "#ff4dff", "#ff9f4d", "#4d7dff"];
  const state = {
    item: null, overlays: null, depthImage: null, busy: false,
    skip: JSON.parse(sessionStorage.getItem("a2c-skip") || "[]"),
    show: { pose: true, refs: true, depth: true, camera: true },
    drawn: null, // what the last frame drew (tests and curious people read it)
  };
  window.a2cReview = state;

  // -- talking to the server ----------------------------------------------------------------
  async function call(method, url, body) {
    const opts = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRF-Token"] = csrf;
      opts.body = JSON.stringify(body || {});
    }
    const response = await fetch(url, opts);
    if (response.status === 204) return { status: 204, data: null };
    let data;
    try {
      data = await response.json();
    } catch (e) {
      data = { error: "http", message: `the server answered ${response.status}` };
    }
    if (response.status === 401) {
      const why = ["expired", "revoked"].includes(data.error) ? data.error : "no_session";
      window.location.assign(`/login?why=${why}`);
      throw new Error(data.message);
    }
    return { status: response.status, data };
  }

  function say(text, kind) {
    const box = $("status");
    box.textContent = text || "";
    box.className = `status ${kind || ""}`;
  }

  function showProgress(p) {
    if (!p) return;
    const done = p.total ? (p.total - p.left) / p.total : 0;
    $("bar-done").style.width = `${Math.round(100 * done)}%`;
    $("progress-text").textContent =
      `you ${p.you} · team ${p.team} · left ${p.left} of ${p.total}`;
  }

  // -- the item -----------------------------------------------------------------------------
  async function loadNext() {
    state.item = null;
    state.overlays = null;
    state.depthImage = null;
    const query = state.skip.length ? `?skip=${state.skip.join(",")}` : "";
    const { status, data } = await call("GET", `/api/next${query}`);
    if (status === 204) {
      $("item").hidden = true;
      $("empty").hidden = false;
      $("player").removeAttribute("src");
      const stats = await call("GET", "/api/stats");
      showProgress(stats.data.progress);
      return;
    }
    if (status !== 200) {
      say(data.message, "error");
      return;
    }
    show(data);
  }

  function show(item) {
    state.item = item;
    $("empty").hidden = true;
    $("item").hidden = false;
    $("meta-item").textContent = `${item.item_id}${item.flagged ? " (flagged)" : ""}`;
    $("meta-clip").textContent = item.clip_id;
    $("meta-version").textContent = item.version;
    $("meta-model").textContent = item.model ? `${item.backend} · ${item.model}` : item.backend;
    $("meta-flags").textContent = item.flags.join(", ") || "none";
    $("meta-missing").textContent = item.missing.join(", ") || "none";
    $("meta-history").textContent = history(item);
    for (const name of SECTIONS) {
      const card = $(`sec-${name}`);
      const editor = card.querySelector("textarea");
      const text = item.sections[name];
      editor.value = text === null ? "" : text;
      editor.placeholder = text === null ? "missing: write this section (accept needs all six)" : "";
      card.querySelector(".refusal").textContent = "";
      card.classList.toggle("missing", text === null);
      markEdited(name);
    }
    showProgress(item.progress);
    loadMedia(item);
  }

  function history(item) {
    const parts = [];
    if (item.reopened) {
      parts.push(`reopened by ${item.reopened.by} (${item.reopened.reason}); was ` +
        `${item.reopened.action} by ${item.reopened.annotator}`);
    } else if (item.earlier) {
      parts.push(`an earlier version was decided: ${item.earlier.action} by ${item.earlier.annotator}`);
    }
    return parts.join("; ") || "first review";
  }

  function loadMedia(item) {
    const player = $("player");
    $("media-note").textContent = "";
    player.src = item.media;
    player.load();
    player.play().catch(() => {});
    call("GET", item.overlays).then(({ status, data }) => {
      if (status !== 200 || !state.item || state.item.item_id !== item.item_id) return;
      state.overlays = data;
      if (data.preview_error) $("media-note").textContent = data.preview_error;
      if (data.depth && data.depth.sprite) {
        const image = new Image();
        image.onload = () => { state.depthImage = image; };
        image.src = data.depth.sprite;
      }
      showToggles();
    });
  }

  // -- edits --------------------------------------------------------------------------------
  const words = (text) => (text || "").split(/\s+/).filter(Boolean);

  function currentEdits() {
    const edits = {};
    for (const name of SECTIONS) {
      const value = $(`sec-${name}`).querySelector("textarea").value;
      const model = state.item.sections[name];
      if (words(value).join(" ") !== words(model).join(" ") && (model !== null || words(value).length)) {
        edits[name] = value;
      }
    }
    return edits;
  }

  function markEdited(name) {
    const card = $(`sec-${name}`);
    const model = state.item.sections[name] || "";
    const value = card.querySelector("textarea").value;
    const edited = words(value).join(" ") !== words(model).join(" ");
    card.querySelector(".edited-mark").hidden = !edited;
    card.classList.toggle("edited", edited);
    const changes = card.querySelector(".changes");
    changes.hidden = !edited;
    const diff = card.querySelector(".diff");
    diff.replaceChildren();
    if (edited) diff.append(...wordDiff(words(model), words(value)));
  }

  // Word diff by longest common subsequence: removed words in <del>, added ones in <ins>.
  function wordDiff(a, b) {
    const n = a.length, m = b.length;
    const lcs = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    const out = [];
    const put = (tag, word) => {
      const node = tag ? document.createElement(tag) : document.createElement("span");
      node.textContent = word;
      out.push(node, document.createTextNode(" "));
    };
    let i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[i] === b[j]) { put(null, a[i]); i++; j++; }
      else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) { put("ins", b[j]); j++; }
      else { put("del", a[i]); i++; }
    }
    return out;
  }

  function editSection(index) {
    const editor = $(`sec-${SECTIONS[index]}`).querySelector("textarea");
    editor.focus();
    editor.setSelectionRange(editor.value.length, editor.value.length);
  }

  // -- decisions ----------------------------------------------------------------------------
  async function decide(action, reason) {
    if (!state.item || state.busy) return;
    state.busy = true;
    const item = state.item;
    const edits = action === "reject" ? {} : currentEdits();
    const kind = action === "reject" ? "reject" : (Object.keys(edits).length ? "edit" : "accept");
    try {
      const { status, data } = await call("POST", `/api/items/${item.item_id}/decision`,
        { version: item.version, action: kind, edits, reason: reason || null });
      for (const name of SECTIONS) $(`sec-${name}`).querySelector(".refusal").textContent = "";
      if (status === 200) {
        const word = { accept: "accepted", edit: "accepted with edits", reject: "rejected" };
        say(`item ${item.item_id} ${word[data.decision.action]}`, "ok");
        await loadNext();
      } else if (status === 422) {
        for (const [name, why] of Object.entries(data.sections || {})) {
          $(`sec-${name}`).querySelector(".refusal").textContent = why;
        }
        say(data.message, "error");
      } else if (status === 409) {
        say(`${data.message} — moving on to the next item`, "error");
        await loadNext();
      } else {
        say(data.message, "error");
      }
    } finally {
      state.busy = false;
    }
  }

  async function skip() {
    if (!state.item || state.busy) return;
    const id = state.item.item_id;
    const { status, data } = await call("POST", `/api/items/${id}/release`, {});
    if (status !== 200) say(data.message, "error");
    state.skip.push(id);
    sessionStorage.setItem("a2c-skip", JSON.stringify(state.skip));
    say(`item ${id} skipped`, "ok");
    await loadNext();
  }

  function startReject() {
    $("reject-form").hidden = false;
    $("reject-reason").value = "";
    $("reject-reason").focus();
  }

  // -- overlays -----------------------------------------------------------------------------
  function bracket(times, t) {
    // indices (i0, i1) of the samples around t and the weight of i1
    if (!times.length) return null;
    if (t <= times[0]) return [0, 0, 0];
    const last = times.length - 1;
    if (t >= times[last]) return [last, last, 0];
    let i = 0;
    while (times[i + 1] < t) i++;
    const w = (t - times[i]) / (times[i + 1] - times[i] || 1);
    return [i, i + 1, w];
  }

  function nearest(times, t) {
    let best = 0;
    for (let k = 1; k < times.length; k++) if (Math.abs(times[k] - t) < Math.abs(times[best] - t)) best = k;
    return best;
  }

  // One person's keypoints `kp` [K][3] (already in canvas pixels) drawn with the row's
  // skeleton (models/skeleton.py, as the contact sheet draws it): OpenPose-18 body with a neck
  // between the shoulders, feet and hands as thin lines, face as white dots, other points as
  // dots in the track's colour.
  function drawSkeleton(ctx, kp, sk, trackColour) {
    const ok = (p) => p && p[2] >= sk.min_score;
    const line = (p, q, colour, width) => {
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      ctx.beginPath();
      ctx.moveTo(p[0], p[1]);
      ctx.lineTo(q[0], q[1]);
      ctx.stroke();
    };
    const dot = (p, colour, r) => {
      ctx.fillStyle = colour;
      ctx.beginPath();
      ctx.arc(p[0], p[1], r, 0, 2 * Math.PI);
      ctx.fill();
    };
    const at = (i) => (i >= 0 ? kp[i] : null);
    const body = sk.openpose_from_coco.map((coco) => (coco === null ? null : at(sk.body[coco])));
    const ls = at(sk.body[5]), rs = at(sk.body[6]);
    body[1] = ls && rs ? [(ls[0] + rs[0]) / 2, (ls[1] + rs[1]) / 2, Math.min(ls[2], rs[2])] : null;
    const used = new Set([...sk.body, ...sk.face, ...sk.parts.flatMap((part) => part.idx)]);
    kp.forEach((p, i) => { if (!used.has(i) && ok(p)) dot(p, trackColour, 2.5); });
    ctx.globalAlpha = 0.8;
    sk.body_limbs.forEach(([a, b], k) => {
      if (ok(body[a]) && ok(body[b])) line(body[a], body[b], sk.body_colours[k], 3);
    });
    ctx.globalAlpha = 1;
    body.forEach((p, i) => { if (ok(p)) dot(p, sk.body_colours[i], 3); });
    for (const part of sk.parts) {
      part.limbs.forEach(([a, b], k) => {
        const p = kp[part.idx[a]], q = kp[part.idx[b]];
        if (ok(p) && ok(q)) line(p, q, part.colours[k], 1.5);
      });
      part.idx.forEach((i) => { if (ok(kp[i])) dot(kp[i], sk.joint_colour, 1.5); });
    }
    sk.face.forEach((i) => { if (ok(kp[i])) dot(kp[i], sk.face_colour, 1.2); });
  }

  function drawPose(ctx, pose, t, sx, sy) {
    const at = bracket(pose.timestamps, t);
    if (!at) return 0;
    const [i0, i1, w] = at;
    let drawn = 0;
    for (const track of pose.tracks) {
      const a = track.present[i0], b = track.present[i1];
      if (!a && !b) continue;
      const [f0, f1, u] = a && b ? [i0, i1, w] : (a ? [i0, i0, 0] : [i1, i1, 0]);
      const kp = track.keypoints[f0].map((p, k) => {
        const q = track.keypoints[f1][k];
        return [(p[0] + (q[0] - p[0]) * u) * sx, (p[1] + (q[1] - p[1]) * u) * sy, Math.min(p[2], q[2])];
      });
      const colour = COLORS[track.track_id % COLORS.length];
      drawSkeleton(ctx, kp, pose.skeleton, colour);
      const box = track.boxes[f0];
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      ctx.lineWidth = 1.5;
      ctx.globalAlpha = 0.7;
      ctx.strokeRect(box[0] * sx, box[1] * sy, (box[2] - box[0]) * sx, (box[3] - box[1]) * sy);
      ctx.globalAlpha = 1;
      ctx.font = "bold 13px sans-serif";
      ctx.fillText(`#${track.track_id}`, box[0] * sx + 3, Math.max(12, box[1] * sy - 3));
      drawn++;
    }
    return drawn;
  }

  function drawRefs(ctx, refs, t, sx, sy, step) {
    let drawn = 0;
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = "#ffffff";
    ctx.fillStyle = "#ffffff";
    ctx.font = "12px sans-serif";
    for (const crop of refs.crops) {
      if (Math.abs(crop.timestamp - t) > Math.max(0.5, step)) continue;
      const [x1, y1, x2, y2] = crop.box;
      ctx.strokeRect(x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy);
      ctx.fillText(`image ${crop.rank}: ${crop.label}`, x1 * sx + 3, y2 * sy - 4);
      drawn++;
    }
    ctx.setLineDash([]);
    return drawn;
  }

  function drawDepth(ctx, depth, t, canvas) {
    if (!state.depthImage) return false;
    const k = nearest(depth.timestamps, t);
    const [tw, th] = depth.tile;
    const w = Math.round(canvas.width * 0.28), h = Math.round(w * th / tw);
    const x = canvas.width - w - 6, y = 6;
    ctx.drawImage(state.depthImage, k * tw, 0, tw, th, x, y, w, h);
    ctx.strokeStyle = "#ffffff";
    ctx.strokeRect(x, y, w, h);
    return true;
  }

  function drawCamera(ctx, camera, t, canvas) {
    const segment = camera.segments.find((s) => t >= s.start_s && t < s.end_s) ||
      camera.segments[camera.segments.length - 1];
    const now = segment ? `now: ${segment.speed} ${segment.label}`.replace("  ", " ") : "";
    $("camera-words").textContent =
      `camera (${camera.status}): ${camera.description || "no description"}${now ? ` · ${now}` : ""}`;
    const pts = camera.centres;
    if (!pts.length) return true;
    const xs = pts.map((p) => p[0]), zs = pts.map((p) => p[2]);
    const span = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...zs) - Math.min(...zs), 1e-6);
    const size = 80, x0 = 8, y0 = canvas.height - size - 8;
    const map = (p) => [x0 + size / 2 + (p[0] - (Math.max(...xs) + Math.min(...xs)) / 2) / span * size * 0.8,
      y0 + size / 2 - (p[2] - (Math.max(...zs) + Math.min(...zs)) / 2) / span * size * 0.8];
    ctx.fillStyle = "rgba(0,0,0,0.45)";
    ctx.fillRect(x0, y0, size, size);
    ctx.strokeStyle = "#4dd2ff";
    ctx.beginPath();
    pts.forEach((p, k) => { const [x, y] = map(p); if (k) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
    ctx.stroke();
    const [x, y] = map(pts[nearest(camera.timestamps, t)]);
    ctx.fillStyle = "#ffd24d";
    ctx.beginPath();
    ctx.arc(x, y, 4, 0, 2 * Math.PI);
    ctx.fill();
    return true;
  }

  function draw() {
    const player = $("player"), canvas = $("overlay");
    const ov = state.overlays;
    if (canvas.width !== player.clientWidth || canvas.height !== player.clientHeight) {
      canvas.width = player.clientWidth;
      canvas.height = player.clientHeight;
    }
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    $("time").textContent = `${player.currentTime.toFixed(2)} s`;
    if (ov && state.item && canvas.width) {
      const t = player.currentTime + (ov.time_offset || 0);
      const step = 1 / (ov.preview_fps || 30);
      const drawn = { t, pose_tracks: 0, refs: 0, depth: false, camera: false };
      if (state.show.pose && ov.pose) {
        drawn.pose_tracks = drawPose(ctx, ov.pose, t, canvas.width / ov.pose.width, canvas.height / ov.pose.height);
      }
      if (state.show.refs && ov.refs) {
        drawn.refs = drawRefs(ctx, ov.refs, t, canvas.width / ov.refs.width, canvas.height / ov.refs.height, step);
      }
      if (state.show.depth && ov.depth) drawn.depth = drawDepth(ctx, ov.depth, t, canvas);
      if (state.show.camera && ov.camera) drawn.camera = drawCamera(ctx, ov.camera, t, canvas);
      else $("camera-words").textContent = "";
      state.drawn = drawn;
    }
    window.requestAnimationFrame(draw);
  }

  function showToggles() {
    const ov = state.overlays || {};
    const names = { pose: "p pose", refs: "b refs", depth: "d depth", camera: "c camera" };
    $("toggles").textContent = Object.entries(names)
      .map(([k, label]) => `${label} ${!ov[k] ? "(none)" : (state.show[k] ? "on" : "off")}`)
      .join(" · ");
  }

  // -- keyboard -----------------------------------------------------------------------------
  function onKey(event) {
    const field = event.target.closest ? event.target.closest("textarea, input") : null;
    if (field) {
      if (event.key === "Escape") {
        if (field.id === "reject-reason") $("reject-form").hidden = true;
        field.blur();
        event.preventDefault();
      } else if (event.key === "Enter" && event.ctrlKey && field.tagName === "TEXTAREA") {
        field.blur();
        event.preventDefault();
        decide("accept");
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const player = $("player");
    const step = 1 / ((state.overlays && state.overlays.preview_fps) || 30);
    const actions = {
      a: () => decide("accept"),
      e: () => editSection(0),
      r: startReject,
      s: skip,
      " ": () => (player.paused ? player.play().catch(() => {}) : player.pause()),
      ",": () => { player.pause(); player.currentTime = Math.max(0, player.currentTime - step); },
      ".": () => { player.pause(); player.currentTime = player.currentTime + step; },
      p: () => toggle("pose"), b: () => toggle("refs"), d: () => toggle("depth"), c: () => toggle("camera"),
      "?": () => { $("help").hidden = !$("help").hidden; },
    };
    for (let k = 1; k <= 6; k++) actions[String(k)] = () => editSection(k - 1);
    const action = actions[event.key];
    if (!action || (!state.item && event.key !== "?")) return;
    event.preventDefault();
    action();
  }

  function toggle(name) {
    state.show[name] = !state.show[name];
    showToggles();
  }

  function wire() {
    document.addEventListener("keydown", onKey);
    for (const name of SECTIONS) {
      $(`sec-${name}`).querySelector("textarea").addEventListener("input", () => markEdited(name));
    }
    $("btn-accept").addEventListener("click", () => decide("accept"));
    $("btn-reject").addEventListener("click", startReject);
    $("btn-skip").addEventListener("click", skip);
    $("reject-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const reason = $("reject-reason").value.trim();
      if (!reason) { say("a reject needs a reason", "error"); return; }
      $("reject-form").hidden = true;
      decide("reject", reason);
    });
    $("logout").addEventListener("click", async () => {
      await call("POST", "/api/logout", {});
      window.location.assign("/login?why=logged_out");
    });
    window.requestAnimationFrame(draw);
    loadNext().catch((e) => say(e.message, "error"));
  }

  wire();
})();
