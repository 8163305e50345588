// Harness (not part of leip): the issue rate of the instructions the int8 and fp32 kernels
// multiply with, in a register-only loop of 8 independent accumulators (x86-64 with AVX2).
// On the AVX2-only Zen 3 VM (docs/performance-notes.md, session 7): u8 x s8 with
// vpmaddubsw + vpmaddwd + vpaddd 0.358 ns per 32 products, 0.475 with vpsignb (signed
// input), fp32 FMA 0.175 ns per 8: dense int8 peaks at 1.96x (1.47x) the FMA rate.
//
// Build and run:
//   gcc -O2 tools/kernel_harness/int8_throughput.c -o /tmp/int8_throughput
//   taskset -c 1 /tmp/int8_throughput
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#define N 100000000L
#define EIGHT(X) X("%%ymm0") X("%%ymm1") X("%%ymm2") X("%%ymm3") X("%%ymm4") X("%%ymm5") X("%%ymm6") X("%%ymm7")
#define CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm10", "xmm14"
#define BYTES(a) "vpmaddubsw %%ymm12,%%ymm13,%%ymm14\n vpmaddwd %%ymm15,%%ymm14,%%ymm14\n vpaddd %%ymm14," a "," a "\n"
#define SIGNS(a)                                                                                                       \
  "vpsignb %%ymm12,%%ymm11,%%ymm10\n vpmaddubsw %%ymm10,%%ymm13,%%ymm14\n vpmaddwd %%ymm15,%%ymm14,%%ymm14\n"         \
  " vpaddd %%ymm14," a "," a "\n"
#define SIGN_ONLY(a) "vpsignb %%ymm12,%%ymm11," a "\n"
#define FMA(a) "vfmadd231ps %%ymm12,%%ymm11," a "\n"

int main(void) {
  double t0 = now();
  for (long i = 0; i < N / 8; ++i) __asm__ volatile(EIGHT(BYTES)::: CLOBBERS);
  printf("vpmaddubsw + vpmaddwd + vpaddd: %.3f ns per 32 products\n", (now() - t0) / N * 1e9);
  t0 = now();
  for (long i = 0; i < N / 8; ++i) __asm__ volatile(EIGHT(SIGNS)::: CLOBBERS);
  printf("vpsignb + vpmaddubsw + vpmaddwd + vpaddd: %.3f ns per 32 products\n", (now() - t0) / N * 1e9);
  t0 = now();
  for (long i = 0; i < N / 8; ++i) __asm__ volatile(EIGHT(SIGN_ONLY)::: CLOBBERS);
  printf("vpsignb alone: %.3f ns per instruction\n", (now() - t0) / N * 1e9);
  t0 = now();
  for (long i = 0; i < N / 8; ++i) __asm__ volatile(EIGHT(FMA)::: CLOBBERS);
  printf("vfmadd231ps: %.3f ns per 8 products\n", (now() - t0) / N * 1e9);
  return 0;
}
