#include "Artifact.h"

#include "leip/codegen/SchemaChecksum.h"
#include "leip/support/Error.h"
#include "leip/support/MemoryLimit.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace leip::cli {

namespace fs = std::filesystem;

std::map<std::string, std::string> assignInputs(const std::vector<std::string> &args,
                                                const std::vector<std::string> &names) {
  std::map<std::string, std::string> byName;
  std::vector<std::string> positional;
  for (const std::string &arg : args) {
    auto eq = arg.find('=');
    if (eq != std::string::npos && std::find(names.begin(), names.end(), arg.substr(0, eq)) != names.end()) {
      byName[arg.substr(0, eq)] = arg.substr(eq + 1);
    } else if (eq != std::string::npos && !fs::exists(arg)) {
      std::string known;
      for (const auto &n : names) known += (known.empty() ? "" : ", ") + n;
      throw BadInputError("--input " + arg + ": the model has no input '" + arg.substr(0, eq) +
                          "' (its inputs: " + known + ")");
    } else {
      positional.push_back(arg);
    }
  }
  size_t next = 0;
  for (const std::string &path : positional) {
    while (next < names.size() && byName.count(names[next])) ++next;
    if (next == names.size())
      throw BadInputError("--input " + path + ": more inputs given than the model has (" +
                          std::to_string(names.size()) + ")");
    byName[names[next++]] = path;
  }
  for (const std::string &name : names)
    if (!byName.count(name))
      throw BadInputError("missing input '" + name + "': give it with --input " + name + "=FILE.npy");
  return byName;
}

bool isArtifactDirectory(const std::string &path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return false;
  // A `leip compress` output (model.onnx, no library) is a model for the interpreter.
  return fs::exists(fs::path(path) / "modelLibrary.so", ec) || !fs::exists(fs::path(path) / "model.onnx", ec);
}

std::unique_ptr<runtime::Model> loadArtifact(const std::string &dir) {
  fs::path library = fs::path(dir) / "modelLibrary.so";
  std::error_code ec;
  if (!fs::is_regular_file(library, ec))
    throw BadInputError(dir + ": not a leip artifact directory (no modelLibrary.so); create one with leip compile");
  if (!fs::is_regular_file(fs::path(dir) / "model_schema.json", ec))
    throw BadInputError(dir + ": not a leip artifact directory (no model_schema.json); create one with leip compile");
  // A library for another architecture would fail in dlopen with a vague message.
  const std::string schemaPath = (fs::path(dir) / "model_schema.json").string();
  std::string arch;
  bool cuda = false;
  nlohmann::json schema;
  try {
    std::ifstream schemaFile(schemaPath);
    schema = nlohmann::json::parse(schemaFile);
    const nlohmann::json &target = schema.at("target");
    arch = target.at("arch").get<std::string>();
    // A cuda artifact's host code is for the CPU its triple names.
    if (arch == "cuda") {
      cuda = true;
      const std::string triple = target.at("triple").get<std::string>();
      arch = triple.substr(0, triple.find('-'));
    }
  } catch (const std::exception &e) {
    throw BadInputError(schemaPath + ": unreadable (" + std::string(e.what()) + ")");
  }
  // The schema's own checksum: a hand edit (or a damaged copy) changes its content.
  const std::string actual = codegen::schemaChecksum(schema);
  const std::string recorded = schema.contains("checksum") && schema["checksum"].is_string()
                                   ? schema["checksum"].get<std::string>()
                                   : "";
  if (!recorded.empty() && recorded != actual)
    throw BadInputError(schemaPath + ": checksum mismatch (the content hashes to " + actual.substr(0, 12) +
                        "..., the file records " + recorded.substr(0, 12) +
                        "...): it was changed after leip compile; recompile, or restore it");
#if defined(__x86_64__)
  const std::string host = "x86_64";
#elif defined(__aarch64__)
  const std::string host = "aarch64";
#else
  const std::string host = "unknown";
#endif
  if (arch != host)
    throw BadInputError(dir + ": compiled for " + arch + ", this machine is " + host +
                        " (run it on an " + arch + " machine, or compile with --target " + host + ")");
  // The CUDA driver reserves address space for unified addressing, tens of GiB beyond what
  // the process uses: under main()'s cap (--max_memory plus headroom) cuInit would fail.
  if (cuda) liftAddressSpaceCap();
  std::unique_ptr<runtime::Model> model;
  try {
    model = std::make_unique<runtime::Model>(library.string());
  } catch (const std::runtime_error &e) {
    // dlopen's message says why (e.g. an aarch64 library on an x86_64 host), or the
    // runtime's: a CPU feature the library was compiled for that this machine lacks.
    throw BadInputError(std::string(e.what()));
  }
  // The library records the checksum of the schema compiled with it: a schema from another
  // artifact (or a library copied over another) does not match. Older and CUDA libraries
  // record none.
  const std::string expected = model->schemaSha256();
  if (!expected.empty() && expected != actual)
    throw BadInputError(schemaPath + ": does not belong to " + library.string() + " (the library was compiled with " +
                        "a schema hashing to " + expected.substr(0, 12) + "..., this one hashes to " +
                        actual.substr(0, 12) + "...); copy both files from the same leip compile");
  return model;
}

