// Writes the leip graph IR back out as an ONNX model, with quantized tensors in QDQ form
// (QuantizeLinear/DequantizeLinear), the form ONNX Runtime and other tools understand.
#pragma once

#include "leip/ir/Graph.h"

#include <onnx/onnx_pb.h>

#include <string>

namespace leip::frontend {

/// The default-domain opset of exported models: the IR's ops carry opset-17 semantics
/// (the importer rewrites older forms into that one), and 17 is the newest opset the
/// onnx 1.12 checker knows. Per-channel QuantizeLinear needs 13 or later.
inline constexpr int64_t kExportOpset = 17;

struct ExportOptions {
  /// Written as the model's producer_name.
  std::string producerName = "leip";
  /// Validate the result with ONNX's checker and its strict, type-checking shape
  /// inference (what onnx.checker.check_model(full_check=True) does). A failure is an
  /// InternalError: the exporter wrote something ONNX does not accept.
  bool runChecker = true;
  /// When not empty, the first dim of every graph input and output is written as this
  /// symbolic dim and intermediate tensors get no shape, so runtimes accept any batch size
  /// (the IR holds the shapes of one batch size). Only correct when the graph computes each
  /// batch row on its own, with no constant derived from the batch size: check the result.
  std::string batchDim;
};

/// Converts a typed graph (after shape inference, as loadModel returns it) into an ONNX
/// model of opset kExportOpset. Node, value, input and output names are kept; constants
/// become initializers (raw_data); every value's dtype and shape is declared.
///
/// Quantized tensors (TensorType::quant set; they must be f32) become QDQ:
///  - a constant is stored as its quantized integers (i8/u8, or i32 for biases) under the
///    name "<name>_quantized", followed by a DequantizeLinear whose output is "<name>";
///  - a node output is renamed "<name>_float" and followed by QuantizeLinear ->
///    DequantizeLinear whose output is "<name>", so readers and graph outputs keep the name;
///  - a graph input keeps its name and is followed by QuantizeLinear -> DequantizeLinear
///    ("<name>_dequantized"), which its readers read instead.
/// Scales and zero points are initializers "<name>_scale" and "<name>_zero_point"
/// (per-channel: 1-D with the 'axis' attribute). Constants are quantized as QuantizeLinear
/// does: round half to even, add the zero point, saturate.
///
/// Throws BadInputError naming the node or tensor for what ONNX cannot express: ops with no
/// opset-17 definition (including other domains), leip's fused activation attributes
/// (export before passes::optimizeForCompile), quantized non-f32 tensors, i32 activations
/// (QuantizeLinear has no i32 output) and i32 quantization with a non-zero zero point.
onnx::ModelProto exportOnnx(const ir::Graph &graph, const ExportOptions &options = {});

/// exportOnnx, then writes the model to `path + ".partial"` and renames it to `path`, so a
/// failure never leaves a partial file at `path`. Throws BadInputError naming the path when
/// it cannot be written.
void writeOnnx(const ir::Graph &graph, const std::string &path, const ExportOptions &options = {});

} // namespace leip::frontend
