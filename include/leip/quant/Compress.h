// Post-training quantization of a float model (`leip compress`): which tensors get
// quantized, calibration of the activations on representative data, weight and bias
// parameters, and the optional optimizations (bias correction, cross-layer equalization,
// tensor splitting). The result is the model with ir::QuantParams set on the tensors it
// quantizes; frontend::writeOnnx turns that into the QDQ model. docs/quantization.md
// describes every step.
#pragma once

#include "leip/data/Dataset.h"
#include "leip/ir/Graph.h"
#include "leip/quant/Equalize.h"
#include "leip/quant/Observer.h"
#include "leip/quant/Quantizer.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace leip::quant {

struct CompressOptions {
  /// The quantizer, bit width and storage type of the weights. Activations use the same
  /// kind per tensor (QuantScheme::perTensor) with 8 bits.
  QuantScheme weights;
  ObserverKind calibration = ObserverKind::Average;
  ObserverOptions observer;
  bool biasCorrection = false;
  bool crossLayerEqualization = false;
  bool tensorSplitting = false;
  /// Tensor splitting may add at most this fraction of the model's parameters.
  double splitBudget = 0.05;
};

/// The names in an `--optimization` list (comma separated, blanks ignored), in order, each
/// once. Throws BadInputError for a name other than bias_correction,
/// cross_layer_equalization and tensor_splitting.
std::vector<std::string> splitOptimizations(const std::string &list);
/// Sets the options' flags for the names in the list (see splitOptimizations).
void parseOptimizations(const std::string &list, CompressOptions &options);

/// The 8-bit activation scheme that goes with a weight scheme.
QuantScheme activationScheme(const QuantScheme &weights);

enum class TensorRole { Activation, Weight, Bias };
std::string_view roleName(TensorRole role);

/// One tensor the compressed model quantizes.
struct QuantizedTensor {
  std::string name;
  TensorRole role = TensorRole::Activation;
  /// The node that reads it (for activations, the first weighted node reading it).
  std::string consumer;
  ir::QuantParams params;
  int bits = 8;
  /// Activations: the clipping range calibration chose; weights: their min and max.
  std::pair<float, float> range{0.0f, 0.0f};
};

struct CompressResult {
  /// The model after BatchNorm folding and the optimizations, with QuantParams on every
  /// quantized value (see tensors). Its float function equals the input model's up to
  /// rounding (the optimizations preserve it).
  std::unique_ptr<ir::Graph> graph;
  std::vector<QuantizedTensor> tensors;
  std::vector<OptimizationRecord> optimizations;
  size_t calibrationSamples = 0;
};

/// Called after each calibration sample: (samples done, total).
using ProgressCallback = std::function<void(size_t, size_t)>;

/// Quantizes `model` (single input, static shapes), calibrating on every sample of `data`.
/// Throws BadInputError naming the sample and tensor when calibration data produce NaN or
/// Inf, and when the model has no tensor to quantize.
CompressResult compress(const ir::Graph &model, const data::Dataset &data, const CompressOptions &options,
                        const ProgressCallback &progress = {});

/// Signal-to-quantization-noise ratio of one tensor over all compared samples.
struct TensorSqnr {
  std::string name;
  std::string node; // its producer ("" for graph outputs produced by no node)
  std::string op;
  /// Accumulated: the quantized model from its input up to this tensor, against the float
  /// model.
  double sqnrDb = 0;
  /// Layers only: this layer alone quantized (its weights, bias and quantized inputs) on the
  /// float model's inputs to it, so errors from earlier layers do not count.
  double localSqnrDb = 0;
  /// Layers with a quantized constant weight: the weight against its quantized values.
  std::optional<double> weightSqnrDb;
};

struct SqnrReport {
  /// The outputs of the weighted nodes (Conv, ConvTranspose, Gemm, MatMul) in model order.
  std::vector<TensorSqnr> layers;
  std::vector<TensorSqnr> outputs;
  size_t samples = 0;
};

/// Runs `reference` (the float model, with QuantParams on the tensors compress quantizes)
/// and `quantized` (e.g. the QDQ model read back) on the first `maxSamples` samples of `data`
/// and compares every weighted node's output and every graph output, matched by name; each
/// layer is also run alone on the float inputs with its own quantization (localSqnrDb).
/// Memory: one sample's layer inputs and outputs.
SqnrReport measureSqnr(const ir::Graph &reference, const ir::Graph &quantized, const data::Dataset &data,
                       size_t maxSamples, const ProgressCallback &progress = {});

/// A layer that mixed precision keeps in float32, and why.
struct FloatLayer {
  std::string node;
  double localSqnrDb = 0;
  /// Its share of the model's multiply-adds.
  double macsFraction = 0;
};

/// Mixed precision: the weighted layers of `report` in order of rising local SQNR (the
/// layer alone quantized, so earlier layers' errors do not count), taken while their
/// multiply-adds stay within `budget` (a fraction of the model's, in [0, 1]) of `graph`
/// (the model the report was measured on); a layer over the remaining budget is skipped.
std::vector<FloatLayer> chooseFloatLayers(const ir::Graph &graph, const SqnrReport &report, double budget);

/// Undoes the quantization of the named layers in a compress result's graph: their weights
/// and biases become float again, and so does an input that only such layers read. Their
/// outputs stay as they were (quantized where the next layer reads them quantized).
/// Throws InternalError for a name that is not a node of the graph.
void keepFloat(ir::Graph &graph, const std::vector<std::string> &nodes);

} // namespace leip::quant
