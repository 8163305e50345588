// Kernel harness (not part of leip): int8 Winograd F(2x2, 3x3) on AVX2 against leip's dense
// int8 kernel (qconv<8, 4, 2, kDotAvx2Bytes> from src/codegen/kernels/QConv.cpp), one 3x3
// stride-1 pad-1 convolution, 1 thread.
//
// Why: without VNNI, the dense kernel's u8 x s8 products cost vpmaddubsw + vpmaddwd + vpaddd
// per 32. Winograd's transformed operands need 11 bits, so they are int16 and multiply with
// vpmaddwd (16 per instruction), but 2.25x fewer of them. It is exact: 2G and B^T are integer
// matrices, so U' = (2G) g (2G)^T = 4 G g G^T and V = B^T d B are integers (|U'| <= 1152,
// |V| <= 4 x 255), and A^T (U' . V) A is 4x the direct sum in two's complement arithmetic
// (the int32 sums may wrap; the final value fits). So the outputs, through the same
// epilogue, are the dense kernel's bits, which the harness checks.
//
// Layout: V [16][C/2][tiles] words (channels 2p and 2p + 1 as int16 halves), tiles in the
// lanes; U [K/4][16][C/2][4] words, broadcast; M [16][4][tiles] int32 for 4 output channels;
// the output transform writes the epilogue's flat rows (pitch OW + 2).
//
// Build and run (shapes of resnet18's layer1 and layer2; NO_IT, NO_PR, NO_OT or NO_EPI
// drop the input transform, the products, the output transform or the epilogue, to see
// what each costs; the outputs then differ):
//   clang++-16 -std=c++17 -O3 -march=znver3 -ffast-math -DCC_=64 -DKK_=64 -DHH_=56 -DRBD_=16 \
//     -DRBW_=4 tools/kernel_harness/int8_winograd.cpp -o /tmp/int8_winograd && taskset -c 1 /tmp/int8_winograd
//   ... -DCC_=128 -DKK_=128 -DHH_=28 -DRBD_=28 -DRBW_=4 ...
// AVX2 Zen 3, 2026-11-27: layer1 dense 1.59-2.17 ms, Winograd 1.17-1.97 ms (1.10-1.36x,
// same process, minima of 20 alternating rounds); layer2 2.12 against 1.64 ms (1.29x);
// 0 of 200704 and 0 of 100352 outputs differ. Without the products Winograd took 0.34-0.43
// ms: the transforms and the epilogue are a third of it.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>
#include <immintrin.h>
#include "../../src/codegen/kernels/QConv.cpp"

constexpr int C = CC_, K = KK_, H = HH_, W = HH_;
constexpr int RBD = RBD_;   // dense rows per task
constexpr int RBW = RBW_;   // winograd rows per task (even)
constexpr int TX = (W + 1) / 2;
constexpr int TMAX = (RBW / 2) * TX; // tiles per task
constexpr int CP = (C + 1) / 2; // channel pairs
constexpr uint8_t kZeroPoint = 3; // the input's (its padding's) zero point

__attribute__((noinline)) void runDense(const uint8_t *x, const int32_t *wp, QConvShape s, const QConvOutput &o) {
  const int64_t tasks = (H + RBD - 1) / RBD;
  qconv<8, 4, 2, kDotAvx2Bytes>(x, 0, kZeroPoint, wp, s, o, 0, tasks);
}

// TP: a task's tiles, padded so that the input transform's last vector may run past them.
constexpr int TP = (TMAX + 8 + 15) / 16 * 16;
__attribute__((always_inline)) inline void winogradProducts(const int32_t *__restrict v, const int32_t *__restrict u, int32_t *__restrict m, int T) {
  for (int t0 = 0; t0 < T; t0 += 16) {
    __m256i acc[4][2];
    for (int k = 0; k < 4; ++k) acc[k][0] = acc[k][1] = _mm256_setzero_si256();
    for (int p = 0; p < CP; ++p) {
      const __m256i x0 = _mm256_load_si256((const __m256i *)(v + p * TP + t0)), x1 = _mm256_load_si256((const __m256i *)(v + p * TP + t0 + 8));
      for (int k = 0; k < 4; ++k) {
        const __m256i b = _mm256_set1_epi32(u[p * 4 + k]);
        acc[k][0] = _mm256_add_epi32(acc[k][0], _mm256_madd_epi16(x0, b));
        acc[k][1] = _mm256_add_epi32(acc[k][1], _mm256_madd_epi16(x1, b));
      }
    }
    for (int k = 0; k < 4; ++k) {
      _mm256_store_si256((__m256i *)(m + k * TP + t0), acc[k][0]);
      _mm256_store_si256((__m256i *)(m + k * TP + t0 + 8), acc[k][1]);
    }
  }
}

