// Harness (not part of leip): compares compiled artifacts on a noisy machine by alternating
// their inferences one by one in one process, so that the machine's drift (other tenants,
// frequency, the host's scheduling) falls on every artifact alike. Whole-process runs of
// `leip benchmark` on the shared 2-vCPU VM moved by 15-25 % from minute to minute; with
// this alternation the same artifact listed twice agreed within 0-3 % at the 25th
// percentile (its medians within 0.5-6 %).
//
// Each argument is an artifact directory (or modelLibrary.so), optionally prefixed with
// NAME=VALUE: to set an environment variable before its context is created (the runtime
// reads LEIP_* variables there). The first input of each model gets the same deterministic
// values; all models must take the first model's input size.
//
// Build and run (1 thread on CPU 1, 200 inferences of each after 5 warm-up rounds):
//   g++ -std=c++17 -O2 -Iinclude tools/kernel_harness/alternate.cpp -o /tmp/alternate -ldl
//   chrt -f 10 taskset -c 1 /tmp/alternate 1 200 build/benchmark/mobilenet_v2 /tmp/mb_variant
// Prints, per artifact, the minimum, 25th percentile and median in ms.
#include <leip/runtime.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

int main(int argc, char **argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s THREADS ITERATIONS [NAME=VALUE:]ARTIFACT...\n", argv[0]);
    return 2;
  }
  const int threads = std::atoi(argv[1]), iterations = std::atoi(argv[2]);
  std::vector<std::unique_ptr<leip::runtime::Model>> models;
  std::vector<std::string> names;
  for (int i = 3; i < argc; ++i) {
    std::string path = argv[i];
    const size_t colon = path.find(':'), equals = path.find('=');
    if (colon != std::string::npos && equals != std::string::npos && equals < colon) {
      const std::string setting = path.substr(0, colon);
      setenv(setting.substr(0, equals).c_str(), setting.substr(equals + 1).c_str(), 1);
      path = path.substr(colon + 1);
    }
    models.emplace_back(new leip::runtime::Model(path));
    models.back()->setThreads(threads);
    names.push_back(argv[i]);
  }
  size_t count = 1;
  for (int64_t d : models[0]->inputs()[0].shape) count *= static_cast<size_t>(d);
  std::vector<float> input(count);
  for (size_t i = 0; i < count; ++i) input[i] = static_cast<float>(i % 97) / 97.0f;

  std::vector<std::vector<double>> ms(models.size());
  for (int it = -5; it < iterations; ++it)
    for (size_t k = 0; k < models.size(); ++k) {
      const size_t m = (k + static_cast<size_t>(it + 5)) % models.size(); // rotate who goes first
      const auto start = std::chrono::steady_clock::now();
      models[m]->infer({input.data()});
      const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (it >= 0) ms[m].push_back(t);
    }
  for (size_t m = 0; m < models.size(); ++m) {
    std::vector<double> &v = ms[m];
    std::sort(v.begin(), v.end());
    std::printf("%-40s min %8.3f  p25 %8.3f  median %8.3f ms\n", names[m].c_str(), v[0], v[v.size() / 4],
                v[v.size() / 2]);
  }
  return 0;
}
