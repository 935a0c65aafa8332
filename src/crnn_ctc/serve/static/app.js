// The crnn-ctc web page: each dropped or picked image is posted on its own to /v1/recognize (the service
// batches concurrent requests), then shown with its text and confidence. A page (or PDF) dropped in "Read a
// page" is posted to /v1/read and drawn on a canvas with its line boxes, its text beside it. Server text goes
// in through textContent (or the canvas) only, never as HTML.
"use strict";

const results = document.getElementById("results");
const drop = document.getElementById("drop");
const input = document.getElementById("files");

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function options() {
  const form = new FormData();
  const decoder = document.getElementById("decoder").value;
  const allow = document.getElementById("allow").value;
  if (decoder === "words") form.append("word_prior", "wordfreq");  // the service reads it with beam search
  else if (decoder !== "greedy") form.append("decoder", decoder);
  if (allow) form.append("allow", allow);
  return form;
}

async function recognize(file) {
  const item = element("li", "result");
  item.dataset.name = file.name;
  item.dataset.state = "pending";
  const image = element("img");
  image.alt = file.name;
  image.src = URL.createObjectURL(file);
  const body = element("div");
  const text = element("div", "text", "…");
  const meta = element("div", "meta", file.name);
  const confidence = element("span", "confidence");
  const error = element("div", "error");
  meta.append(" · confidence ", confidence);
  body.append(text, meta, error);
  item.append(image, body);
  results.prepend(item);

  const form = options();
  form.append("images", file, file.name);
  try {
    const response = await fetch("/v1/recognize", { method: "POST", body: form });
    const answer = await response.json();
    if (!response.ok) {
      const problem = (answer.error && answer.error.images && answer.error.images[0]) || null;
      throw new Error(problem ? problem.reason : (answer.error ? answer.error.message : response.statusText));
    }
    const result = answer.results[0];
    text.textContent = result.text === "" ? "(no text)" : result.text;
    confidence.textContent = result.confidence.toFixed(3);
    meta.title = `${result.timing_ms.inference_ms} ms forward pass, batch of ${result.batch_size}`;
    item.dataset.state = "done";
  } catch (failure) {
    text.textContent = "";
    error.textContent = String(failure.message || failure);
    item.dataset.state = "error";
  }
}

function recognizeAll(files) {
  for (const file of files) recognize(file);
}

input.addEventListener("change", () => { recognizeAll(input.files); input.value = ""; });
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  recognizeAll(event.dataTransfer.files);
});
document.getElementById("clear").addEventListener("click", () => results.replaceChildren());

// --- Read a page ---------------------------------------------------------------------------------------

const pageDrop = document.getElementById("page-drop");
const pageInput = document.getElementById("page-file");
const pagesView = document.getElementById("pages");
const pageStatus = document.getElementById("page-status");
const CANVAS_MAX_WIDTH = 1400; // drawing resolution; CSS scales the canvas to fit
const BOX_COLOUR = "rgb(0, 102, 255)";
const SELECTED_COLOUR = "rgb(255, 102, 0)";

// The file as an image the browser can draw, or null (a PDF or a TIFF: the boxes are drawn on white).
function pictureOf(file) {
  return new Promise((resolve) => {
    const picture = new Image();
    picture.onload = () => resolve(picture);
    picture.onerror = () => resolve(null);
    picture.src = URL.createObjectURL(file);
  });
}

