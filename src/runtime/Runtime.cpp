// The runtime every artifact carries: the C ABI of include/leip/runtime.h over the model
// descriptor that the compiler emits (ModelDesc.h).
//
// Compiled to bitcode without the C++ library (docs/codegen-design.md): no exceptions,
// no new/delete, no static constructors, no thread-local storage (that would make the
// artifact need ld-linux for __tls_get_addr); only libc calls declared below.
#include "CpuFeatures.h"
#include "ModelDesc.h"

#include "leip/runtime.h"

#include <stddef.h>

extern "C" {
void *calloc(size_t count, size_t size);
void free(void *ptr);
int posix_memalign(void **pointer, size_t alignment, size_t size);
int madvise(void *address, size_t length, int advice);
int snprintf(char *buffer, size_t size, const char *format, ...);
int dprintf(int fd, const char *format, ...);
char *getenv(const char *name);

// pthreads and clock_gettime, declared by hand (no sysroot headers for aarch64). The
// mutex and condition variable are opaque storage that is larger and at least as aligned
// as glibc's types on x86_64 (40/48 bytes) and aarch64 (48/48 bytes); only pthread_*_init
// ever looks inside. pthread_t is `unsigned long` on both; CLOCK_MONOTONIC is 1 on Linux.
typedef unsigned long leip_pthread_t;
struct leip_pthread_mutex {
  alignas(16) unsigned char opaque[64];
};
struct leip_pthread_cond {
  alignas(16) unsigned char opaque[64];
};
struct leip_timespec {
  long tv_sec;
  long tv_nsec;
};
int pthread_create(leip_pthread_t *thread, const void *attr, void *(*start)(void *), void *arg);
int pthread_join(leip_pthread_t thread, void **result);
int pthread_mutex_init(leip_pthread_mutex *mutex, const void *attr);
int pthread_mutex_destroy(leip_pthread_mutex *mutex);
int pthread_mutex_lock(leip_pthread_mutex *mutex);
int pthread_mutex_unlock(leip_pthread_mutex *mutex);
int pthread_cond_init(leip_pthread_cond *cond, const void *attr);
int pthread_cond_destroy(leip_pthread_cond *cond);
int pthread_cond_wait(leip_pthread_cond *cond, leip_pthread_mutex *mutex);
int pthread_cond_broadcast(leip_pthread_cond *cond);
int clock_gettime(int clock, leip_timespec *time);
int sched_yield(void);
unsigned long getauxval(unsigned long type);

// Defined by the compiler in the generated module (CompilerSupport.cpp, sealArtifact):
// the CPU features the code was compiled for ("avx2,fma,..." of CpuFeatures.h) and the
// sha256 of model_schema.json. Weak: null in artifacts built without them.
__attribute__((weak)) extern const char leip_compiled_cpu_features[];
__attribute__((weak)) extern const char leip_compiled_schema_sha256[];
}

namespace {

/// The worker threads of one context (the calling thread takes part too; it is not stored).
/// See "thread pool" below for the protocol.
struct Pool {
  int32_t size = 1;      // threads that work on each node, the caller included
  int32_t splitAll = 0;  // LEIP_SPLIT_EVERY_NODE: ignore each node's max_chunks (for tests)
  uint64_t word = 0;     // atomic: node sequence number << kChunkBits (the published node)
  // Atomic claim counters, one per thread's home range, a cache line apart:
  // ranges[t * kCounterStride] = (node sequence number << kChunkBits) | next chunk of range t.
  uint64_t *ranges = nullptr;
  int64_t done = 0;      // atomic: chunks of the published node that are finished
  int32_t sleepers = 0;  // atomic: workers blocked on `cond`
  int32_t stop = 0;      // atomic: set to make the workers exit
  uint64_t nextSeq = 0;  // sequence number of the current run's first node (caller only)
  leip_pthread_t *threads = nullptr;
  struct Worker *workers = nullptr;
  leip_pthread_mutex mutex;
  leip_pthread_cond cond;
};

struct Worker {
  struct ::leip_context *context;
  int32_t home; // the worker's range of each node's chunks (the caller has range 0)
};

} // namespace

struct leip_model {
  const leip_model_desc *desc;
};

/// leip_context::magic of a live context: catches a pointer that is not one of this
/// library's contexts (another artifact's, freed, garbage) before it is used.
constexpr uint64_t kContextMagic = 0x6c6569702d637478ull; // "leip-ctx"

