#!/usr/bin/env node
'use strict';
/**
 * Top-1 / top-5 accuracy of an ONNX classifier under ONNX Runtime, on .npy data.
 *
 * Used by tools/train_examples.py to measure the exported Fashion-MNIST models, and as the
 * peer baseline for `leip evaluate`. The model's first input gets batches of --batch images
 * (the model needs a dynamic batch dimension unless --batch equals its fixed batch); its first
 * output must be [N, classes] scores.
 *
 * Usage:
 *   node tools/ort_accuracy.js [--batch=100] [--threads=1] [--opt_level=disabled]
 *        MODEL.onnx images.npy labels.npy
 *   images.npy: float32 [N, ...] preprocessed; labels.npy: integer [N].
 * Prints one JSON line: {"model", "top1", "top5", "correct", "images", "seconds", ...}.
 */

const fs = require('fs');
const npy = require('./npy.js');
const common = require('./ort_common.js');

const { ToolError } = common;

const USAGE = 'usage: node tools/ort_accuracy.js [--batch=100] [--threads=1] ' +
              '[--opt_level=disabled|basic|extended|all] MODEL.onnx images.npy labels.npy';

async function main() {
  const [opts, pos] = common.parseArgs(process.argv.slice(2), {
    batch: 'value', threads: 'value', opt_level: 'value', help: 'flag',
  });
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (pos.length !== 3) throw new ToolError(USAGE, 1);
  const [modelPath, imagesPath, labelsPath] = pos;
  const batch = Number(opts.batch || 100);
  if (!Number.isInteger(batch) || batch < 1) throw new ToolError('--batch must be an integer >= 1', 1);
  const threads = common.parseThreads(opts.threads === undefined ? '1' : opts.threads);
  const optLevel = common.parseOptLevel(opts.opt_level || 'disabled');
  if (!fs.existsSync(modelPath)) throw new ToolError(`${modelPath}: no such file`, 2);

  let images;
  let labels;
  try {
    images = npy.read(imagesPath);
    labels = npy.read(labelsPath);
  } catch (e) {
    throw new ToolError(e.message, 2);
  }
  if (images.shape.length < 1) throw new ToolError(`${imagesPath}: expected [N, ...] images`, 2);
  const n = images.shape[0];
  if (labels.shape.length !== 1 || labels.shape[0] !== n) {
    throw new ToolError(`${labelsPath}: expected [${n}] labels, found [${labels.shape}]`, 2);
  }
  if (!/int/.test(labels.dtype)) throw new ToolError(`${labelsPath}: labels must be integers, not ${labels.dtype}`, 2);
  const labelAt = (i) => Number(labels.data[i]);

  const ort = common.loadOrt();
  const session = await common.createSession(ort, modelPath, { optLevel, threads });
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  const perImage = images.data.length / Math.max(n, 1);

  let top1 = 0;
  let top5 = 0;
  const t0 = process.hrtime.bigint();
  for (let start = 0; start < n; start += batch) {
    const b = Math.min(batch, n - start);
    const data = images.data.subarray(start * perImage, (start + b) * perImage);
    const feed = { [inputName]: new ort.Tensor(images.dtype, data, [b, ...images.shape.slice(1)]) };
    let out;
    try {
      out = (await session.run(feed))[outputName];
    } catch (e) {
      throw new ToolError(`${modelPath}: ${common.oneLine(e.message)}`, 2);
    }
    if (out.dims.length !== 2 || Number(out.dims[0]) !== b) {
      throw new ToolError(`${modelPath}: output '${outputName}' has shape [${out.dims}], ` +
                          `expected [${b}, classes]`, 2);
    }
    const classes = Number(out.dims[1]);
    const scores = out.data;
    for (let i = 0; i < b; i++) {
      const row = scores.subarray(i * classes, (i + 1) * classes);
      const label = labelAt(start + i);
      const target = row[label];
      // rank = number of classes with a strictly higher score (ties resolved in the label's favour
      // only for classes after it, matching argmax's first-maximum rule).
      let rank = 0;
      for (let c = 0; c < classes; c++) {
        if (row[c] > target || (row[c] === target && c < label)) rank++;
      }
      if (rank === 0) top1++;
      if (rank < 5) top5++;
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(`${JSON.stringify({
    model: modelPath, top1: top1 / n, top5: top5 / n, correct: top1, images: n,
    batch, seconds: Math.round(seconds * 1000) / 1000, opt_level: optLevel, threads,
    ort_version: ort.env.versions.common,
  })}\n`);
  return 0;
}

common.runMain('ort_accuracy', main);
