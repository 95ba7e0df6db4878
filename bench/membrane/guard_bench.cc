// The determinism guard's cost on the calls it watches, beside the real C function called
// straight (through the pointer dlsym(RTLD_NEXT) gives, as the interposer does):
//
//   Raw          libc's function, the guard bypassed: the baseline
//   Disarmed     through the interposer on a thread with no guard (every program, always)
//   ArmedExempt  a guard armed and an AllowNondeterminism open around the loop
//   ExemptScope  a guard armed and an AllowNondeterminism per call (what the real System
//                the membrane calls does on every read)
//   Caught       a guard armed, every call noted (backtrace captured; startup's error path)
//
// Figures and the command line: bench/README.md, section "Determinism guard".
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <time.h>

#include <cstdlib>

#include "snap/determinism_guard.h"

namespace {

using ClockGettime = int (*)(clockid_t, timespec*);
using Getenv = char* (*)(const char*);

template <typename F>
F next_definition(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

// HOME is early in a typical environment; getenv's cost grows with the variable's position.
constexpr const char* kVariable = "HOME";

enum class Setup { kRaw, kDisarmed, kArmedExempt, kExemptScope, kCaught };

template <Setup S>
void BM_ClockGettime(benchmark::State& state) {
  static const ClockGettime raw = next_definition<ClockGettime>("clock_gettime");
  timespec ts{};
  if constexpr (S == Setup::kRaw) {
    for (auto _ : state) {
      raw(CLOCK_REALTIME, &ts);
      benchmark::DoNotOptimize(ts);
    }
  } else if constexpr (S == Setup::kDisarmed) {
    for (auto _ : state) {
      ::clock_gettime(CLOCK_REALTIME, &ts);
      benchmark::DoNotOptimize(ts);
    }
  } else if constexpr (S == Setup::kArmedExempt) {
    snap::DeterminismGuard guard;
    snap::AllowNondeterminism allow("benchmark");
    for (auto _ : state) {
      ::clock_gettime(CLOCK_REALTIME, &ts);
      benchmark::DoNotOptimize(ts);
    }
  } else if constexpr (S == Setup::kExemptScope) {
    snap::DeterminismGuard guard;
    for (auto _ : state) {
      snap::AllowNondeterminism allow("benchmark");
      ::clock_gettime(CLOCK_REALTIME, &ts);
      benchmark::DoNotOptimize(ts);
    }
  } else {
    snap::DeterminismGuard guard;
    for (auto _ : state) {
      ::clock_gettime(CLOCK_REALTIME, &ts);
      benchmark::DoNotOptimize(ts);
    }
    if (!guard.violated()) state.SkipWithError("the guard caught nothing");
  }
}

template <Setup S>
void BM_Getenv(benchmark::State& state) {
  static const Getenv raw = next_definition<Getenv>("getenv");
  if constexpr (S == Setup::kRaw) {
    for (auto _ : state) benchmark::DoNotOptimize(raw(kVariable));
  } else if constexpr (S == Setup::kDisarmed) {
    for (auto _ : state) benchmark::DoNotOptimize(std::getenv(kVariable));
  } else if constexpr (S == Setup::kArmedExempt) {
    snap::DeterminismGuard guard;
    snap::AllowNondeterminism allow("benchmark");
    for (auto _ : state) benchmark::DoNotOptimize(std::getenv(kVariable));
  } else if constexpr (S == Setup::kExemptScope) {
    snap::DeterminismGuard guard;
    for (auto _ : state) {
      snap::AllowNondeterminism allow("benchmark");
      benchmark::DoNotOptimize(std::getenv(kVariable));
    }
  } else {
    snap::DeterminismGuard guard;
    for (auto _ : state) benchmark::DoNotOptimize(std::getenv(kVariable));
    if (!guard.violated()) state.SkipWithError("the guard caught nothing");
  }
}

BENCHMARK(BM_ClockGettime<Setup::kRaw>)->Name("BM_ClockGettime_Raw");
BENCHMARK(BM_ClockGettime<Setup::kDisarmed>)->Name("BM_ClockGettime_Disarmed");
BENCHMARK(BM_ClockGettime<Setup::kArmedExempt>)->Name("BM_ClockGettime_ArmedExempt");
BENCHMARK(BM_ClockGettime<Setup::kExemptScope>)->Name("BM_ClockGettime_ExemptScope");
BENCHMARK(BM_ClockGettime<Setup::kCaught>)->Name("BM_ClockGettime_Caught");
BENCHMARK(BM_Getenv<Setup::kRaw>)->Name("BM_Getenv_Raw");
BENCHMARK(BM_Getenv<Setup::kDisarmed>)->Name("BM_Getenv_Disarmed");
BENCHMARK(BM_Getenv<Setup::kArmedExempt>)->Name("BM_Getenv_ArmedExempt");
BENCHMARK(BM_Getenv<Setup::kExemptScope>)->Name("BM_Getenv_ExemptScope");
BENCHMARK(BM_Getenv<Setup::kCaught>)->Name("BM_Getenv_Caught");

}  // namespace

BENCHMARK_MAIN();
