// Walking an N-d index space without a division per step (shared by the movement and
// indexing kernels).
#pragma once

#include <stdint.h>

namespace leip::kernels {

/// The most dims a kernel sees; the compiler merges contiguous dims before calling.
constexpr int64_t kMaxRank = 16;

/// The coordinates c of flat position `pos` over dims d[0..n), row-major.
inline void coordsOf(int64_t pos, const int64_t *d, int64_t n, int64_t *c) {
  for (int64_t i = n - 1; i >= 0; --i) {
    c[i] = pos % d[i];
    pos /= d[i];
  }
}

/// Advances coordinates c over dims d[0..n) by one position; the offset `off` follows with
/// per-dim strides s (an odometer).
inline void advanceCoords(const int64_t *d, const int64_t *s, int64_t n, int64_t *c, int64_t &off) {
  for (int64_t i = n - 1; i >= 0; --i) {
    off += s[i];
    if (++c[i] < d[i]) return;
    off -= c[i] * s[i];
    c[i] = 0;
  }
}

} // namespace leip::kernels