// One page: the canvas with the page and its line boxes, and the lines beside it. Clicking a line (in the
// list or on the canvas) highlights its box.
function showPage(page, picture) {
  const view = element("div", "page");
  view.dataset.pageNumber = page.page_number;
  const canvas = element("canvas");
  const scale = Math.min(1, CANVAS_MAX_WIDTH / page.width);
  canvas.width = Math.max(1, Math.round(page.width * scale));
  canvas.height = Math.max(1, Math.round(page.height * scale));
  const list = element("ol", "page-lines");
  const lines = [];
  page.blocks.forEach((block) => block.lines.forEach((line, index) => {
    const item = element("li", index === 0 && lines.length > 0 ? "paragraph" : "", line.text);
    item.title = `confidence ${line.confidence.toFixed(3)}`;
    item.dataset.box = line.box.join(",");
    const number = lines.length;
    item.addEventListener("click", () => select(number));
    list.append(item);
    lines.push({ line, item });
  }));
  let selected = -1;

  function draw() {
    const context = canvas.getContext("2d");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.save();
    context.scale(scale, scale);
    if (picture) {
      // The boxes are in the pixels of the page as read: turned upright, then deskewed, both about its centre.
      context.save();
      context.translate(page.width / 2, page.height / 2);
      context.rotate(-((page.rotation - page.skew) * Math.PI) / 180);
      context.drawImage(picture, -picture.naturalWidth / 2, -picture.naturalHeight / 2);
      context.restore();
    }
    context.setLineDash([8 / scale, 6 / scale]);
    context.strokeStyle = "rgb(150, 150, 150)";
    context.lineWidth = 1.5 / scale;
    for (const [x0, y0, x1, y1] of page.figures) context.strokeRect(x0, y0, x1 - x0, y1 - y0);
    context.setLineDash([]);
    lines.forEach(({ line }, number) => {
      const [x0, y0, x1, y1] = line.box;
      if (!picture) { // nothing to see under the boxes: write each line's text in its box instead
        context.fillStyle = "#444";
        context.font = `${Math.max(8, Math.round(0.75 * (y1 - y0)))}px serif`;
        context.textBaseline = "middle";
        context.fillText(line.text, x0, (y0 + y1) / 2, x1 - x0);
      }
      const chosen = number === selected;
      if (chosen) {
        context.fillStyle = "rgba(255, 200, 0, 0.3)";
        context.fillRect(x0, y0, x1 - x0, y1 - y0);
      }
      context.strokeStyle = chosen ? SELECTED_COLOUR : BOX_COLOUR;
      context.lineWidth = (chosen ? 4 : 2) / scale;
      context.strokeRect(x0, y0, x1 - x0, y1 - y0);
    });
    context.restore();
  }

  function select(number) {
    selected = number;
    lines.forEach(({ item }, index) => item.classList.toggle("selected", index === number));
    canvas.dataset.selected = String(number);
    draw();
  }

  canvas.addEventListener("click", (event) => {
    const frame = canvas.getBoundingClientRect();
    const x = ((event.clientX - frame.left) * page.width) / frame.width;
    const y = ((event.clientY - frame.top) * page.height) / frame.height;
    const hit = lines.findIndex(({ line }) => {
      const [x0, y0, x1, y1] = line.box;
      return x >= x0 && x < x1 && y >= y0 && y < y1;
    });
    if (hit >= 0) {
      select(hit);
      lines[hit].item.scrollIntoView({ block: "nearest" });
    }
  });

  const turned = page.rotation || page.skew ? `, turned ${page.rotation}° and deskewed by ${page.skew}°` : "";
  const caption = element("div", "caption",
    `page ${page.page_number}: ${page.width}×${page.height} px, ${lines.length} lines, ` +
    `${page.figures.length} pictures set aside${turned}` + (picture ? "" : " (the browser cannot show this file)"));
  if (lines.length === 0) list.append(element("li", "", "(no text found)"));
  view.append(caption, canvas, list);
  draw();
  return view;
}

async function readPage(file) {
  pagesView.replaceChildren();
  pagesView.dataset.state = "pending";
  pageStatus.classList.remove("error");
  pageStatus.textContent = `reading ${file.name}…`;
  const form = options();
  form.append("deskew", document.getElementById("deskew").checked ? "true" : "false");
  form.append("orientation", document.getElementById("orientation").checked ? "true" : "false");
  form.append("check_spaces", document.getElementById("check-spaces").checked ? "true" : "false");
  form.append("image", file, file.name);
  try {
    const [response, picture] = await Promise.all([fetch("/v1/read", { method: "POST", body: form }), pictureOf(file)]);
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error ? answer.error.message : response.statusText);
    // Only the first page of a file can be the picture the browser decoded.
    answer.pages.forEach((page, index) => pagesView.append(showPage(page, index === 0 ? picture : null)));
    const lineCount = answer.pages.reduce((sum, page) => sum + page.blocks.reduce((n, b) => n + b.lines.length, 0), 0);
    pageStatus.textContent =
      `${file.name}: ${answer.pages.length} page(s), ${lineCount} lines read in ${Math.round(answer.total_ms)} ms`;
    pagesView.dataset.state = "done";
  } catch (failure) {
    pageStatus.textContent = String(failure.message || failure);
    pageStatus.classList.add("error");
    pagesView.dataset.state = "error";
  }
}

pageInput.addEventListener("change", () => {
  if (pageInput.files.length) readPage(pageInput.files[0]);
  pageInput.value = "";
});
pageDrop.addEventListener("dragover", (event) => { event.preventDefault(); pageDrop.classList.add("over"); });
pageDrop.addEventListener("dragleave", () => pageDrop.classList.remove("over"));
pageDrop.addEventListener("drop", (event) => {
  event.preventDefault();
  pageDrop.classList.remove("over");
  if (event.dataTransfer.files.length) readPage(event.dataTransfer.files[0]);
});

fetch("/v1/model").then((response) => response.json()).then((model) => {
  document.getElementById("model").textContent =
    `model ${model.file}: ${model.architecture}, ${model.charset.length} symbols, ${model.backend} ${model.precision}`;
}).catch(() => { document.getElementById("model").textContent = "model description unavailable"; });
