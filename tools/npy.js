'use strict';
/**
 * Minimal NumPy .npy reader and writer for leip's Node.js tools (ort_run.js, ort_accuracy.js).
 *
 * Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 * Reads versions 1.0, 2.0 and 3.0; writes 1.0 (2.0 when the header would not fit).
 * C order only (Fortran-order files are rejected with a message). Little- and big-endian input
 * (big-endian data is byte-swapped on read); output is always little-endian.
 *
 * Arrays are {dtype, shape, data}: dtype is an ONNX Runtime tensor type name, data a typed array:
 *   f4 float32 Float32Array   f8 float64 Float64Array   f2 float16 Uint16Array (raw bits)
 *   i1 int8 Int8Array         u1 uint8 Uint8Array       b1 bool Uint8Array (0/1)
 *   i2 int16 Int16Array       u2 uint16 Uint16Array     i4 int32 Int32Array
 *   u4 uint32 Uint32Array     i8 int64 BigInt64Array    u8 uint64 BigUint64Array
 */

const fs = require('fs');
const path = require('path');

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

// numpy kind+size -> [ONNX Runtime type, TypedArray constructor]
const DTYPES = {
  f4: ['float32', Float32Array],
  f8: ['float64', Float64Array],
  f2: ['float16', Uint16Array],
  i1: ['int8', Int8Array],
  u1: ['uint8', Uint8Array],
  b1: ['bool', Uint8Array],
  i2: ['int16', Int16Array],
  u2: ['uint16', Uint16Array],
  i4: ['int32', Int32Array],
  u4: ['uint32', Uint32Array],
  i8: ['int64', BigInt64Array],
  u8: ['uint64', BigUint64Array],
};
const TYPE_TO_DESCR = {};
for (const [code, [type]] of Object.entries(DTYPES)) {
  TYPE_TO_DESCR[type] = (code === 'i1' || code === 'u1' || code === 'b1') ? '|' + code : '<' + code;
}

class NpyError extends Error {}

function numElements(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

/** Parses the Python-literal header dict that numpy writes. */
function parseHeader(text, file) {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) {
    throw new NpyError(`${file}: malformed .npy header ${JSON.stringify(text.trim())}`);
  }
  if (fortran[1] === 'True') {
    throw new NpyError(`${file}: Fortran-order arrays are not supported; ` +
                       'save a C-order array (np.ascontiguousarray) instead');
  }
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const parsed = dims.map((d) => {
    if (!/^\d+$/.test(d)) throw new NpyError(`${file}: bad dimension '${d}' in shape`);
    return Number(d);
  });
  return { descr: descr[1], shape: parsed };
}

/** Decodes a .npy file held in a Buffer. */
function decode(buf, file = '<buffer>') {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) {
    throw new NpyError(`${file}: not a .npy file (bad magic)`);
  }
  const major = buf[6];
  let headerLen;
  let headerStart;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new NpyError(`${file}: truncated .npy header`);
    headerLen = buf.readUInt32LE(8);
    headerStart = 12;
  } else {
    throw new NpyError(`${file}: unsupported .npy version ${major}.${buf[7]}`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > buf.length) throw new NpyError(`${file}: truncated .npy header`);
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', headerStart, dataStart);
  const { descr, shape } = parseHeader(header, file);

  const m = /^([<>|=]?)([a-zA-Z])(\d+)$/.exec(descr);
  const code = m ? m[2] + m[3] : descr;
  if (!m || !DTYPES[code]) {
    throw new NpyError(`${file}: unsupported dtype '${descr}' ` +
                       `(supported: ${Object.keys(DTYPES).join(', ')})`);
  }
  const [type, Ctor] = DTYPES[code];
  const count = numElements(shape);
  const nbytes = count * Ctor.BYTES_PER_ELEMENT;
  if (buf.length - dataStart < nbytes) {
    throw new NpyError(`${file}: truncated data (${buf.length - dataStart} of ${nbytes} bytes ` +
                       `for shape [${shape}] ${descr})`);
  }
  // Copy into a fresh, aligned buffer; byte-swap big-endian data.
  const bytes = new Uint8Array(nbytes);
  bytes.set(buf.subarray(dataStart, dataStart + nbytes));
  const size = Ctor.BYTES_PER_ELEMENT;
  if (m[1] === '>' && size > 1) {
    for (let i = 0; i < nbytes; i += size) bytes.subarray(i, i + size).reverse();
  }
  const data = new Ctor(bytes.buffer, 0, count);
  return { dtype: type, shape, data };
}

function read(file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new NpyError(`${file}: cannot read (${e.code || e.message})`);
  }
  return decode(buf, file);
}

/** Encodes {dtype, shape, data} (dtype an ONNX Runtime type name) as a .npy Buffer. */
function encode(arr) {
  const descr = TYPE_TO_DESCR[arr.dtype];
  if (!descr) throw new NpyError(`cannot write tensor type '${arr.dtype}' as .npy`);
  const shape = arr.shape.map(Number);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const Ctor = DTYPES[descr.slice(1)][1];
  let data = arr.data;
  if (arr.dtype === 'bool' && !(data instanceof Uint8Array)) data = Uint8Array.from(data, (v) => (v ? 1 : 0));
  if (!(data instanceof Ctor)) data = Ctor.from(data);
  if (data.length !== numElements(shape)) {
    throw new NpyError(`data has ${data.length} elements but shape [${shape}] needs ${numElements(shape)}`);
  }
  // Pad so that magic + version + length + header (+ '\n') is a multiple of 64 bytes.
  let major = 1;
  let prefix = 10;
  let total = prefix + header.length + 1;
  if (total + (64 - (total % 64)) % 64 - prefix > 0xffff) {
    major = 2;
    prefix = 12;
    total = prefix + header.length + 1;
  }
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(prefix);
  MAGIC.copy(head, 0);
  head[6] = major;
  head[7] = 0;
  if (major === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}

/** Writes atomically: to a temporary name in the same folder, then renamed into place. */
function write(file, arr) {
  const buf = encode(arr);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, buf);
  fs.renameSync(tmp, file);
}

module.exports = { read, write, decode, encode, NpyError, DTYPES };
