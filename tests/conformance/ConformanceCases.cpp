#include "ConformanceCases.h"

#include "leip/frontend/OnnxImporter.h"
#include "leip/interp/Interpreter.h"
#include "leip/ir/OpRegistry.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace leip::conformance {

namespace {

std::string readFile(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Tensor element types the leip IR has (ONNX TensorProto.DataType numbers).
bool irHasType(int onnxType) {
  switch (onnxType) {
  case onnx::TensorProto::FLOAT:
  case onnx::TensorProto::FLOAT16:
  case onnx::TensorProto::INT8:
  case onnx::TensorProto::UINT8:
  case onnx::TensorProto::INT32:
  case onnx::TensorProto::INT64:
  case onnx::TensorProto::BOOL:
    return true;
  default:
    return false;
  }
}

std::string typeName(int onnxType) {
  return onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(onnxType));
}

/// Why the case is outside leip's scope, or "" when it must run.
std::string skipReason(const fs::path &modelPath, const onnx::ModelProto &model,
                       const std::vector<onnx::TensorProto> &tensors) {
  // Ask the importer which ops remain unsupported after its rewrites (Constant nodes
  // become constants, Upsample becomes Resize, ...). An import that fails for another
  // reason is not a skip: the case then fails with that error.
  std::set<std::string> unsupported;
  try {
    leip::frontend::ImportOptions options;
    options.allowUnsupportedOps = true;
    auto graph = leip::frontend::importOnnx(modelPath.string(), options); // must outlive the loop
    for (const leip::ir::Node *node : graph->nodes())
      if (!leip::ir::findOp(node->domain(), node->opType()))
        unsupported.insert((node->domain().empty() ? "" : node->domain() + ".") + node->opType());
  } catch (const std::exception &) {
    // The import failed (e.g. a model of training-only domains): judge by the raw nodes.
    for (const auto &node : model.graph().node())
      if (node.op_type() != "Constant" && !leip::ir::findOp(node.domain(), node.op_type()))
        unsupported.insert((node.domain().empty() ? "" : node.domain() + ".") + node.op_type());
  }
  if (!unsupported.empty()) {
    std::string list;
    for (const auto &op : unsupported) list += (list.empty() ? "" : ", ") + op;
    return "op not supported by leip: " + list;
  }
  // leip compiles inference graphs; training-mode variants of ops are out of its scope.
  for (const auto &node : model.graph().node()) {
    for (const auto &attr : node.attribute())
      if (attr.name() == "training_mode" && attr.i() != 0) return "training mode (leip runs inference only)";
    if (node.op_type() == "Dropout" && node.input_size() > 2 && !node.input(2).empty())
      return "training mode (leip runs inference only)";
  }
  auto checkValueInfo = [](const onnx::ValueInfoProto &info) -> std::string {
    if (!info.type().has_tensor_type()) return "non-tensor value '" + info.name() + "' (sequence/optional/map)";
    int elem = info.type().tensor_type().elem_type();
    if (!irHasType(elem)) return "tensor type " + typeName(elem) + " is not in the leip IR";
    return "";
  };
  for (const auto &info : model.graph().input())
    if (auto reason = checkValueInfo(info); !reason.empty()) return reason;
  for (const auto &info : model.graph().output())
    if (auto reason = checkValueInfo(info); !reason.empty()) return reason;
  bool usesHalf = false;
  for (const auto &t : tensors) {
    if (!irHasType(t.data_type())) return "tensor type " + typeName(t.data_type()) + " is not in the leip IR";
    usesHalf |= t.data_type() == onnx::TensorProto::FLOAT16;
  }
  bool onlyCasts = true;
  for (const auto &node : model.graph().node())
    onlyCasts &= node.op_type() == "Cast" || node.op_type() == "CastLike";
  if (usesHalf && !onlyCasts) return "float16 arithmetic: the reference interpreter computes in fp32";
  return "";
}

std::string caseLabel(const onnx::ModelProto &model) {
  std::set<std::string> ops;
  for (const auto &node : model.graph().node()) ops.insert(node.op_type());
  std::string label;
  for (const auto &op : ops) label += (label.empty() ? "" : "+") + op;
  return label.empty() ? "(no nodes)" : label;
}

/// Runs the case with graph inputs [firstBaked, n) turned into initializers (the model then
/// goes to `bakedPath`), filling `run`. Returns "" on success, else why it failed.
std::string runWith(const fs::path &dir, onnx::ModelProto model, const std::vector<onnx::TensorProto> &inputProtos,
                    const std::vector<onnx::TensorProto> &outputProtos, size_t firstBaked, const fs::path &bakedPath,
                    InterpretedCase &run) {
  try {
    std::set<std::string> initializers;
    for (const auto &init : model.graph().initializer()) initializers.insert(init.name());
    std::vector<onnx::ValueInfoProto> liveInputs;
    size_t next = 0;
    for (const auto &info : model.graph().input()) {
      if (initializers.count(info.name())) continue;
      if (next >= firstBaked && next < inputProtos.size()) {
        onnx::TensorProto *baked = model.mutable_graph()->add_initializer();
        *baked = inputProtos[next];
        baked->set_name(info.name());
      } else {
        liveInputs.push_back(info);
      }
      ++next;
    }
    model.mutable_graph()->clear_input();
    for (const auto &info : liveInputs) *model.mutable_graph()->add_input() = info;

    leip::frontend::ImportOptions options;
    for (size_t i = 0; i < std::min(firstBaked, inputProtos.size()); ++i) {
      run.inputs.push_back(leip::frontend::tensorFromProtoBytes(inputProtos[i].SerializeAsString(), "input"));
      // Bind every graph input to the shape of its test data (models may declare dynamic dims).
      if (i < liveInputs.size()) options.inputShapes.byName[liveInputs[i].name()] = run.inputs.back().shape();
    }
    for (const auto &p : outputProtos)
      run.expected.push_back(leip::frontend::tensorFromProtoBytes(p.SerializeAsString(), "output"));

    run.modelPath = dir / "model.onnx";
    if (firstBaked < inputProtos.size()) {
      std::ofstream out(bakedPath, std::ios::binary);
      model.SerializeToOstream(&out);
      run.modelPath = bakedPath;
    }
    run.graph = leip::frontend::loadModel(run.modelPath.string(), options);
    if (run.graph->inputs().size() != run.inputs.size())
      return "model has " + std::to_string(run.graph->inputs().size()) + " inputs, test data " +
             std::to_string(run.inputs.size());
    leip::interp::Interpreter interpreter(*run.graph);
    run.outputs = interpreter.run(run.inputs);
    if (run.outputs.size() < run.expected.size())
      return "produced " + std::to_string(run.outputs.size()) + " outputs, expected " +
             std::to_string(run.expected.size());
    for (size_t i = 0; i < run.expected.size(); ++i)
      if (auto mismatch = compareTensors(run.outputs[i], run.expected[i], 1e-5, 1e-3); !mismatch.empty())
        return "output " + std::to_string(i) + ": " + mismatch;
    return "";
  } catch (const std::exception &e) {
    std::string what = e.what();
    return what.empty() ? "exception without message" : what;
  }
}

} // namespace

