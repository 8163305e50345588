// The C ABI of an artifact protects its caller (docs/reliability.md, "Artifacts that protect
// their callers"): every pointer, index, size, dtype and shape a caller passes is checked
// and refused with a status and a message, never used; models and contexts of another
// library are refused; a context running on one thread refuses a second run; outputs that
// overlap inputs are refused. And the load-time checks: the CPU features the artifact was
// compiled for (a sapphirerapids artifact names avx512fp16 here, a haswell one runs) and
// the schema checksum the library records.
#include "leip/codegen/Compiler.h"
#include "leip/frontend/OnnxImporter.h"
#include "leip/runtime.hpp"
#include "leip/codegen/SchemaChecksum.h"

#include "TestWorkDir.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace leip;

namespace {

/// fmnist_cnn (input 'input' float32 [batch,1,28,28], output 'logits' [batch,10]) compiled for
/// `target` ("" = the host), once per program.
fs::path compiled(const std::string &target, int batch = 1) {
  static std::map<std::pair<std::string, int>, fs::path> built;
  auto it = built.find({target, batch});
  if (it != built.end()) return it->second;
  frontend::ImportOptions importOptions;
  importOptions.inputShapes = frontend::parseInputShapes(std::to_string(batch) + ",1,28,28");
  const std::string source = std::string(LEIP_SOURCE_DIR) + "/models/fmnist_cnn.onnx";
  auto graph = frontend::loadModel(source, importOptions);
  std::string name = "guard_" + (target.empty() ? std::string("host") : target) + "_b" + std::to_string(batch);
  for (char &c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  codegen::CompileOptions options;
  options.target = target.empty() ? codegen::hostTarget() : codegen::parseTarget(target);
  options.sourcePath = source;
  options.outputDir = (test::workRoot() / name).string();
  codegen::compileGraph(*graph, options);
  return built[{target, batch}] = options.outputDir;
}

nlohmann::json readSchema(const fs::path &dir) {
  std::ifstream in(dir / "model_schema.json");
  return nlohmann::json::parse(in);
}

/// The library's C functions, looked up directly (the wrapper would refuse some calls first).
struct Library {
  explicit Library(const fs::path &dir) : handle(open(dir)) {}
  static void *open(const fs::path &dir) {
    void *handle = ::dlopen((dir / "modelLibrary.so").c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) throw std::runtime_error(::dlerror());
    return handle;
  }
  ~Library() {
    if (handle) ::dlclose(handle);
  }
  template <typename F> F fn(const char *name) const {
    auto f = reinterpret_cast<F>(::dlsym(handle, name));
    if (!f) throw std::runtime_error(std::string("missing ") + name);
    return f;
  }
#define LEIP_FN(name) decltype(&::name) name = fn<decltype(&::name)>(#name)
  void *handle; // first: the members below look their functions up in it
  LEIP_FN(leip_model_get);
  LEIP_FN(leip_model_num_inputs);
  LEIP_FN(leip_model_num_outputs);
  LEIP_FN(leip_model_input_name);
  LEIP_FN(leip_model_input_dtype);
  LEIP_FN(leip_model_input_rank);
  LEIP_FN(leip_model_input_dims);
  LEIP_FN(leip_model_input_bytes);
  LEIP_FN(leip_model_output_name);
  LEIP_FN(leip_model_output_dtype);
  LEIP_FN(leip_model_output_rank);
  LEIP_FN(leip_model_output_dims);
  LEIP_FN(leip_model_output_bytes);
  LEIP_FN(leip_model_check_input);
  LEIP_FN(leip_model_check_cpu);
  LEIP_FN(leip_model_schema_sha256);
  LEIP_FN(leip_context_create);
  LEIP_FN(leip_context_destroy);
  LEIP_FN(leip_context_set_threads);
  LEIP_FN(leip_context_threads);
  LEIP_FN(leip_context_run);
  LEIP_FN(leip_context_run_device);
  LEIP_FN(leip_context_last_error);
  LEIP_FN(leip_last_error);
#undef LEIP_FN
};

/// A buffer-set for one run of fmnist_cnn at batch 1, outputs prefilled with a sentinel.
struct Buffers {
  std::vector<float> input = std::vector<float>(28 * 28, 0.5f), output = std::vector<float>(10, -7.0f);
  const void *in[1] = {input.data()};
  int64_t inBytes[1] = {28 * 28 * 4};
  void *out[1] = {output.data()};
  int64_t outBytes[1] = {10 * 4};
  bool outputUntouched() const {
    for (float v : output)
      if (v != -7.0f) return false;
    return true;
  }
};

/// The LLVM feature names of CpuFeatures.h -> the flags of /proc/cpuinfo.
const std::map<std::string, std::string> kCpuinfoFlag = {
    {"sse3", "pni"}, {"ssse3", "ssse3"}, {"fma", "fma"}, {"sse4.1", "sse4_1"}, {"sse4.2", "sse4_2"},
    {"movbe", "movbe"}, {"popcnt", "popcnt"}, {"avx", "avx"}, {"f16c", "f16c"}, {"bmi", "bmi1"},
    {"avx2", "avx2"}, {"bmi2", "bmi2"}, {"avx512f", "avx512f"}, {"avx512dq", "avx512dq"},
    {"avx512ifma", "avx512ifma"}, {"avx512cd", "avx512cd"}, {"avx512bw", "avx512bw"}, {"avx512vl", "avx512vl"},
    {"avx512vbmi", "avx512vbmi"}, {"avx512vbmi2", "avx512_vbmi2"}, {"gfni", "gfni"},
    {"avx512vnni", "avx512_vnni"}, {"avx512bitalg", "avx512_bitalg"}, {"avx512vpopcntdq", "avx512_vpopcntdq"},
    {"avx512fp16", "avx512_fp16"}, {"avxvnni", "avx_vnni"}, {"avx512bf16", "avx512_bf16"}};

/// Whether /proc/cpuinfo lists the feature. lzcnt has no dependable flag ("abm" is missing
/// from some VMs' cpuinfo, this AMD EPYC's included, though CPUID has it); every CPU with
/// AVX2 has it, so it counts as present.
bool listed(const std::set<std::string> &flags, const std::string &feature) {
  return feature == "lzcnt" || flags.count(kCpuinfoFlag.at(feature));
}

std::set<std::string> cpuinfoFlags() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("flags", 0) == 0) {
      std::istringstream words(line.substr(line.find(':') + 1));
      return {std::istream_iterator<std::string>(words), std::istream_iterator<std::string>()};
    }
  return {};
}

} // namespace