struct leip_context {
  uint64_t magic;
  int32_t busy; // atomic: a run is in progress (one at a time per context)
  const leip_model *model;
  char *arena;
  void **io;
  int32_t threads; // requested with leip_context_set_threads (default 1)
  Pool *pool;      // created by the first run that needs more than one thread
  char error[256];
  // LEIP_PROFILE set in the environment: wall time per node over all runs, printed to
  // stderr when the context is destroyed (for finding where the time goes).
  int64_t *nodeNanoseconds;
  int64_t profiledRuns;
};

namespace {

const leip_model kModel = {&leip_compiled_model};

char gLastError[256];

bool isContext(const leip_context *context) {
  return context && context->magic == kContextMagic && context->model == &kModel;
}

} // namespace

#include "ModelQueries.h"

namespace {

// ---- thread pool -------------------------------------------------------------------
//
// The caller walks the node table. For a node worth splitting it cuts [0, task_count) into
// a few chunks per thread, gives thread t the home range [t, t + 1) * chunks / threads, and
// publishes the node in one atomic word (its sequence number). Every thread, the caller
// included, claims chunks of its home range by compare-and-swap, then those left in the
// other ranges, and the caller waits until all claimed chunks are done before the next
// node (which reads what they wrote). Home ranges keep each thread on the same part of
// every node (nodes order their tasks by position or by channel), so it mostly reads what
// it wrote itself, from its own cache. Chunk boundaries depend only on the task count and
// the pool size, and tasks write disjoint outputs, so results are bitwise identical for any
// thread count. Claiming (rather than a fixed share per thread) means a worker the OS has
// not scheduled yet delays nothing: the others take its chunks. Idle workers spin for a
// short while and then sleep on a condition variable.
//
// Sequence numbers: run r gives node n the number (r + 1) * num_nodes + n, so a worker
// finds the node as seq % num_nodes, and a claim on a node that has moved on fails its
// compare-and-swap (the word changed).

constexpr int kChunkBits = 20;
constexpr int32_t kCounterStride = 8; // uint64_t per claim counter: one cache line
constexpr uint64_t kChunkMask = (uint64_t(1) << kChunkBits) - 1;
/// Chunks per thread: a few, so that a slow or late thread can be compensated.
constexpr int64_t kChunksPerThread = 4;
/// How long an idle worker spins before it sleeps. Long enough to bridge the gap between
/// two nodes (or two back-to-back inferences), short enough not to burn a core when idle.
constexpr int64_t kSpinNanoseconds = 200 * 1000;

/// The activation arena: aligned as the compiler planned its offsets (kAlignment, 64 bytes;
/// with malloc's 16, half of the kernels' 32-byte vector loads crossed a cache line), and
/// from 2 MiB on, on 2 MiB boundaries with transparent huge pages asked for (madvise; a
/// no-op where the kernel does not offer them), so that it takes few TLB entries and its
/// placement in the caches does not change from one process to the next. mobilenet_v2 fp32
/// (6.8 MB of activations): 2-4 % faster at 1 and 2 threads on an AVX2 Zen 3.
char *allocateArena(size_t bytes) {
  const size_t huge = (size_t)2 << 20;
  void *arena = nullptr;
  if (posix_memalign(&arena, bytes >= huge ? huge : 64, bytes) != 0) return nullptr;
  if (bytes >= huge) madvise(arena, bytes & ~(huge - 1), 14 /* MADV_HUGEPAGE */);
  return static_cast<char *>(arena);
}

int64_t nowNanoseconds() {
  leip_timespec t{0, 0};
  clock_gettime(1 /* CLOCK_MONOTONIC */, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __builtin_arm_yield();
#endif
}

int64_t chunkCount(const leip_node_desc &node, const Pool &pool) {
  int64_t chunks = pool.size * kChunksPerThread;
  if (chunks > node.max_chunks && !pool.splitAll) chunks = node.max_chunks;
  if (chunks > node.task_count) chunks = node.task_count;
  if (chunks > (int64_t)kChunkMask) chunks = (int64_t)kChunkMask;
  // A multiple of the threads, so every home range holds the same share of the tasks and
  // its bounds fall at the same fraction of every node's tasks (7 chunks at 2 threads
  // gave homes of 3 and 4: thread 0 read 68 of the 480 channels thread 1 had written).
  if (chunks > pool.size) chunks -= chunks % pool.size;
  return chunks;
}

void runChunk(leip_context *context, const leip_node_desc &node, int64_t chunk, int64_t chunks) {
  // No overflow: task counts are at most a tensor's byte size and chunks < 2^20.
  // (No __int128 here: its division would need compiler-rt, which artifacts do not link.)
  int64_t begin = node.task_count * chunk / chunks;
  int64_t end = node.task_count * (chunk + 1) / chunks;
  if (begin < end) node.fn(context->arena, context->io, begin, end);
}

/// Claims and runs chunks of the node published in `word`, from home range `home` first,
/// until none is left or the pool moves on to another node.
void helpWith(leip_context *context, uint64_t word, int32_t home) {
  Pool *pool = context->pool;
  const leip_model_desc *desc = context->model->desc;
  const uint64_t seq = word >> kChunkBits;
  const leip_node_desc &node = desc->nodes[seq % (uint64_t)desc->num_nodes];
  const int64_t chunks = chunkCount(node, *pool);
  for (int32_t k = 0; k < pool->size; ++k) {
    const int32_t range = (home + k) % pool->size;
    const int64_t end = chunks * (range + 1) / pool->size;
    uint64_t *counter = &pool->ranges[range * kCounterStride];
    uint64_t claim = __atomic_load_n(counter, __ATOMIC_ACQUIRE);
    for (;;) {
      if ((claim >> kChunkBits) != seq) return; // the caller has moved on to another node
      if ((int64_t)(claim & kChunkMask) >= end) break;
      if (__atomic_compare_exchange_n(counter, &claim, claim + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        runChunk(context, node, (int64_t)(claim & kChunkMask), chunks);
        __atomic_fetch_add(&pool->done, 1, __ATOMIC_RELEASE);
        claim = __atomic_load_n(counter, __ATOMIC_ACQUIRE);
      } // else: `claim` now holds the current value; look again
    }
  }
}

/// Waits until the pool publishes a node other than `seenSeq` (or stops); returns the word.
uint64_t waitForWork(Pool *pool, uint64_t seenSeq) {
  int64_t deadline = 0;
  for (int32_t spin = 0;; ++spin) {
    uint64_t word = __atomic_load_n(&pool->word, __ATOMIC_ACQUIRE);
    if ((word >> kChunkBits) != seenSeq || __atomic_load_n(&pool->stop, __ATOMIC_ACQUIRE)) return word;
    cpuRelax();
    // Read the clock only now and then: it costs more than a pause.
    if ((spin & 255) == 255) {
      int64_t now = nowNanoseconds();
      if (deadline == 0) deadline = now + kSpinNanoseconds;
      else if (now > deadline) break;
    }
  }
  // Sleep. The count is raised before the check under the mutex, and the caller stores the
  // word before it reads the count (both sequentially consistent), so either this thread
  // sees the new word or the caller sees a sleeper and broadcasts under the mutex.
  __atomic_fetch_add(&pool->sleepers, 1, __ATOMIC_SEQ_CST);
  pthread_mutex_lock(&pool->mutex);
  while ((__atomic_load_n(&pool->word, __ATOMIC_SEQ_CST) >> kChunkBits) == seenSeq &&
         !__atomic_load_n(&pool->stop, __ATOMIC_SEQ_CST))
    pthread_cond_wait(&pool->cond, &pool->mutex);
  pthread_mutex_unlock(&pool->mutex);
  __atomic_fetch_sub(&pool->sleepers, 1, __ATOMIC_SEQ_CST);
  return __atomic_load_n(&pool->word, __ATOMIC_ACQUIRE);
}

void wakeSleepers(Pool *pool) {
  if (__atomic_load_n(&pool->sleepers, __ATOMIC_SEQ_CST) == 0) return;
  pthread_mutex_lock(&pool->mutex);
  pthread_cond_broadcast(&pool->cond);
  pthread_mutex_unlock(&pool->mutex);
}

void *workerMain(void *arg) {
  leip_context *context = static_cast<Worker *>(arg)->context;
  const int32_t home = static_cast<Worker *>(arg)->home;
  Pool *pool = context->pool;
  uint64_t seenSeq = 0;
  for (;;) {
    uint64_t word = waitForWork(pool, seenSeq);
    if (__atomic_load_n(&pool->stop, __ATOMIC_ACQUIRE)) return nullptr;
    seenSeq = word >> kChunkBits;
    helpWith(context, word, home);
  }
}

/// The caller's side of a run: every node in order, split across the pool when worthwhile.
void runNodes(leip_context *context) {
  const leip_model_desc *desc = context->model->desc;
  Pool *pool = context->pool;
  int64_t *profile = context->nodeNanoseconds;
  int64_t start = profile ? nowNanoseconds() : 0;
  // Charges the time since the last mark to node n.
  auto mark = [&](int32_t n) {
    if (!profile) return;
    const int64_t now = nowNanoseconds();
    profile[n] += now - start;
    start = now;
  };
  if (profile) ++context->profiledRuns;
  if (!pool) {
    for (int32_t n = 0; n < desc->num_nodes; ++n) {
      desc->nodes[n].fn(context->arena, context->io, 0, desc->nodes[n].task_count);
      mark(n);
    }
    return;
  }
  pool->nextSeq += (uint64_t)desc->num_nodes;
  for (int32_t n = 0; n < desc->num_nodes; ++n) {
    const leip_node_desc &node = desc->nodes[n];
    const int64_t chunks = chunkCount(node, *pool);
    if (chunks <= 1) { // nothing to share: no need to involve the workers
      node.fn(context->arena, context->io, 0, node.task_count);
      mark(n);
      continue;
    }
    // All chunks of the previous node are done, so nobody touches `done` now.
    __atomic_store_n(&pool->done, 0, __ATOMIC_RELAXED);
    const uint64_t word = (pool->nextSeq + (uint64_t)n) << kChunkBits;
    for (int32_t t = 0; t < pool->size; ++t)
      __atomic_store_n(&pool->ranges[t * kCounterStride], word | (uint64_t)(chunks * t / pool->size), __ATOMIC_RELAXED);
    __atomic_store_n(&pool->word, word, __ATOMIC_SEQ_CST); // publishes the counters too
    wakeSleepers(pool);
    helpWith(context, word, 0);
    // Wait for chunks that workers still run; yield now and then in case a worker holding
    // one was preempted (the machine may have fewer free cores than threads).
    for (int32_t spin = 1; __atomic_load_n(&pool->done, __ATOMIC_ACQUIRE) < chunks; ++spin) {
      cpuRelax();
      if ((spin & 1023) == 0) sched_yield();
    }
    mark(n);
  }
}

/// Prints the profile of LEIP_PROFILE: per node, its mean wall time and share.
void printProfile(const leip_context *context) {
  const leip_model_desc *desc = context->model->desc;
  if (!context->nodeNanoseconds || context->profiledRuns == 0) return;
  int64_t total = 0;
  for (int32_t n = 0; n < desc->num_nodes; ++n) total += context->nodeNanoseconds[n];
  dprintf(2, "leip profile: %lld runs, %d threads, mean %.3f ms per run (node numbers as in `leip compile -v`)\n",
          (long long)context->profiledRuns, (int)context->threads, total / 1e6 / context->profiledRuns);
  for (int32_t n = 0; n < desc->num_nodes; ++n) {
    const int64_t ns = context->nodeNanoseconds[n];
    dprintf(2, "  node %4d  %9.4f ms  %5.1f%%  %lld tasks\n", (int)n, ns / 1e6 / context->profiledRuns,
            total ? 100.0 * ns / total : 0.0, (long long)desc->nodes[n].task_count);
  }
}

/// Stops and joins the workers and frees the pool.
void destroyPool(leip_context *context) {
  Pool *pool = context->pool;
  if (!pool) return;
  __atomic_store_n(&pool->stop, 1, __ATOMIC_SEQ_CST);
  pthread_mutex_lock(&pool->mutex);
  pthread_cond_broadcast(&pool->cond);
  pthread_mutex_unlock(&pool->mutex);
  for (int32_t i = 0; i < pool->size - 1; ++i) pthread_join(pool->threads[i], nullptr);
  pthread_cond_destroy(&pool->cond);
  pthread_mutex_destroy(&pool->mutex);
  free(pool->threads);
  free(pool->workers);
  free(pool->ranges);
  free(pool);
  context->pool = nullptr;
}

/// Makes the context's pool match its thread count, starting threads-1 workers. When the
/// system refuses threads, the pool runs with those it got (the caller alone if none).
void ensurePool(leip_context *context) {
  if (context->pool && context->pool->size == context->threads) return;
  destroyPool(context);
  if (context->threads <= 1 || context->model->desc->num_nodes == 0) return;
  Pool *pool = static_cast<Pool *>(calloc(1, sizeof(Pool)));
  if (!pool) return;
  int32_t workers = context->threads - 1;
  pool->threads = static_cast<leip_pthread_t *>(calloc((size_t)workers, sizeof(leip_pthread_t)));
  pool->workers = static_cast<Worker *>(calloc((size_t)workers, sizeof(Worker)));
  pool->ranges = static_cast<uint64_t *>(calloc((size_t)(workers + 1) * kCounterStride, sizeof(uint64_t)));
  if (!pool->threads || !pool->workers || !pool->ranges || pthread_mutex_init(&pool->mutex, nullptr) != 0) {
    free(pool->threads);
    free(pool->workers);
    free(pool->ranges);
    free(pool);
    return;
  }
  pthread_cond_init(&pool->cond, nullptr);
  pool->word = kChunkMask; // sequence 0, nothing to claim
  pool->size = 1;
  // Tests set it so that every node runs split across the threads, however small (the
  // compiler keeps nodes of under ~20 us of work on one thread).
  const char *splitAll = getenv("LEIP_SPLIT_EVERY_NODE");
  pool->splitAll = splitAll && splitAll[0] && !(splitAll[0] == '0' && !splitAll[1]);
  context->pool = pool;
  for (int32_t i = 0; i < workers; ++i) {
    pool->workers[i] = Worker{context, i + 1};
    if (pthread_create(&pool->threads[i], nullptr, workerMain, &pool->workers[i]) != 0) break;
    // Counted as it starts: destroyPool joins exactly the threads that exist. Workers read
    // `size` only in a node published after this function returns.
    pool->size = i + 2;
  }
  context->threads = pool->size;
  if (pool->size == 1) destroyPool(context);
}

bool sameName(const char *a, const char *aEnd, const char *b) {
  for (; a < aEnd; ++a, ++b)
    if (*a != *b) return false;
  return *b == 0;
}

/// Whether this CPU (and OS) supports the feature named [name, end), or -1 for a name the
/// runtime does not know.
int hasCpuFeature(const char *name, const char *end) {
#if defined(__x86_64__)
  auto cpuid = [](uint32_t leaf, uint32_t subleaf, uint32_t r[4]) {
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(subleaf));
  };
  for (const leip_cpu::X86Feature &f : leip_cpu::kX86Features) {
    if (!sameName(name, end, f.name)) continue;
    uint32_t r[4];
    cpuid(f.leaf & 0x80000000u, 0, r); // the highest leaf of this range
    if (r[0] < f.leaf) return 0;
    cpuid(f.leaf, f.subleaf, r);
    if (!((r[f.reg] >> f.bit) & 1)) return 0;
    if (!f.xcr0) return 1;
    cpuid(1, 0, r);
    if (!((r[2] >> 27) & 1)) return 0; // no OSXSAVE: the OS saves no AVX state
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & f.xcr0) == f.xcr0;
  }
  return -1;
#elif defined(__aarch64__)
  for (const leip_cpu::Arm64Feature &f : leip_cpu::kArm64Features) {
    if (!sameName(name, end, f.name)) continue;
    const unsigned long caps = getauxval(f.hwcap == 1 ? 16 /* AT_HWCAP */ : 26 /* AT_HWCAP2 */);
    return (caps >> f.bit) & 1;
  }
  return -1;
#else
  return -1;
#endif
}

/// leip_context_run after the context is claimed: checks the buffers, then runs.
leip_status runChecked(leip_context *context, const void *const *inputs, const int64_t *input_bytes,
                       void *const *outputs, const int64_t *output_bytes);

} // namespace