std::vector<fs::path> listCases(const fs::path &casesDir, const std::string &filter) {
  std::vector<fs::path> dirs;
  for (const auto &entry : fs::directory_iterator(casesDir))
    if (entry.is_directory() && fs::exists(entry.path() / "model.onnx") &&
        entry.path().filename().string().find(filter) != std::string::npos)
      dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

CaseResult runCase(const fs::path &dir, const std::function<bool(const InterpretedCase &)> &onPass) {
  CaseResult result;
  result.name = dir.filename().string();
  onnx::ModelProto model;
  std::string modelBytes = readFile(dir / "model.onnx");
  if (!model.ParseFromString(modelBytes)) {
    result.outcome = Outcome::Fail;
    result.reason = "cannot parse model.onnx";
    return result;
  }
  result.label = caseLabel(model);

  fs::path dataDir = dir / "test_data_set_0";
  std::vector<onnx::TensorProto> inputProtos, outputProtos;
  for (const char *kind : {"input", "output"}) {
    for (int i = 0;; ++i) {
      fs::path file = dataDir / (std::string(kind) + "_" + std::to_string(i) + ".pb");
      if (!fs::exists(file)) break;
      onnx::TensorProto tensor;
      if (!tensor.ParseFromString(readFile(file))) {
        result.outcome = Outcome::Skip;
        result.reason = "non-tensor test data (" + file.filename().string() + ")";
        return result;
      }
      (kind[0] == 'i' ? inputProtos : outputProtos).push_back(std::move(tensor));
    }
  }
  std::vector<onnx::TensorProto> all = inputProtos;
  all.insert(all.end(), outputProtos.begin(), outputProtos.end());
  if (auto reason = skipReason(dir / "model.onnx", model, all); !reason.empty()) {
    result.outcome = Outcome::Skip;
    result.reason = reason;
    return result;
  }

  // The pid keeps concurrent programs (ctest -j runs several) off each other's copies.
  fs::path bakedPath = fs::temp_directory_path() /
                       ("leip-conformance-" + std::to_string(::getpid()) + "-" + result.name + ".onnx");
  struct RemoveOnExit {
    fs::path path;
    ~RemoveOnExit() {
      std::error_code ec;
      fs::remove(path, ec);
    }
  } cleanup{bakedPath};

  // leip needs shape-deciding inputs (Reshape's shape, Slice's starts, ...) as constants,
  // while ONNX's cases feed them as graph inputs. Try the case as given first; when leip
  // asks for a constant, bake the trailing inputs into initializers, then all of them.
  // onPass may ask for the next step too.
  std::string lastError;
  std::vector<size_t> attempts = {inputProtos.size()};
  for (size_t firstBaked : {size_t{1}, size_t{0}})
    if (firstBaked < attempts.back()) attempts.push_back(firstBaked);
  bool passed = false;
  for (size_t firstBaked : attempts) {
    InterpretedCase run;
    run.baked = firstBaked < inputProtos.size();
    lastError = runWith(dir, model, inputProtos, outputProtos, firstBaked, bakedPath, run);
    if (lastError.empty()) {
      passed = true;
      result.baked = run.baked;
      if (!onPass || onPass(run)) break;
      continue; // onPass wants more inputs as constants
    }
    if (passed || lastError.find("must be a constant") == std::string::npos) break;
  }
  result.outcome = passed ? Outcome::Pass : Outcome::Fail;
  if (!passed) result.reason = lastError;
  return result;
}

std::string compareTensors(const ir::Tensor &got, const ir::Tensor &want, double atol, double rtol) {
  if (got.dtype() != want.dtype())
    return "dtype " + std::string(ir::dtypeName(got.dtype())) + ", expected " +
           std::string(ir::dtypeName(want.dtype()));
  if (got.shape() != want.shape())
    return "shape " + ir::shapeToString(got.shape()) + ", expected " + ir::shapeToString(want.shape());
  bool exact = !ir::isFloat(got.dtype());
  for (int64_t i = 0; i < got.numElements(); ++i) {
    double a = got.getAsDouble(i), b = want.getAsDouble(i);
    bool ok = exact ? a == b
                    : (std::isnan(a) && std::isnan(b)) || a == b || std::fabs(a - b) <= atol + rtol * std::fabs(b);
    if (!ok) {
      std::ostringstream os;
      os << "element " << i << " is " << a << ", expected " << b;
      return os.str();
    }
  }
  return "";
}

} // namespace leip::conformance
