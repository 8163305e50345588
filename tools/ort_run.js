#!/usr/bin/env node
'use strict';
/**
 * ONNX Runtime oracle: runs an ONNX model on .npy inputs and writes every output as .npy.
 *
 * leip's tests compare its interpreter and compiled libraries against this. It uses the npm
 * package onnxruntime-node from third_party/onnxruntime-node/node_modules (see
 * tools/install-deps.sh), with graph optimizations disabled by default and one intra-op thread,
 * so that the numerics are those of the plain ONNX graph.
 *
 * Usage:
 *   node tools/ort_run.js [options] MODEL.onnx OUT_DIR [NAME=]input.npy ...
 *
 *   NAME=file.npy   feeds file.npy to the model input NAME;
 *   file.npy        feeds the model inputs in their declared order (skipping inputs fed by name).
 * Writes OUT_DIR/<output name>.npy for each model output (characters other than
 * [A-Za-z0-9._-] in the name become '_'), and prints one JSON line describing them.
 *
 * Options:
 *   --opt_level=disabled|basic|extended|all   ORT graph optimization level (default disabled)
 *   --threads=N                               intra-op threads (default 1; 0 = ORT's choice)
 *   --repeat=N                                run N times, report the median time (default 1)
 *   --help
 * Exit codes: 0 ok, 1 usage, 2 bad model or data, 3 ORT could not be loaded / internal error.
 */

const fs = require('fs');
const path = require('path');
const npy = require('./npy.js');
const common = require('./ort_common.js');

const { ToolError } = common;

const USAGE = 'usage: node tools/ort_run.js [--opt_level=disabled|basic|extended|all] ' +
              '[--threads=N] [--repeat=N] MODEL.onnx OUT_DIR [NAME=]input.npy ...';

function safeFileName(name) {
  const s = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return s === '' || s === '.' || s === '..' ? `_${s}` : s;
}

async function main() {
  const [opts, pos] = common.parseArgs(process.argv.slice(2), {
    opt_level: 'value', threads: 'value', repeat: 'value', help: 'flag',
  });
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (pos.length < 2) throw new ToolError(USAGE, 1);
  const [modelPath, outDir, ...inputArgs] = pos;
  const optLevel = common.parseOptLevel(opts.opt_level || 'disabled');
  const threads = common.parseThreads(opts.threads === undefined ? '1' : opts.threads);
  const repeat = Number(opts.repeat || 1);
  if (!Number.isInteger(repeat) || repeat < 1) throw new ToolError('--repeat must be an integer >= 1', 1);
  if (!fs.existsSync(modelPath)) throw new ToolError(`${modelPath}: no such file`, 2);

  const ort = common.loadOrt();
  const session = await common.createSession(ort, modelPath, { optLevel, threads });
  const inputNames = session.inputNames;

  // Assign each argument to a model input: by NAME= when the prefix names an input,
  // positionally (declared order, skipping named ones) otherwise.
  const named = new Map();
  const positional = [];
  for (const arg of inputArgs) {
    const eq = arg.indexOf('=');
    if (eq > 0 && inputNames.includes(arg.slice(0, eq))) {
      const name = arg.slice(0, eq);
      if (named.has(name)) throw new ToolError(`input '${name}' given twice`, 1);
      named.set(name, arg.slice(eq + 1));
    } else if (eq > 0 && !fs.existsSync(arg)) {
      throw new ToolError(`'${arg.slice(0, eq)}' is not an input of ${modelPath} ` +
                          `(inputs: ${inputNames.join(', ')})`, 2);
    } else {
      positional.push(arg);
    }
  }
  const free = inputNames.filter((n) => !named.has(n));
  if (positional.length > free.length) {
    throw new ToolError(`${inputArgs.length} inputs given but ${modelPath} has ` +
                        `${inputNames.length} (${inputNames.join(', ')})`, 2);
  }
  positional.forEach((file, i) => named.set(free[i], file));
  const missing = inputNames.filter((n) => !named.has(n));
  if (missing.length) {
    throw new ToolError(`no data for input(s) ${missing.join(', ')} of ${modelPath}`, 2);
  }

  const feeds = {};
  for (const [name, file] of named) {
    let arr;
    try {
      arr = npy.read(file);
    } catch (e) {
      throw new ToolError(e.message, 2);
    }
    feeds[name] = new ort.Tensor(arr.dtype, arr.data, arr.shape);
  }

  let results;
  const times = [];
  for (let i = 0; i < repeat; i++) {
    const t0 = process.hrtime.bigint();
    try {
      results = await session.run(feeds);
    } catch (e) {
      throw new ToolError(`${modelPath}: ${common.oneLine(e.message)}`, 2);
    }
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);

  fs.mkdirSync(outDir, { recursive: true });
  const written = [];
  for (const name of session.outputNames) {
    const t = results[name];
    const file = path.join(outDir, `${safeFileName(name)}.npy`);
    try {
      npy.write(file, { dtype: t.type, shape: t.dims, data: t.data });
    } catch (e) {
      throw new ToolError(`output '${name}': ${e.message}`, 3);
    }
    written.push({ name, dtype: t.type, shape: Array.from(t.dims), path: file });
  }
  process.stdout.write(`${JSON.stringify({
    model: modelPath, outputs: written, run_ms: times[Math.floor(times.length / 2)],
    runs: repeat, opt_level: optLevel, threads, ort_version: ort.env.versions.common,
  })}\n`);
  return 0;
}

common.runMain('ort_run', main);
