// Loads ONNX models (opsets 7-17) into the leip graph IR.
#pragma once

#include "leip/ir/Graph.h"

#include <map>
#include <memory>
#include <string>

namespace leip::frontend {

struct InputShapes {
  /// Shape for a named input. The empty name "" applies to the single/first input
  /// (from "--input_shapes 1,3,224,224"); in a model with several inputs it binds the
  /// first one, and the others must be named or have static shapes.
  std::map<std::string, ir::Shape> byName;
  bool empty() const { return byName.empty(); }
};

/// Parses "1,3,224,224" or "x:1,3,48,320;y:1,10". Throws UsageError on bad syntax.
InputShapes parseInputShapes(const std::string &text);

struct ImportOptions {
  InputShapes inputShapes;
  /// Run ONNX's own checker on the model first (structural validity).
  bool runChecker = true;
  /// Keep nodes whose op leip does not support (for `leip inspect`, which lists them)
  /// instead of failing with a message listing all of them.
  bool allowUnsupportedOps = false;
};

/// Parses and converts an ONNX model without shape inference: graph input types carry the
/// model's declared shapes (dynamic dims as kDynamicDim), node outputs are untyped.
/// Rewrites legacy op forms into the opset-17 form (see Graph.h).
/// Throws BadInputError naming the file and the node/field for anything it cannot accept:
/// unreadable/truncated protobuf, external data, unsupported op or opset, bad attributes.
/// A directory holding model.onnx (what `leip compress` writes) loads that file.
std::unique_ptr<ir::Graph> importOnnx(const std::string &path, const ImportOptions &options = {});
/// DIR/model.onnx when `path` is a directory holding one (a `leip compress` output), else `path`.
std::string modelFilePath(const std::string &path);
/// Same, from bytes in memory (`sourceName` names them in errors).
std::unique_ptr<ir::Graph> importOnnxFromBytes(const std::string &bytes, const std::string &sourceName,
                                               const ImportOptions &options = {});

/// importOnnx, then binds input shapes (user shapes; a dynamic batch dim defaults to 1;
/// any other dynamic dim is an error naming the input), infers every tensor's static
/// shape, folds constant subgraphs and removes dead code, then verifies the graph.
std::unique_ptr<ir::Graph> loadModel(const std::string &path, const ImportOptions &options = {});
/// loadModel for a model in memory (`sourceName` names it in errors).
std::unique_ptr<ir::Graph> loadModelFromBytes(const std::string &bytes, const std::string &sourceName,
                                              const ImportOptions &options = {});

/// Converts an ONNX TensorProto (serialized bytes) into a leip tensor (used by the
/// conformance runner for test_data_set *.pb files).
ir::Tensor tensorFromProtoBytes(const std::string &bytes, const std::string &sourceName);

} // namespace leip::frontend