int32_t toRuntimeDType(ir::DType dtype) {
  switch (dtype) {
  case ir::DType::F32: return LEIP_DTYPE_FLOAT32;
  case ir::DType::F16: return LEIP_DTYPE_FLOAT16;
  case ir::DType::I8: return LEIP_DTYPE_INT8;
  case ir::DType::U8: return LEIP_DTYPE_UINT8;
  case ir::DType::I32: return LEIP_DTYPE_INT32;
  case ir::DType::I64: return LEIP_DTYPE_INT64;
  case ir::DType::Bool: return LEIP_DTYPE_BOOL;
  }
  return -1;
}

ir::DType fromRuntimeDType(int32_t dtype, const std::string &what) {
  switch (dtype) {
  case LEIP_DTYPE_FLOAT32: return ir::DType::F32;
  case LEIP_DTYPE_FLOAT16: return ir::DType::F16;
  case LEIP_DTYPE_INT8: return ir::DType::I8;
  case LEIP_DTYPE_UINT8: return ir::DType::U8;
  case LEIP_DTYPE_INT32: return ir::DType::I32;
  case LEIP_DTYPE_INT64: return ir::DType::I64;
  case LEIP_DTYPE_BOOL: return ir::DType::Bool;
  default: throw BadInputError(what + ": unknown element type code " + std::to_string(dtype));
  }
}

void checkArtifactInput(const runtime::Model &model, size_t index, const ir::Tensor &tensor,
                        const std::string &source) {
  auto check = model.symbol<decltype(&::leip_model_check_input)>("leip_model_check_input");
  auto lastError = model.symbol<decltype(&::leip_last_error)>("leip_last_error");
  const ir::Shape &shape = tensor.shape();
  if (check(model.model(), static_cast<int32_t>(index), toRuntimeDType(tensor.dtype()),
            static_cast<int32_t>(shape.size()), shape.data()) != LEIP_OK)
    throw BadInputError(source + ": " + lastError());
}

std::vector<ir::Tensor> runArtifact(runtime::Model &model, const std::vector<ir::Tensor> &inputs) {
  std::vector<const void *> in;
  for (const ir::Tensor &t : inputs) in.push_back(t.rawData());
  std::vector<ir::Tensor> outputs;
  std::vector<void *> out;
  std::vector<int64_t> inBytes, outBytes;
  for (const auto &info : model.inputs()) inBytes.push_back(info.bytes);
  for (const auto &info : model.outputs()) {
    outputs.emplace_back(fromRuntimeDType(info.dtype, "output '" + info.name + "'"), info.shape);
    if (static_cast<int64_t>(outputs.back().byteSize()) != info.bytes)
      throw BadInputError("output '" + info.name + "': the library's size and shape disagree");
    out.push_back(outputs.back().rawData());
    outBytes.push_back(info.bytes);
  }
  auto run = model.symbol<decltype(&::leip_context_run)>("leip_context_run");
  if (leip_status status = run(model.context(), in.data(), inBytes.data(), out.data(), outBytes.data());
      status != LEIP_OK)
    throw BadInputError("the compiled model rejected its inputs (status " + std::to_string(status) +
                        "): " + model.lastError());
  return outputs;
}

} // namespace leip::cli
