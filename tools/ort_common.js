'use strict';
/**
 * Shared helpers for leip's ONNX Runtime tools: loading onnxruntime-node from
 * third_party/onnxruntime-node (installed by tools/install-deps.sh with
 * `npm install --ignore-scripts`), session options, and one-line error exits.
 */

const path = require('path');

const ORT_DIR = path.join(__dirname, '..', 'third_party', 'onnxruntime-node', 'node_modules',
                          'onnxruntime-node');

/** Usage errors exit 1, bad input (model, data) 2, anything else 3, as leip itself does. */
class ToolError extends Error {
  constructor(message, code = 2) {
    super(message);
    this.exitCode = code;
  }
}

function oneLine(msg) {
  return String(msg).replace(/\s*\n\s*/g, ' ').trim();
}

/** Runs async main(); any error becomes `<tool>: error: <one line>` and a non-zero exit. */
function runMain(tool, main) {
  main().then(
    (code) => { process.exitCode = code || 0; },
    (e) => {
      const msg = e instanceof Error ? e.message : e;
      process.stderr.write(`${tool}: error: ${oneLine(msg)}\n`);
      process.exitCode = (e && e.exitCode) || 3;
    });
}

/** Loads onnxruntime-node by path (LEIP_ORT_NODE overrides), with a precise reason on failure. */
function loadOrt() {
  const dir = process.env.LEIP_ORT_NODE || ORT_DIR;
  try {
    return require(dir);
  } catch (e) {
    if (e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(dir)) {
      throw new ToolError(`onnxruntime-node not found at ${dir}; run bash tools/install-deps.sh`, 3);
    }
    throw new ToolError(`cannot load onnxruntime-node from ${dir} ` +
                        `(${process.platform}/${process.arch}): ${oneLine(e.message)}`, 3);
  }
}

const OPT_LEVELS = ['disabled', 'basic', 'extended', 'all'];

/** Session options chosen so that numerics stay close to leip's reference interpreter. */
function sessionOptions({ optLevel = 'disabled', threads = 1, profilePrefix = '' } = {}) {
  const options = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: optLevel,
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
  };
  if (profilePrefix) {
    options.enableProfiling = true; // per-node times in a JSON trace (tools/profile_layers.py)
    options.profileFilePrefix = profilePrefix;
  }
  return options;
}

async function createSession(ort, modelPath, opts) {
  try {
    return await ort.InferenceSession.create(modelPath, sessionOptions(opts));
  } catch (e) {
    throw new ToolError(`${modelPath}: ${oneLine(e.message)}`, 2);
  }
}

/** Parses `--key=value` / `--key value` options out of argv; returns [options, positionals]. */
function parseArgs(argv, known) {
  const opts = {};
  const pos = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { pos.push(...argv.slice(i + 1)); break; }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const key = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (!(key in known)) throw new ToolError(`unknown option --${key}`, 1);
      if (known[key] === 'flag') { opts[key] = true; continue; }
      const val = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (val === undefined) throw new ToolError(`option --${key} needs a value`, 1);
      opts[key] = val;
    } else {
      pos.push(a);
    }
  }
  return [opts, pos];
}

function parseThreads(v) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ToolError(`--threads must be an integer >= 0, not '${v}'`, 1);
  return n;
}

function parseOptLevel(v) {
  if (!OPT_LEVELS.includes(v)) throw new ToolError(`--opt_level must be one of ${OPT_LEVELS.join(', ')}`, 1);
  return v;
}

module.exports = {
  ORT_DIR, ToolError, runMain, loadOrt, createSession, sessionOptions, parseArgs, parseThreads,
  parseOptLevel, oneLine,
};