__attribute__((noinline)) void runWino(const uint8_t *x, uint8_t zero, const int32_t *u, QConvShape s, const QConvOutput &o) {
  s.Cg = C; s.Kg = K; s.C4 = (C + 3) / 4; s.maxRowOff = 2; s.maxColOff = 2; s.Wph = s.OW + 2;
  alignas(64) static int32_t v[16 * CP * TP];
  alignas(64) static int32_t m[16 * 4 * TP];
  alignas(64) static int32_t acc[4 * kAccPositions];
  for (int oh0 = 0; oh0 < H; oh0 += RBW) {
    const int nrows = std::min(RBW, H - oh0), tileRows = (nrows + 1) / 2, T = tileRows * TX;
#ifndef NO_IT
    typedef short I16 __attribute__((ext_vector_type(16)));
    typedef int I32 __attribute__((ext_vector_type(8)));
    typedef int I32u __attribute__((ext_vector_type(8), aligned(4)));
    const uint32_t zeroWord = (uint32_t)zero | (uint32_t)zero << 16;
    for (int p = 0; p < CP; ++p) {
      for (int ty = 0; ty < tileRows; ++ty) {
        alignas(32) uint32_t rw[4][2 * TX + 32];
        for (int i = 0; i < 4; ++i) {
          const int ih = oh0 + 2 * ty - 1 + i;
          uint32_t *r = rw[i];
          if (ih < 0 || ih >= H) { for (int j = 0; j < 2 * TX + 32; ++j) r[j] = zeroWord; continue; }
          const uint8_t *a = x + ((int64_t)(2 * p) * H + ih) * W;
          const uint8_t *b = 2 * p + 1 < C ? a + H * W : nullptr;
          r[0] = zeroWord;
          if (b) for (int j = 0; j < W; ++j) r[j + 1] = (uint32_t)a[j] | (uint32_t)b[j] << 16;
          else for (int j = 0; j < W; ++j) r[j + 1] = (uint32_t)a[j] | (uint32_t)zero << 16;
          for (int j = W + 1; j < 2 * TX + 32; ++j) r[j] = zeroWord;
        }
        for (int tx0 = 0; tx0 < TX; tx0 += 8) {
          I32 rr[4][3];
          for (int i = 0; i < 4; ++i) {
            rr[i][0] = *(const I32u *)(rw[i] + 2 * tx0);
            rr[i][1] = *(const I32u *)(rw[i] + 2 * tx0 + 8);
            rr[i][2] = *(const I32u *)(rw[i] + 2 * tx0 + 16);
          }
          I16 tv[4][3];
          for (int q = 0; q < 3; ++q) {
            const I16 r0 = (I16)rr[0][q], r1 = (I16)rr[1][q], r2 = (I16)rr[2][q], r3 = (I16)rr[3][q];
            tv[0][q] = r0 - r2; tv[1][q] = r1 + r2; tv[2][q] = r2 - r1; tv[3][q] = r1 - r3;
          }
          for (int i = 0; i < 4; ++i) {
            const I32 a0 = (I32)tv[i][0], a1 = (I32)tv[i][1], a2 = (I32)tv[i][2];
            const I32 E = __builtin_shufflevector(a0, a1, 0, 2, 4, 6, 8, 10, 12, 14);
            const I32 O = __builtin_shufflevector(a0, a1, 1, 3, 5, 7, 9, 11, 13, 15);
            const I32 a12 = __builtin_shufflevector(a1, a2, 2, 3, 4, 5, 6, 7, 8, 9);
            const I32 a02 = __builtin_shufflevector(a0, a1, 2, 3, 4, 5, 6, 7, 8, 9);
            const I32 E2 = __builtin_shufflevector(a02, a12, 0, 2, 4, 6, 8, 10, 12, 14);
            const I32 O2 = __builtin_shufflevector(a02, a12, 1, 3, 5, 7, 9, 11, 13, 15);
            const I16 e = (I16)E, o = (I16)O, e2 = (I16)E2, o2 = (I16)O2;
            int32_t *dst = v + ((i * 4) * CP + p) * TP + ty * TX + tx0;
            *(I32u *)(dst) = (I32)(e - e2);
            *(I32u *)(dst + CP * TP) = (I32)(o + e2);
            *(I32u *)(dst + 2 * CP * TP) = (I32)(e2 - o);
            *(I32u *)(dst + 3 * CP * TP) = (I32)(o - o2);
          }
        }
      }
      for (int xi = 0; xi < 16; ++xi) for (int t = T; t < TP; ++t) v[(xi * CP + p) * TP + t] = 0;
    }
#endif
    __asm__ volatile("" :: "r"(v), "r"(m), "r"(acc) : "memory");
    for (int kb = 0; kb < K / 4; ++kb) {
#ifndef NO_PR
      for (int xi = 0; xi < 16; ++xi)
        winogradProducts(v + xi * CP * TP, u + ((kb * 16 + xi) * CP) * 4, m + xi * 4 * TP, T);
#endif
      __asm__ volatile("" :: "r"(v), "r"(m), "r"(acc) : "memory");
#ifndef NO_OT
      {
      typedef int I32 __attribute__((ext_vector_type(8)));
      typedef int I32u __attribute__((ext_vector_type(8), aligned(4)));
      for (int k = 0; k < 4; ++k)
        for (int ty = 0; ty < tileRows; ++ty) {
          const int32_t *mk = m + k * TP + ty * TX;
          int32_t *out0 = acc + k * kAccPositions + (2 * ty) * s.Wph, *out1 = out0 + s.Wph;
          for (int tx = 0;; tx += 8) {
            if (tx > TX - 8) tx = TX - 8; // the last step overlaps the one before
            I32 mm[16];
            for (int xi = 0; xi < 16; ++xi) mm[xi] = *(const I32u *)(mk + xi * 4 * TP + tx);
            I32 a[4], b[4];
            for (int j = 0; j < 4; ++j) {
              a[j] = mm[j] + mm[4 + j] + mm[8 + j];
              b[j] = mm[4 + j] - mm[8 + j] - mm[12 + j];
            }
            const I32 y00 = (a[0] + a[1] + a[2]) >> 2, y01 = (a[1] - a[2] - a[3]) >> 2;
            const I32 y10 = (b[0] + b[1] + b[2]) >> 2, y11 = (b[1] - b[2] - b[3]) >> 2;
            *(I32u *)(out0 + 2 * tx) = __builtin_shufflevector(y00, y01, 0, 8, 1, 9, 2, 10, 3, 11);
            *(I32u *)(out0 + 2 * tx + 8) = __builtin_shufflevector(y00, y01, 4, 12, 5, 13, 6, 14, 7, 15);
            *(I32u *)(out1 + 2 * tx) = __builtin_shufflevector(y10, y11, 0, 8, 1, 9, 2, 10, 3, 11);
            *(I32u *)(out1 + 2 * tx + 8) = __builtin_shufflevector(y10, y11, 4, 12, 5, 13, 6, 14, 7, 15);
            if (tx + 8 >= TX) break;
          }
        }
      }
#endif
      __asm__ volatile("" :: "r"(v), "r"(m), "r"(acc) : "memory");
#ifndef NO_EPI
      for (int k = 0; k < 4; ++k) epilogue<kDotAvx2Bytes>(acc + k * kAccPositions, s, o, 0, kb * 4 + k, oh0, nrows);
#endif
    }
  }
}

