// 360 viewer for skybox_nb.widgets.viewer.Viewer360: an anywidget ES module, no dependencies.
//
// Invariant: each frame is a pure function of the synced traits (image, faces, yaw, pitch,
// fov, mode, show_seams, height) and the canvas size. Pointer, wheel and key input only
// change traits (and send them back to Python); they never draw directly.
//
// One full-screen triangle pair; the fragment shader casts the view ray of each pixel and
// samples the equirectangular image at the ray's longitude/latitude ("sphere"), or the six
// cube faces ("cube"), or lays the faces out flat as a cross ("net").
// Directions: +z is yaw 0 (the image's centre column), +x is yaw 90, +y is up.

const VERT = `
attribute vec2 a_pos;
varying vec2 v_ndc;
void main() { v_ndc = a_pos; gl_Position = vec4(a_pos, 0.0, 1.0); }
`;

const FRAG = `
precision highp float;
varying vec2 v_ndc;
uniform sampler2D u_equi;   // equirect with one wrapped column added on each side
uniform sampler2D u_faces;  // F R B L U D in a row: skybox_nb.cubemap's generic convention
uniform float u_padW;       // width of u_equi in texels, padding included
uniform float u_faceTexel;  // half a texel, in face units
uniform int u_mode;         // 0 sphere, 1 cube, 2 net
uniform float u_net[12];    // the net's cells row by row from the top: a face index, or -1
uniform vec2 u_netSize;     // the net's columns and rows
uniform vec3 u_fwd;
uniform vec3 u_right;
uniform vec3 u_up;
uniform vec2 u_tan;         // tan of half the horizontal and vertical fov
uniform vec2 u_res;         // canvas size in pixels
uniform float u_pix;        // angle one pixel spans, radians
uniform bool u_seams;
const float PI = 3.141592653589793;

vec3 sampleEqui(vec3 d) {
  float lon = atan(d.x, d.z);
  float lat = asin(clamp(d.y, -1.0, 1.0));
  float u = lon / (2.0 * PI) + 0.5;
  // the padding column makes bilinear filtering wrap across the seam instead of clamping
  float s = (1.0 + u * (u_padW - 2.0)) / u_padW;
  return texture2D(u_equi, vec2(s, 0.5 - lat / PI)).rgb;
}

vec3 sampleFace(float k, vec2 ab) {  // ab in [-0.5, 0.5]^2: a to the right, b up
  vec2 uv = clamp(vec2(ab.x + 0.5, 0.5 - ab.y), vec2(u_faceTexel), vec2(1.0 - u_faceTexel));
  return texture2D(u_faces, vec2((k + uv.x) / 6.0, uv.y)).rgb;
}

vec3 sampleCube(vec3 d) {
  vec3 m = abs(d);
  if (m.z >= m.x && m.z >= m.y) {
    return d.z > 0.0 ? sampleFace(0.0, d.xy / (2.0 * m.z))
                     : sampleFace(2.0, vec2(-d.x, d.y) / (2.0 * m.z));
  }
  if (m.x >= m.y) {
    return d.x > 0.0 ? sampleFace(1.0, vec2(-d.z, d.y) / (2.0 * m.x))
                     : sampleFace(3.0, vec2(d.z, d.y) / (2.0 * m.x));
  }
  return d.y > 0.0 ? sampleFace(4.0, vec2(d.x, -d.z) / (2.0 * m.y))
                   : sampleFace(5.0, vec2(d.x, d.z) / (2.0 * m.y));
}

vec3 faceDir(float k, vec2 ab) {  // inverse of sampleCube's face choice
  if (k < 0.5) return vec3(ab.x, ab.y, 0.5);
  if (k < 1.5) return vec3(0.5, ab.y, -ab.x);
  if (k < 2.5) return vec3(-ab.x, ab.y, -0.5);
  if (k < 3.5) return vec3(-0.5, ab.y, ab.x);
  if (k < 4.5) return vec3(ab.x, 0.5, -ab.y);
  return vec3(ab.x, -0.5, ab.y);
}

vec3 marks(vec3 col, vec3 d, float pix) {
  // wrap seam: longitude +/-180, the half of the plane x = 0 behind the viewer
  if (d.z < 0.0 && asin(min(abs(d.x), 1.0)) < 1.5 * pix) col = mix(col, vec3(1.0, 0.0, 1.0), 0.85);
  // poles: a ring at latitude +/-80 and a dot at +/-90
  float colat = PI / 2.0 - abs(asin(clamp(d.y, -1.0, 1.0)));
  if (abs(colat - radians(10.0)) < 1.2 * pix || colat < 4.0 * pix) col = mix(col, vec3(0.0, 1.0, 1.0), 0.85);
  return col;
}

void main() {
  vec3 col;
  vec3 d;
  float pix = u_pix;
  if (u_mode == 2) {
    // the net's grid comes from Python (skybox_nb.conventions.LAYOUTS)
    float cell = min(u_res.x / u_netSize.x, u_res.y / u_netSize.y);
    vec2 q = (gl_FragCoord.xy - 0.5 * (u_res - u_netSize * cell)) / cell;
    q.y = u_netSize.y - q.y;  // rows from the top
    vec2 c = floor(q);
    float k = -1.0;
    if (c.x >= 0.0 && c.y >= 0.0 && c.x < u_netSize.x && c.y < u_netSize.y) {
      float at = c.y * u_netSize.x + c.x;
      for (int i = 0; i < 12; i++) if (float(i) == at) k = u_net[i];  // constant-index loop: GLSL ES 1.0
    }
    if (k < 0.0) { gl_FragColor = vec4(0.12, 0.12, 0.14, 1.0); return; }
    vec2 f = fract(q);
    vec2 ab = vec2(f.x - 0.5, 0.5 - f.y);
    col = sampleFace(k, ab);
    d = normalize(faceDir(k, ab));
    pix = (PI / 2.0) / cell;
    vec2 edge = min(f, 1.0 - f) * cell;
    if (u_seams && min(edge.x, edge.y) < 1.0) col = mix(col, vec3(1.0, 1.0, 0.0), 0.7);
  } else {
    d = normalize(u_fwd + v_ndc.x * u_tan.x * u_right + v_ndc.y * u_tan.y * u_up);
    col = u_mode == 1 ? sampleCube(d) : sampleEqui(d);
  }
  if (u_seams) col = marks(col, d, pix);
  gl_FragColor = vec4(col, 1.0);
}
`;