extern "C" {

// Exported functions keep the generic CPU the bitcode was built for (internalizeForTarget),
// so this runs on any CPU of the architecture and can say what is missing.
leip_status leip_model_check_cpu(const leip_model *model) {
  if (model != &kModel) {
    snprintf(gLastError, sizeof gLastError, "leip_model_check_cpu: not this library's model");
    return LEIP_ERROR_INVALID_ARGUMENT;
  }
  const char *features = leip_compiled_cpu_features;
  if (!features) return LEIP_OK;
  char missing[160];
  size_t used = 0;
  missing[0] = 0;
  for (const char *p = features; *p;) {
    const char *end = p;
    while (*end && *end != ',') ++end;
    if (end > p && hasCpuFeature(p, end) != 1 && used + (size_t)(end - p) + 3 < sizeof missing) {
      if (used) missing[used++] = ',';
      for (const char *c = p; c < end; ++c) missing[used++] = *c;
      missing[used] = 0;
    }
    p = *end ? end + 1 : end;
  }
  if (!used) return LEIP_OK;
  snprintf(gLastError, sizeof gLastError,
           "this CPU lacks %s, which the artifact was compiled for (compiled features: %s); recompile for this "
           "machine (leip compile without --target, or --target with its -mcpu)",
           missing, features);
  return LEIP_ERROR_UNSUPPORTED_CPU;
}

const char *leip_model_schema_sha256(const leip_model *model) {
  if (model != &kModel) return nullptr;
  return leip_compiled_schema_sha256 ? leip_compiled_schema_sha256 : "";
}

leip_status leip_context_create(const leip_model *model, leip_context **context) {
  if (!model || !context) {
    snprintf(gLastError, sizeof gLastError, "leip_context_create: null argument");
    return LEIP_ERROR_INVALID_ARGUMENT;
  }
  *context = nullptr;
  if (model != &kModel) {
    snprintf(gLastError, sizeof gLastError, "leip_context_create: not this library's model (use leip_model_get)");
    return LEIP_ERROR_INVALID_ARGUMENT;
  }
  // Before any code compiled for the artifact's CPU runs.
  if (leip_status status = leip_model_check_cpu(model); status != LEIP_OK) return status;
  leip_context *ctx = static_cast<leip_context *>(calloc(1, sizeof(leip_context)));
  if (!ctx) {
    snprintf(gLastError, sizeof gLastError, "leip_context_create: out of memory");
    return LEIP_ERROR_OUT_OF_MEMORY;
  }
  const leip_model_desc *desc = model->desc;
  ctx->model = model;
  ctx->threads = 1;
  // One allocation for every activation (offsets planned at compile time); at least one
  // byte so that a model without intermediates still gets a valid pointer.
  ctx->arena = allocateArena(desc->arena_bytes > 0 ? (size_t)desc->arena_bytes : 1);
  ctx->io = static_cast<void **>(calloc((size_t)(desc->num_inputs + desc->num_outputs) + 1, sizeof(void *)));
  const char *profile = getenv("LEIP_PROFILE");
  if (profile && profile[0] && !(profile[0] == '0' && !profile[1]))
    ctx->nodeNanoseconds = static_cast<int64_t *>(calloc((size_t)desc->num_nodes + 1, sizeof(int64_t)));
  if (!ctx->arena || !ctx->io) {
    leip_context_destroy(ctx);
    snprintf(gLastError, sizeof gLastError, "leip_context_create: out of memory (%lld activation bytes)",
             (long long)desc->arena_bytes);
    return LEIP_ERROR_OUT_OF_MEMORY;
  }
  ctx->magic = kContextMagic;
  *context = ctx;
  return LEIP_OK;
}

void leip_context_destroy(leip_context *context) {
  if (!isContext(context)) return; // null, or not a live context: nothing safe to free
  context->magic = 0; // a second destroy of the same pointer is then a no-op (while the memory is not reused)
  destroyPool(context);
  printProfile(context);
  free(context->nodeNanoseconds);
  free(context->arena);
  free(context->io);
  free(context);
}

leip_status leip_context_set_threads(leip_context *context, int32_t threads) {
  if (!isContext(context)) return LEIP_ERROR_INVALID_ARGUMENT;
  if (__atomic_load_n(&context->busy, __ATOMIC_ACQUIRE)) {
    snprintf(context->error, sizeof context->error, "set_threads: the context is running on another thread");
    return LEIP_ERROR_INVALID_ARGUMENT;
  }
  if (threads < 1 || threads > LEIP_MAX_THREADS) {
    snprintf(context->error, sizeof context->error, "set_threads: thread count must be in [1, %d], got %d",
             LEIP_MAX_THREADS, (int)threads);
    return LEIP_ERROR_INVALID_ARGUMENT;
  }
  context->threads = threads; // the pool follows at the next run
  return LEIP_OK;
}

int32_t leip_context_threads(const leip_context *context) { return isContext(context) ? context->threads : -1; }

leip_status leip_context_run(leip_context *context, const void *const *inputs, const int64_t *input_bytes,
                             void *const *outputs, const int64_t *output_bytes) {
  if (!isContext(context)) {
    snprintf(gLastError, sizeof gLastError, "run: not a context of this library (null, destroyed or foreign)");
    return LEIP_ERROR_INVALID_ARGUMENT;
  }
  int32_t idle = 0;
  if (!__atomic_compare_exchange_n(&context->busy, &idle, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
    // Not context->error: the running call owns it.
    snprintf(gLastError, sizeof gLastError, "run: the context is already running on another thread; give each "
                                            "thread its own context");
    return LEIP_ERROR_INVALID_ARGUMENT;
  }
  leip_status status = runChecked(context, inputs, input_bytes, outputs, output_bytes);
  __atomic_store_n(&context->busy, 0, __ATOMIC_RELEASE);
  return status;
}

} // extern "C"

namespace {

bool overlaps(const void *a, int64_t aBytes, const void *b, int64_t bBytes) {
  const uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
  return x < y + (uintptr_t)bBytes && y < x + (uintptr_t)aBytes;
}

leip_status runChecked(leip_context *context, const void *const *inputs, const int64_t *input_bytes,
                       void *const *outputs, const int64_t *output_bytes) {
  const leip_model_desc *desc = context->model->desc;
  context->error[0] = 0;
  if ((desc->num_inputs && (!inputs || !input_bytes)) || (desc->num_outputs && (!outputs || !output_bytes))) {
    snprintf(context->error, sizeof context->error, "run: null input or output array");
    return LEIP_ERROR_INVALID_ARGUMENT;
  }
  for (int32_t i = 0; i < desc->num_inputs; ++i) {
    const leip_tensor_desc &t = desc->inputs[i];
    if (!inputs[i]) {
      snprintf(context->error, sizeof context->error, "run: input '%s' is null", t.name);
      return LEIP_ERROR_INVALID_ARGUMENT;
    }
    if (input_bytes[i] != t.bytes) {
      snprintf(context->error, sizeof context->error, "run: input '%s' has %lld bytes, the model expects %lld",
               t.name, (long long)input_bytes[i], (long long)t.bytes);
      return LEIP_ERROR_SHAPE;
    }
    context->io[i] = const_cast<void *>(inputs[i]);
  }
  for (int32_t i = 0; i < desc->num_outputs; ++i) {
    const leip_tensor_desc &t = desc->outputs[i];
    if (!outputs[i]) {
      snprintf(context->error, sizeof context->error, "run: output '%s' is null", t.name);
      return LEIP_ERROR_INVALID_ARGUMENT;
    }
    if (output_bytes[i] != t.bytes) {
      snprintf(context->error, sizeof context->error, "run: output '%s' has %lld bytes, the model writes %lld",
               t.name, (long long)output_bytes[i], (long long)t.bytes);
      return LEIP_ERROR_SHAPE;
    }
    context->io[desc->num_inputs + i] = outputs[i];
  }
  // An output that shares memory with an input or another output would be overwritten
  // while the model still reads it: wrong results, not a crash, so say so instead.
  for (int32_t i = 0; i < desc->num_outputs; ++i) {
    const leip_tensor_desc &t = desc->outputs[i];
    for (int32_t j = 0; j < desc->num_inputs + i; ++j) {
      const bool input = j < desc->num_inputs;
      const leip_tensor_desc &u = input ? desc->inputs[j] : desc->outputs[j - desc->num_inputs];
      if (t.bytes > 0 && u.bytes > 0 && overlaps(outputs[i], t.bytes, context->io[j], u.bytes)) {
        snprintf(context->error, sizeof context->error, "run: output '%s' overlaps %s '%s'; give it its own buffer",
                 t.name, input ? "input" : "output", u.name);
        return LEIP_ERROR_INVALID_ARGUMENT;
      }
    }
  }
  // Nodes are in topological order; with a pool, each node's tasks are shared out.
  ensurePool(context);
  runNodes(context);
  return LEIP_OK;
}

} // namespace

extern "C" {

leip_status leip_context_run_device(leip_context *context, const void *const *inputs, void *const *outputs) {
  if (!isContext(context)) return LEIP_ERROR_INVALID_ARGUMENT;
  snprintf(context->error, sizeof context->error, "this artifact runs on the CPU; use leip_context_run");
  return LEIP_ERROR_INVALID_ARGUMENT;
}

const char *leip_context_last_error(const leip_context *context) {
  return isContext(context) ? context->error : gLastError;
}

} // extern "C"
