// The crnn-ctc web page: each dropped or picked image is posted on its own to /v1/recognize (the service
// batches concurrent requests), then shown with its text and confidence. Server text goes in through
// textContent only, never as HTML.
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
  if (decoder !== "greedy") form.append("decoder", decoder);
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

fetch("/v1/model").then((response) => response.json()).then((model) => {
  document.getElementById("model").textContent =
    `model ${model.file}: ${model.architecture}, ${model.charset.length} symbols, ${model.backend} ${model.precision}`;
}).catch(() => { document.getElementById("model").textContent = "model description unavailable"; });
