#!/usr/bin/env node
'use strict';
/**
 * ONNX Runtime latency, measured the way `leip benchmark` measures leip: the peer baseline
 * of tools/benchmark.py.
 *
 * Usage:
 *   node tools/ort_benchmark.js [--threads=T] [--iterations=N] [--warmup=W] [--opt_level=all]
 *                               [--profile=PREFIX] [--optimized_model=PATH] MODEL.onnx [NAME=]input.npy ...
 *
 * Runs W untimed inferences, then times N inferences one by one (session.run, wall clock),
 * with graphOptimizationLevel 'all' (default) and intraOpNumThreads = T (default 1), and
 * prints one JSON object with the fields of `leip benchmark --json`:
 *   {engine: "onnxruntime", min_ms, median_ms, p90_ms, mean_ms, max_ms, iterations, warmup,
 *    threads, opt_level, ort_version}
 * median: the middle sample (mean of the two middle ones for an even count); p90: the
 * nearest-rank 90th percentile, as leip computes them. --profile=PREFIX turns on ORT's
 * profiler, which writes its trace (per-node times) to PREFIX_<date>.json.
 * --optimized_model=PATH writes the graph ORT runs after its optimizations (ORT's
 * optimizedModelFilePath): tools/benchmark.py reads it to see whether a QDQ model runs on
 * ORT's integer kernels (QLinearConv, QGemm, ...) or on float ones between Q/DQ pairs.
 * Exit codes: 0 ok, 1 usage, 2 bad model or data, 3 ORT could not be loaded.
 */

const fs = require('fs');
const npy = require('./npy.js');
const common = require('./ort_common.js');

const { ToolError } = common;

const USAGE = 'usage: node tools/ort_benchmark.js [--threads=T] [--iterations=N] [--warmup=W] ' +
              '[--opt_level=all] [--profile=PREFIX] [--optimized_model=PATH] MODEL.onnx [NAME=]input.npy ...';

function positiveInt(name, value, min) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new ToolError(`--${name} must be an integer >= ${min}`, 1);
  return n;
}

function summarize(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const n = s.length;
  return {
    min_ms: s[0],
    median_ms: n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2,
    p90_ms: s[Math.ceil(0.9 * n) - 1],
    mean_ms: s.reduce((a, b) => a + b, 0) / n,
    max_ms: s[n - 1],
  };
}

async function main() {
  const [opts, pos] = common.parseArgs(process.argv.slice(2), {
    threads: 'value', iterations: 'value', warmup: 'value', opt_level: 'value', profile: 'value', optimized_model: 'value',
    help: 'flag',
  });
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (pos.length < 1) throw new ToolError(USAGE, 1);
  const [modelPath, ...inputArgs] = pos;
  const threads = positiveInt('threads', opts.threads === undefined ? 1 : opts.threads, 1);
  const iterations = positiveInt('iterations', opts.iterations === undefined ? 100 : opts.iterations, 1);
  const warmup = positiveInt('warmup', opts.warmup === undefined ? 10 : opts.warmup, 0);
  const optLevel = common.parseOptLevel(opts.opt_level || 'all');
  if (!fs.existsSync(modelPath)) throw new ToolError(`${modelPath}: no such file`, 2);

  const ort = common.loadOrt();
  const options = common.sessionOptions({ optLevel, threads, profilePrefix: opts.profile });
  if (opts.optimized_model) options.optimizedModelFilePath = opts.optimized_model;
  let session;
  try {
    session = await ort.InferenceSession.create(modelPath, options);
  } catch (e) {
    throw new ToolError(`${modelPath}: ${common.oneLine(e.message)}`, 2);
  }
  const names = session.inputNames;
  if (inputArgs.length !== names.length) {
    throw new ToolError(`${modelPath} has ${names.length} input(s) (${names.join(', ')}), ` +
                        `${inputArgs.length} .npy given`, 1);
  }
  const feeds = {};
  inputArgs.forEach((arg, i) => {
    const eq = arg.indexOf('=');
    const named = eq > 0 && names.includes(arg.slice(0, eq));
    const name = named ? arg.slice(0, eq) : names[i];
    let arr;
    try {
      arr = npy.read(named ? arg.slice(eq + 1) : arg);
    } catch (e) {
      throw new ToolError(e.message, 2);
    }
    feeds[name] = new ort.Tensor(arr.dtype, arr.data, arr.shape);
  });

  const runOnce = async () => {
    try {
      await session.run(feeds);
    } catch (e) {
      throw new ToolError(`${modelPath}: ${common.oneLine(e.message)}`, 2);
    }
  };
  for (let i = 0; i < warmup; i++) await runOnce();
  const ms = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    await runOnce();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  if (opts.profile) session.endProfiling();
  process.stdout.write(`${JSON.stringify({
    engine: 'onnxruntime', model: modelPath, ...summarize(ms), iterations, warmup, threads,
    opt_level: optLevel, ort_version: ort.env.versions.common,
  })}\n`);
  return 0;
}

common.runMain('ort_benchmark', main);