TEST(RuntimeGuard, ModelQueriesRefuseForeignModelsAndIndices) {
  Library lib(compiled(""));
  const leip_model *model = lib.leip_model_get();
  ASSERT_NE(model, nullptr);
  ASSERT_EQ(lib.leip_model_num_inputs(model), 1);
  ASSERT_EQ(lib.leip_model_num_outputs(model), 1);
  // Not this library's model: null, and a pointer to something else entirely.
  const int64_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  for (const leip_model *bad : {static_cast<const leip_model *>(nullptr), reinterpret_cast<const leip_model *>(junk)}) {
    EXPECT_EQ(lib.leip_model_num_inputs(bad), -1);
    EXPECT_EQ(lib.leip_model_num_outputs(bad), -1);
    EXPECT_EQ(lib.leip_model_input_name(bad, 0), nullptr);
    EXPECT_EQ(lib.leip_model_input_dims(bad, 0), nullptr);
    EXPECT_EQ(lib.leip_model_output_bytes(bad, 0), -1);
    EXPECT_EQ(lib.leip_model_schema_sha256(bad), nullptr);
    EXPECT_EQ(lib.leip_model_check_cpu(bad), LEIP_ERROR_INVALID_ARGUMENT);
  }
  for (int32_t index : {-1, 1, 1 << 30}) {
    EXPECT_EQ(lib.leip_model_input_name(model, index), nullptr) << index;
    EXPECT_EQ(lib.leip_model_input_dtype(model, index), -1);
    EXPECT_EQ(lib.leip_model_input_rank(model, index), -1);
    EXPECT_EQ(lib.leip_model_input_dims(model, index), nullptr);
    EXPECT_EQ(lib.leip_model_input_bytes(model, index), -1);
    EXPECT_EQ(lib.leip_model_output_name(model, index), nullptr);
    EXPECT_EQ(lib.leip_model_output_dtype(model, index), -1);
    EXPECT_EQ(lib.leip_model_output_rank(model, index), -1);
    EXPECT_EQ(lib.leip_model_output_dims(model, index), nullptr);
    EXPECT_EQ(lib.leip_model_output_bytes(model, index), -1);
  }
}