const MODES = { sphere: 0, cube: 1, net: 2 };
const FOV_MIN = 10, FOV_MAX = 150;
const SYNC_MS = 100; // at most ten view updates a second go back to Python while dragging

function compile(gl, type, src) {
  const s = gl.createShader(type);
  gl.shaderSource(s, src);
  gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
  return s;
}

function program(gl) {
  const p = gl.createProgram();
  gl.attachShader(p, compile(gl, gl.VERTEX_SHADER, VERT));
  gl.attachShader(p, compile(gl, gl.FRAGMENT_SHADER, FRAG));
  gl.linkProgram(p);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
  return p;
}

function texture(gl, unit, source) {
  const t = gl.createTexture();
  gl.activeTexture(gl.TEXTURE0 + unit);
  gl.bindTexture(gl.TEXTURE_2D, t);
  gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGB, gl.RGB, gl.UNSIGNED_BYTE, source);
  // no mipmaps: the longitude jump at the seam would pick the smallest level and draw a line
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  return t;
}

async function decode(model, name) {
  const data = model.get(name);
  if (!data || data.byteLength === 0) return null;
  const type = model.get("image_format") === "png" ? "image/png" : "image/jpeg";
  return createImageBitmap(new Blob([data], { type }));
}

function padWrapped(bmp, maxSize) {
  // one column from the other edge on each side, so filtering wraps around the seam;
  // shrunk first if the GPU cannot hold it (Python already caps it at max_width)
  const k = Math.min(1, (maxSize - 2) / bmp.width, maxSize / bmp.height);
  const w = Math.round(bmp.width * k), h = Math.round(bmp.height * k);
  const c = document.createElement("canvas");
  c.width = w + 2;
  c.height = h;
  const g = c.getContext("2d");
  g.drawImage(bmp, 1, 0, w, h);
  g.drawImage(c, w, 0, 1, h, 0, 0, 1, h);
  g.drawImage(c, 1, 0, 1, h, w + 1, 0, 1, h);
  return c;
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "skybox-viewer";
  const canvas = document.createElement("canvas");
  canvas.className = "skybox-viewer-canvas";
  canvas.tabIndex = 0;
  canvas.dataset.ready = "0";
  canvas.dataset.frames = "0";
  const bar = document.createElement("div");
  bar.className = "skybox-viewer-bar";
  const buttons = {};
  for (const [mode, label] of [["sphere", "Sphere"], ["cube", "Cube faces"], ["net", "Net"]]) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.dataset.mode = mode;
    b.addEventListener("click", () => { model.set("mode", mode); model.save_changes(); });
    buttons[mode] = b;
    bar.appendChild(b);
  }
  const seamLabel = document.createElement("label");
  const seamBox = document.createElement("input");
  seamBox.type = "checkbox";
  seamBox.className = "skybox-viewer-seams";
  seamBox.addEventListener("change", () => { model.set("show_seams", seamBox.checked); model.save_changes(); });
  seamLabel.append(seamBox, " seam & poles");
  const readout = document.createElement("span");
  readout.className = "skybox-viewer-readout";
  const caption = document.createElement("span");
  caption.className = "skybox-viewer-caption";
  bar.append(seamLabel, readout, caption);
  // face names over the cube net (HTML, so they stay sharp at any size); the net's grid
  // and faces come from Python
  const net = model.get("net");
  const NET = net.cells;
  const stage = document.createElement("div");
  stage.className = "skybox-viewer-stage";
  const labels = NET.map(({ name, label }) => {
    const s = document.createElement("span");
    s.className = "skybox-viewer-face";
    s.textContent = `${name} ${label}`;
    stage.appendChild(s);
    return s;
  });
  stage.prepend(canvas);
  root.append(stage, bar);
  el.appendChild(root);

  const gl = canvas.getContext("webgl", { antialias: false });
  if (!gl) {
    const msg = document.createElement("div");
    msg.className = "skybox-viewer-nogl";
    msg.textContent = "WebGL is not available in this browser: the 360 view cannot be drawn.";
    root.insertBefore(msg, stage);
    stage.remove();
    return () => {};
  }
  const prog = program(gl);
  gl.useProgram(prog);
  const buf = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, buf);
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, -1, 1, 1, -1, 1, 1]), gl.STATIC_DRAW);
  const aPos = gl.getAttribLocation(prog, "a_pos");
  gl.enableVertexAttribArray(aPos);
  gl.vertexAttribPointer(aPos, 2, gl.FLOAT, false, 0, 0);
  const U = {};
  for (const n of ["u_equi", "u_faces", "u_padW", "u_faceTexel", "u_mode", "u_fwd", "u_right",
                   "u_up", "u_tan", "u_res", "u_pix", "u_seams", "u_net", "u_netSize"]) U[n] = gl.getUniformLocation(prog, n);
  gl.uniform1i(U.u_equi, 0);
  gl.uniform1i(U.u_faces, 1);
  const cells = new Float32Array(12).fill(-1);
  for (const { face, row, col } of NET) cells[row * net.cols + col] = face;
  gl.uniform1fv(U.u_net, cells);
  gl.uniform2f(U.u_netSize, net.cols, net.rows);

  let equi = null, faces = null, padW = 1, faceSize = 1, frame = 0, disposed = false;
  let imageSeq = 0, facesSeq = 0;

  function draw() {
    frame = 0;
    if (disposed) return;
    const dpr = window.devicePixelRatio || 1;
    const cssW = Math.max(1, root.clientWidth || 640);
    const cssH = model.get("height");
    canvas.style.height = cssH + "px";
    const w = Math.round(cssW * dpr), h = Math.round(cssH * dpr);
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    gl.viewport(0, 0, w, h);
    const mode = MODES[model.get("mode")] ?? 0;
    const yaw = model.get("yaw") * Math.PI / 180, pitch = model.get("pitch") * Math.PI / 180;
    const tx = Math.tan(model.get("fov") * Math.PI / 360);
    const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
    gl.uniform3f(U.u_fwd, sy * cp, sp, cy * cp);
    gl.uniform3f(U.u_right, cy, 0, -sy);
    gl.uniform3f(U.u_up, -sp * sy, cp, -sp * cy);
    gl.uniform2f(U.u_tan, tx, tx * h / w);
    gl.uniform2f(U.u_res, w, h);
    gl.uniform1f(U.u_pix, 2 * tx / w);
    gl.uniform1f(U.u_padW, padW);
    gl.uniform1f(U.u_faceTexel, 0.5 / faceSize);
    gl.uniform1i(U.u_mode, mode);
    gl.uniform1i(U.u_seams, model.get("show_seams") ? 1 : 0);
    const needFaces = mode !== 0;
    if (equi && (!needFaces || faces)) {
      gl.drawArrays(gl.TRIANGLES, 0, 6);
      canvas.dataset.ready = "1";
      canvas.dataset.frames = String(Number(canvas.dataset.frames) + 1);
    } else {
      gl.clearColor(0.12, 0.12, 0.14, 1);
      gl.clear(gl.COLOR_BUFFER_BIT);
      canvas.dataset.ready = "0";
    }
    canvas.dataset.mode = model.get("mode");
    const cell = Math.min(cssW / net.cols, cssH / net.rows);
    NET.forEach(({ col, row }, i) => {
      labels[i].style.display = mode === 2 ? "block" : "none";
      labels[i].style.left = `${(cssW - net.cols * cell) / 2 + col * cell + 4}px`;
      labels[i].style.top = `${(cssH - net.rows * cell) / 2 + row * cell + 4}px`;
    });
    for (const [m, b] of Object.entries(buttons)) b.classList.toggle("active", m === model.get("mode"));
    seamBox.checked = !!model.get("show_seams");
    readout.textContent = mode === 2 ? "" :
      `yaw ${model.get("yaw").toFixed(0)}°  pitch ${model.get("pitch").toFixed(0)}°  fov ${model.get("fov").toFixed(0)}°`;
    caption.textContent = model.get("caption");
  }
  function redraw() { if (!frame) frame = requestAnimationFrame(draw); }

  async function loadImage() {
    const seq = ++imageSeq;
    const bmp = await decode(model, "image");
    if (seq !== imageSeq || disposed) return; // a newer image arrived meanwhile
    if (equi) { gl.deleteTexture(equi); equi = null; }
    if (bmp) {
      const padded = padWrapped(bmp, gl.getParameter(gl.MAX_TEXTURE_SIZE));
      equi = texture(gl, 0, padded);
      padW = padded.width;
      bmp.close();
    }
    redraw();
  }
  async function loadFaces() {
    const seq = ++facesSeq;
    const bmp = await decode(model, "faces");
    if (seq !== facesSeq || disposed) return;
    if (faces) { gl.deleteTexture(faces); faces = null; }
    // the strip is six square faces in a row: its height is the face size
    if (bmp) { faces = texture(gl, 1, bmp); faceSize = bmp.height; bmp.close(); }
    redraw();
  }

  // --- input: drag turns, wheel zooms; values go to Python at most every SYNC_MS --------
  let drag = null, syncTimer = null;
  function sync() {
    syncTimer = null;
    model.save_changes();
  }
  function setView(yaw, pitch, fov) {
    model.set("yaw", ((yaw + 180) % 360 + 360) % 360 - 180);
    model.set("pitch", Math.max(-90, Math.min(90, pitch)));
    model.set("fov", Math.max(FOV_MIN, Math.min(FOV_MAX, fov)));
    redraw();
    if (!syncTimer) syncTimer = setTimeout(sync, SYNC_MS);
  }
  canvas.addEventListener("pointerdown", (e) => {
    if (model.get("mode") === "net") return;
    drag = { x: e.clientX, y: e.clientY, yaw: model.get("yaw"), pitch: model.get("pitch") };
    canvas.setPointerCapture(e.pointerId);
    canvas.classList.add("dragging");
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    // the picture follows the pointer: one CSS pixel is fov / width degrees
    const k = model.get("fov") / Math.max(1, canvas.clientWidth);
    setView(drag.yaw - (e.clientX - drag.x) * k, drag.pitch + (e.clientY - drag.y) * k, model.get("fov"));
  });
  const endDrag = (e) => {
    if (!drag) return;
    drag = null;
    canvas.classList.remove("dragging");
    if (canvas.hasPointerCapture(e.pointerId)) canvas.releasePointerCapture(e.pointerId);
    if (syncTimer) { clearTimeout(syncTimer); sync(); }
  };
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("wheel", (e) => {
    if (model.get("mode") === "net") return;
    e.preventDefault(); // zoom the view, not scroll the notebook
    setView(model.get("yaw"), model.get("pitch"), model.get("fov") * Math.exp(e.deltaY * 0.001));
  }, { passive: false });

  canvas.addEventListener("keydown", (e) => {
    // arrows turn by a tenth of the view, +/- zoom: the same moves as drag and wheel
    if (model.get("mode") === "net") return;
    const step = model.get("fov") / 10;
    const moves = {
      ArrowLeft: [-step, 0, 1], ArrowRight: [step, 0, 1], ArrowUp: [0, step, 1],
      ArrowDown: [0, -step, 1], "+": [0, 0, 1 / 1.1], "=": [0, 0, 1 / 1.1], "-": [0, 0, 1.1],
    };
    const m = moves[e.key];
    if (!m) return;
    e.preventDefault();
    e.stopPropagation(); // JupyterLab would take arrows as cell navigation
    setView(model.get("yaw") + m[0], model.get("pitch") + m[1], model.get("fov") * m[2]);
  });

  const onImage = () => loadImage();
  const onFaces = () => loadFaces();
  model.on("change:image", onImage);
  model.on("change:faces", onFaces);
  const viewKeys = ["yaw", "pitch", "fov", "mode", "show_seams", "height", "caption"];
  for (const k of viewKeys) model.on(`change:${k}`, redraw);
  const resize = new ResizeObserver(redraw);
  resize.observe(root);
  loadImage();
  loadFaces();
  redraw();

  return () => {
    disposed = true;
    resize.disconnect();
    model.off("change:image", onImage);
    model.off("change:faces", onFaces);
    for (const k of viewKeys) model.off(`change:${k}`, redraw);
    if (frame) cancelAnimationFrame(frame);
    if (syncTimer) clearTimeout(syncTimer);
    const lose = gl.getExtension("WEBGL_lose_context");
    if (lose) lose.loseContext();
  };
}

export default { render };
