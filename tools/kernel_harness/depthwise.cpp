// Harness (not part of leip): times the float 3x3 depthwise kernel of kernels/Conv.cpp
// alone, on K planes of 112x112 (stride 2: 56x56 outputs, as mobilenet_v2's features.2;
// stride 1: 112x112), with Clip(0, 6) fused. With K = 4 the input stays in L2, with K = 96
// it is the 4.8 MB of the model: the time per plane was the same (docs/performance-notes.md,
// session 7), so the kernel is bound by its own instructions, not by memory.
//
// Build and run (K planes; any argument: stride 1 instead of 2):
//   clang++-16 -std=c++20 -O2 -march=znver3 -fno-math-errno -DPLANES=96 -Iinclude \
//     tools/kernel_harness/depthwise.cpp -o /tmp/depthwise
//   chrt -f 10 taskset -c 1 /tmp/depthwise; chrt -f 10 taskset -c 1 /tmp/depthwise 1
// Prints the minimum over 200 calls. Compare variants by alternating their binaries
// several times: this VM's speed drifts by 30-60 % between minutes.
#include "../../src/codegen/kernels/Conv.cpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#ifndef PLANES
#define PLANES 96
#endif

int main(int argc, char **argv) {
  const int64_t K = PLANES, H = 112, W = 112;
  const int64_t stride = argc > 1 ? 1 : 2, OH = stride == 2 ? 56 : 112, OW = OH;
  std::vector<float> weights(K * 9), bias(K, 0.1f), x(K * H * W), y(K * OH * OW);
  for (float &v : x) v = std::rand() / static_cast<float>(RAND_MAX) - 0.5f;
  for (float &v : weights) v = std::rand() / static_cast<float>(RAND_MAX) - 0.5f;
  double best = 1e9;
  for (int iteration = 0; iteration < 200; ++iteration) {
    const auto t0 = std::chrono::steady_clock::now();
    leip_k_conv2d_f32(x.data(), weights.data(), bias.data(), y.data(), 1, K, H, W, K, 3, 3, OH, OW, stride, stride,
                      1, 1, 1, 1, K, 1, 8, kClip, 0.0f, 6.0f, 0, K);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (seconds < best) best = seconds;
  }
  std::printf("depthwise 3x3 stride %lld, %lld planes of %lldx%lld: %.3f ms\n", static_cast<long long>(stride),
              static_cast<long long>(K), static_cast<long long>(H), static_cast<long long>(W), best * 1e3);
}