TEST(RuntimeGuard, CheckInputRefusesWrongDtypeRankDimsAndIndex) {
  Library lib(compiled(""));
  const leip_model *model = lib.leip_model_get();
  const int64_t dims[4] = {1, 1, 28, 28};
  EXPECT_EQ(lib.leip_model_check_input(model, 0, LEIP_DTYPE_FLOAT32, 4, dims), LEIP_OK);

  EXPECT_EQ(lib.leip_model_check_input(model, 0, LEIP_DTYPE_UINT8, 4, dims), LEIP_ERROR_DTYPE);
  EXPECT_STREQ(lib.leip_last_error(), "input 'input' expects dtype float32, got uint8");
  EXPECT_EQ(lib.leip_model_check_input(model, 0, 99, 4, dims), LEIP_ERROR_DTYPE);
  EXPECT_NE(std::string(lib.leip_last_error()).find("got unknown"), std::string::npos);

  const int64_t wrongDims[4] = {1, 1, 28, 27};
  EXPECT_EQ(lib.leip_model_check_input(model, 0, LEIP_DTYPE_FLOAT32, 4, wrongDims), LEIP_ERROR_SHAPE);
  EXPECT_STREQ(lib.leip_last_error(), "input 'input' has shape [1,1,28,27], the model expects [1,1,28,28]");
  EXPECT_EQ(lib.leip_model_check_input(model, 0, LEIP_DTYPE_FLOAT32, 3, dims + 1), LEIP_ERROR_SHAPE);
  EXPECT_STREQ(lib.leip_last_error(), "input 'input' has shape [1,28,28], the model expects [1,1,28,28]");
  EXPECT_EQ(lib.leip_model_check_input(model, 0, LEIP_DTYPE_FLOAT32, 4, nullptr), LEIP_ERROR_SHAPE);
  EXPECT_STREQ(lib.leip_last_error(), "input 'input' has shape rank 4, the model expects [1,1,28,28]");
  EXPECT_EQ(lib.leip_model_check_input(model, 0, LEIP_DTYPE_FLOAT32, -3, dims), LEIP_ERROR_SHAPE);
  // A huge rank with a short array: the message reads no more than it prints.
  EXPECT_EQ(lib.leip_model_check_input(model, 0, LEIP_DTYPE_FLOAT32, 1 << 30, nullptr), LEIP_ERROR_SHAPE);

  EXPECT_EQ(lib.leip_model_check_input(model, 1, LEIP_DTYPE_FLOAT32, 4, dims), LEIP_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(lib.leip_last_error(), "input index 1 out of range");
  EXPECT_EQ(lib.leip_model_check_input(model, -1, LEIP_DTYPE_FLOAT32, 4, dims), LEIP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lib.leip_model_check_input(nullptr, 0, LEIP_DTYPE_FLOAT32, 4, dims), LEIP_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(lib.leip_last_error(), "check_input: not this library's model");
}

TEST(RuntimeGuard, ContextCreateRefusesBadArguments) {
  Library lib(compiled(""));
  const leip_model *model = lib.leip_model_get();
  leip_context *context = reinterpret_cast<leip_context *>(0x1);
  EXPECT_EQ(lib.leip_context_create(nullptr, &context), LEIP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lib.leip_context_create(model, nullptr), LEIP_ERROR_INVALID_ARGUMENT);
  const int64_t junk[8] = {};
  EXPECT_EQ(lib.leip_context_create(reinterpret_cast<const leip_model *>(junk), &context),
            LEIP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(context, nullptr); // cleared, never left dangling
  EXPECT_NE(std::string(lib.leip_last_error()).find("not this library's model"), std::string::npos);
  // Null and foreign contexts: refused (or ignored, for destroy), never dereferenced as ours.
  alignas(16) unsigned char fake[512] = {};
  for (leip_context *bad : {static_cast<leip_context *>(nullptr), reinterpret_cast<leip_context *>(fake)}) {
    Buffers b;
    EXPECT_EQ(lib.leip_context_run(bad, b.in, b.inBytes, b.out, b.outBytes), LEIP_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(b.outputUntouched());
    EXPECT_EQ(lib.leip_context_set_threads(bad, 2), LEIP_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(lib.leip_context_threads(bad), -1);
    EXPECT_EQ(lib.leip_context_run_device(bad, b.in, b.out), LEIP_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(lib.leip_context_last_error(bad), nullptr);
    lib.leip_context_destroy(bad);
  }
  for (unsigned char byte : fake) ASSERT_EQ(byte, 0) << "the runtime wrote into a foreign context";
}

TEST(RuntimeGuard, RunRefusesBadBuffersAndLeavesOutputsAlone) {
  Library lib(compiled(""));
  leip_context *context = nullptr;
  ASSERT_EQ(lib.leip_context_create(lib.leip_model_get(), &context), LEIP_OK);
  auto refused = [&](const char *what, int status, const char *message, auto change) {
    SCOPED_TRACE(what);
    Buffers b;
    change(b);
    EXPECT_EQ(lib.leip_context_run(context, b.in, b.inBytes, b.out, b.outBytes), status);
    EXPECT_TRUE(b.outputUntouched());
    EXPECT_NE(std::string(lib.leip_context_last_error(context)).find(message), std::string::npos)
        << lib.leip_context_last_error(context);
  };
  refused("null input", LEIP_ERROR_INVALID_ARGUMENT, "input 'input' is null", [](Buffers &b) { b.in[0] = nullptr; });
  refused("null output", LEIP_ERROR_INVALID_ARGUMENT, "output 'logits' is null", [](Buffers &b) { b.out[0] = nullptr; });
  refused("short input", LEIP_ERROR_SHAPE, "input 'input' has 3132 bytes, the model expects 3136",
          [](Buffers &b) { b.inBytes[0] -= 4; });
  refused("long input", LEIP_ERROR_SHAPE, "has 3140 bytes", [](Buffers &b) { b.inBytes[0] += 4; });
  refused("negative size", LEIP_ERROR_SHAPE, "has -1 bytes", [](Buffers &b) { b.inBytes[0] = -1; });
  refused("short output", LEIP_ERROR_SHAPE, "output 'logits' has 36 bytes, the model writes 40",
          [](Buffers &b) { b.outBytes[0] = 36; });
  refused("output over the input", LEIP_ERROR_INVALID_ARGUMENT, "output 'logits' overlaps input 'input'",
          [](Buffers &b) { b.out[0] = b.input.data() + 100; });
  // Arrays themselves null.
  Buffers b;
  EXPECT_EQ(lib.leip_context_run(context, nullptr, b.inBytes, b.out, b.outBytes), LEIP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lib.leip_context_run(context, b.in, nullptr, b.out, b.outBytes), LEIP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lib.leip_context_run(context, b.in, b.inBytes, nullptr, b.outBytes), LEIP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lib.leip_context_run(context, b.in, b.inBytes, b.out, nullptr), LEIP_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(lib.leip_context_last_error(context), "run: null input or output array");
  EXPECT_TRUE(b.outputUntouched());
  // Thread counts out of range.
  EXPECT_EQ(lib.leip_context_set_threads(context, 0), LEIP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lib.leip_context_set_threads(context, LEIP_MAX_THREADS + 1), LEIP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lib.leip_context_threads(context), 1);
  // After all that, a good run works and writes the output; the CPU artifact has no device run.
  EXPECT_EQ(lib.leip_context_run(context, b.in, b.inBytes, b.out, b.outBytes), LEIP_OK);
  EXPECT_FALSE(b.outputUntouched());
  EXPECT_STREQ(lib.leip_context_last_error(context), "");
  EXPECT_EQ(lib.leip_context_run_device(context, b.in, b.out), LEIP_ERROR_INVALID_ARGUMENT);
  lib.leip_context_destroy(context);
}

TEST(RuntimeGuard, ModelsAndContextsOfAnotherLibraryAreRefused) {
  Library a(compiled("", 1)), b(compiled("", 2));
  const leip_model *modelB = b.leip_model_get();
  ASSERT_NE(a.leip_model_get(), modelB);
  EXPECT_EQ(a.leip_model_num_inputs(modelB), -1);
  leip_context *contextB = nullptr;
  ASSERT_EQ(b.leip_context_create(modelB, &contextB), LEIP_OK);
  leip_context *context = nullptr;
  EXPECT_EQ(a.leip_context_create(modelB, &context), LEIP_ERROR_INVALID_ARGUMENT);
  // b's context run by a's code would use a's node table on b's arena.
  Buffers buffers;
  EXPECT_EQ(a.leip_context_run(contextB, buffers.in, buffers.inBytes, buffers.out, buffers.outBytes),
            LEIP_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(buffers.outputUntouched());
  a.leip_context_destroy(contextB); // not a's: ignored
  EXPECT_EQ(b.leip_context_threads(contextB), 1);
  b.leip_context_destroy(contextB);
}

TEST(RuntimeGuard, SecondRunOnABusyContextIsRefused) {
  // Batch 64 makes a run long enough for the other thread to find it busy.
  Library lib(compiled("", 64));
  leip_context *context = nullptr;
  ASSERT_EQ(lib.leip_context_create(lib.leip_model_get(), &context), LEIP_OK);
  std::vector<float> input(64 * 28 * 28, 0.25f), output(64 * 10), output2(64 * 10);
  const void *in[1] = {input.data()};
  int64_t inBytes[1] = {64 * 28 * 28 * 4}, outBytes[1] = {64 * 10 * 4};
  void *out[1] = {output.data()}, *out2[1] = {output2.data()};
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread runner([&] {
    while (!stop)
      if (lib.leip_context_run(context, in, inBytes, out, outBytes) != LEIP_OK) ++failures;
  });
  int refusals = 0, others = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (refusals == 0 && std::chrono::steady_clock::now() < deadline) {
    const leip_status status = lib.leip_context_run(context, in, inBytes, out2, outBytes);
    if (status == LEIP_ERROR_INVALID_ARGUMENT) {
      ++refusals;
      EXPECT_NE(std::string(lib.leip_last_error()).find("already running on another thread"), std::string::npos)
          << lib.leip_last_error();
    } else if (status != LEIP_OK) {
      ++others;
    }
  }
  stop = true;
  runner.join();
  EXPECT_GT(refusals, 0) << "two threads never overlapped in 20 s";
  EXPECT_EQ(others, 0);
  // The runner's own runs are refused only when ours held the context.
  EXPECT_EQ(lib.leip_context_run(context, in, inBytes, out, outBytes), LEIP_OK);
  lib.leip_context_destroy(context);
}

TEST(RuntimeGuard, SchemaChecksumIsRecordedInTheLibrary) {
  const fs::path dir = compiled("");
  const nlohmann::json schema = readSchema(dir);
  ASSERT_TRUE(schema.contains("checksum"));
  EXPECT_EQ(schema["checksum"].get<std::string>(), codegen::schemaChecksum(schema));
  EXPECT_EQ(schema["checksum"].get<std::string>().size(), 64u);
  runtime::Model model(dir.string());
  EXPECT_EQ(model.schemaSha256(), schema["checksum"].get<std::string>());
  // Another compile of the same model at another batch: another schema, another checksum.
  EXPECT_NE(runtime::Model(compiled("", 2).string()).schemaSha256(), model.schemaSha256());
}

TEST(RuntimeGuard, HostArtifactRecordsFeaturesThisCpuHas) {
  const nlohmann::json schema = readSchema(compiled(""));
  const auto required = schema["target"]["required_features"].get<std::vector<std::string>>();
  const std::set<std::string> flags = cpuinfoFlags();
  ASSERT_FALSE(flags.empty());
  EXPECT_FALSE(required.empty());
  for (const std::string &f : required) EXPECT_TRUE(listed(flags, f)) << f;
  Library lib(compiled(""));
  EXPECT_EQ(lib.leip_model_check_cpu(lib.leip_model_get()), LEIP_OK);
}

TEST(RuntimeGuard, ArtifactForMissingCpuFeaturesFailsAtLoadNamingThem) {
  const std::set<std::string> flags = cpuinfoFlags();
  if (flags.count("avx512_fp16")) GTEST_SKIP() << "this CPU has avx512fp16: a sapphirerapids artifact runs here";
  const fs::path dir = compiled("x86_64 -mcpu=sapphirerapids");
  const auto required = readSchema(dir)["target"]["required_features"].get<std::vector<std::string>>();
  std::vector<std::string> missing;
  for (const std::string &f : required)
    if (!listed(flags, f)) missing.push_back(f);
  ASSERT_NE(std::find(missing.begin(), missing.end(), "avx512fp16"), missing.end());
  std::string expected;
  for (const std::string &f : missing) expected += (expected.empty() ? "" : ",") + f;

  // The library loads (nothing of it runs at dlopen) and says what is missing.
  Library lib(dir);
  const leip_model *model = lib.leip_model_get();
  EXPECT_EQ(lib.leip_model_check_cpu(model), LEIP_ERROR_UNSUPPORTED_CPU);
  EXPECT_NE(std::string(lib.leip_last_error()).find("this CPU lacks " + expected + ", which"), std::string::npos)
      << lib.leip_last_error();
  leip_context *context = nullptr;
  EXPECT_EQ(lib.leip_context_create(model, &context), LEIP_ERROR_UNSUPPORTED_CPU);
  EXPECT_EQ(context, nullptr);
  // Through the wrapper: the constructor throws with the same message.
  try {
    runtime::Model wrapped(dir.string());
    ADD_FAILURE() << "loaded an artifact that needs " << expected;
  } catch (const std::runtime_error &e) {
    EXPECT_NE(std::string(e.what()).find("lacks " + expected), std::string::npos) << e.what();
  }
}

TEST(RuntimeGuard, HaswellArtifactRunsHereLikeTheHostOne) {
  const fs::path dir = compiled("x86_64 -mcpu=haswell");
  const auto required = readSchema(dir)["target"]["required_features"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(required.begin(), required.end(), "avx2"), required.end());
  EXPECT_EQ(std::find(required.begin(), required.end(), "avx512f"), required.end());
  runtime::Model haswell(dir.string()), host(compiled("").string());
  std::vector<float> input(28 * 28);
  for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<float>((i * 37) % 101) / 101.0f;
  const auto got = haswell.infer({input.data()}), want = host.infer({input.data()});
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].size(), 10u);
  float scale = 0;
  for (float v : want[0]) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < 10; ++i) EXPECT_NEAR(got[0][i], want[0][i], 1e-4f * scale) << i;
}