int main() {
  srand(3);
  std::vector<uint8_t> x(C * H * W);
  for (auto &v : x) v = rand() % 128;
  std::vector<int8_t> w(K * C * 9);
  for (auto &v : w) { int r = rand() % 256 - 128; v = (int8_t)(rand() % 4 ? r / 4 : r); }
  const uint8_t zero = kZeroPoint;
  // dense packing: [kBlock][taps][C4][MK=4] words
  const int C4 = (C + 3) / 4;
  std::vector<int32_t> wp((K / 4) * 9 * C4 * 4);
  for (int kb = 0; kb < K / 4; ++kb) for (int t = 0; t < 9; ++t) for (int c4 = 0; c4 < C4; ++c4) for (int mm = 0; mm < 4; ++mm) {
    uint32_t word = 0;
    for (int b = 0; b < 4; ++b) { int c = c4 * 4 + b; int8_t wv = c < C ? w[((kb * 4 + mm) * C + c) * 9 + t] : 0; word |= (uint32_t)(uint8_t)wv << (8 * b); }
    wp[((kb * 9 + t) * C4 + c4) * 4 + mm] = (int32_t)word;
  }
  std::vector<int32_t> corr(K);
  for (int k = 0; k < K; ++k) { int s = 0; for (int q = 0; q < C * 9; ++q) s += w[k * C * 9 + q]; corr[k] = -zero * s; }
  std::vector<float> scales(K, 0.001f), biases(K, 0.f), rs(K), ro(K);
  for (int k = 0; k < K; ++k) { rs[k] = 0.0005f + 0.00001f * k; ro[k] = 30.0f; }
  std::vector<uint8_t> y1(K * H * W), y2(K * H * W);
  QConvShape s{1, C, H, W, K, 1, 3, 3, H, W, 1, 1, 1, 1, 1, 1, RBD, K, 0, 0, 0, 0, 0, 0};
  QConvOutput o1{corr.data(), scales.data(), biases.data(), nullptr, 0, 0, 0, y1.data(), 1, 0, 0, 0, 0, 0, rs.data(), ro.data(), 0.f, 255.f};
  QConvOutput o2 = o1; o2.y = y2.data();
  // Winograd weights U' = (2G) g (2G)^T as [K/4][16 xi][CP][4 channels] words (int16 pairs).
  std::vector<int32_t> u((K / 4) * 16 * CP * 4);
  const int G2[4][3] = {{2, 0, 0}, {1, 1, 1}, {1, -1, 1}, {0, 0, 2}};
  for (int k = 0; k < K; ++k) for (int c = 0; c < 2 * CP; ++c) {
    int tmp[4][3] = {};
    if (c < C) for (int i = 0; i < 4; ++i) for (int j = 0; j < 3; ++j) for (int l = 0; l < 3; ++l) tmp[i][j] += G2[i][l] * w[(k * C + c) * 9 + l * 3 + j];
    for (int i = 0; i < 4; ++i) for (int j = 0; j < 4; ++j) {
      int v = 0; for (int l = 0; l < 3; ++l) v += tmp[i][l] * G2[j][l];
      int16_t *dst = (int16_t *)&u[(((k / 4) * 16 + i * 4 + j) * CP + c / 2) * 4 + k % 4];
      dst[c & 1] = (int16_t)v;
    }
  }
  runDense(x.data(), wp.data(), s, o1);
  QConvShape sw = s; sw.rowsPerTask = RBW;
  runWino(x.data(), zero, u.data(), sw, o2);
  int diff = 0; for (size_t i = 0; i < y1.size(); ++i) diff += y1[i] != y2[i];
  int nz = 0; for (auto b : y1) nz += b != 0 && b != 255;
  printf("outputs differing: %d of %zu (%d not clamped)\n", diff, y1.size(), nz);
  double best[2] = {1e9, 1e9};
  for (int round = 0; round < 20; ++round) for (int v = 0; v < 2; ++v) {
    auto t0 = std::chrono::steady_clock::now();
    for (int it = 0; it < 5; ++it) { if (v == 0) runDense(x.data(), wp.data(), s, o1); else runWino(x.data(), zero, u.data(), sw, o2); }
    best[v] = std::min(best[v], std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 5);
  }
  printf("C=%d H=%d: dense %.3f ms  winograd %.3f ms  (%.2fx)\n", C, H, best[0] * 1e3, best[1] * 1e3, best[0] / best[1]);
}
