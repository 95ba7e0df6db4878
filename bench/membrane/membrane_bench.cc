// The membrane's cost, side by side in one run with the raw system calls it wraps.
//
//   live    should cost about what the raw call does (target: clock ≤ 1.2× raw)
//   record  adds encoding and compression, amortized over one long recording
//           (target: clock ≤ 10× raw, finish() included)
//   replay  is bounded by the log reader (target: 1,000,000 mixed events ≤ 0.2 s)
//
// Figures and the command line: bench/README.md, section "Membrane".
#include <benchmark/benchmark.h>
#include <sys/random.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "snap/log_reader.h"
#include "snap/log_writer.h"
#include "snap/membrane.h"
#include "snap/secrets.h"
#include "snap/env.h"

namespace {

const std::filesystem::path& bench_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / "snap-membrane-bench";
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

std::unique_ptr<snap::LogWriter> writer(const std::filesystem::path& path) {
  snap::LogHeader header;
  header.app_name = "membrane-bench";
  snap::LogWriterOptions options;
  // Measure the membrane and the writer, not the disk: a build's recording is fsynced
  // once, at finish(), which is the disk's cost rather than the membrane's.
  options.sync_on_finish = false;
  return snap::LogWriter::create(path, header, options);
}

// A recording's cost is amortized: the writer compresses a chunk only when it fills
// (8192 events) and finish() writes the last one. So one recording spans every iteration
// of a run and the clock stops after finish(); the time is measured by hand
// (UseManualTime) because Google Benchmark's own timer stops when the loop ends; it sums
// manual time and divides by the iteration count, so one SetIterationTime() with the
// whole run's time gives the amortized cost per call. The CPU column of these rows
// excludes finish(); the Time column includes it.
template <typename Body>
void record_amortized(benchmark::State& state, const char* file, Body body) {
  snap::Env* system = &snap::real_env();
  auto secrets = snap::secrets_from_map({});
  const auto path = bench_dir() / file;
  const auto start = std::chrono::steady_clock::now();
  {
    snap::RecordingMembrane m(*system, *secrets, writer(path));
    for (auto _ : state) body(m);
    m.finish({});
  }
  state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  std::filesystem::remove(path);
}

// ---- clock ----

void BM_RawClockGettime(benchmark::State& state) {
  timespec ts{};
  for (auto _ : state) {
    clock_gettime(CLOCK_REALTIME, &ts);
    benchmark::DoNotOptimize(ts);
  }
}
BENCHMARK(BM_RawClockGettime);

void BM_LiveWallNow(benchmark::State& state) {
  snap::Env* system = &snap::real_env();
  auto secrets = snap::secrets_from_map({});
  snap::LiveMembrane m(*system, *secrets);
  for (auto _ : state) benchmark::DoNotOptimize(m.wall_now());
}
BENCHMARK(BM_LiveWallNow);

void BM_RecordWallNow(benchmark::State& state) {
  record_amortized(state, "clock.snaplog", [](snap::Membrane& m) { benchmark::DoNotOptimize(m.wall_now()); });
}
BENCHMARK(BM_RecordWallNow)->UseManualTime();

// ---- random bytes ----

void BM_RawGetrandom(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  char buf[256];
  for (auto _ : state) {
    benchmark::DoNotOptimize(getrandom(buf, size, 0));
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_RawGetrandom)->Arg(16);

void BM_LiveRandomBytes(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  snap::Env* system = &snap::real_env();
  auto secrets = snap::secrets_from_map({});
  snap::LiveMembrane m(*system, *secrets);
  for (auto _ : state) benchmark::DoNotOptimize(m.random_bytes(size));
}
BENCHMARK(BM_LiveRandomBytes)->Arg(16);

void BM_RecordRandomBytes(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  record_amortized(state, "random.snaplog",
                   [size](snap::Membrane& m) { benchmark::DoNotOptimize(m.random_bytes(size)); });
}
BENCHMARK(BM_RecordRandomBytes)->Arg(16)->UseManualTime();

// ---- replay ----

constexpr int kMixedEvents = 1'000'000;

// A startup-like mix, one event per step, six kinds in turn: clock, random bytes, random
// integer, environment, file existence, and a user call with a small request. The same
// function records and replays, so kinds, keys, requests and call sites all match.
// The path is built once, as a program holds its paths: building a std::filesystem::path
// from a literal on every call is the program's own cost (about 12% of a replay here).
void mixed_step(snap::Membrane& m, int i) {
  static const std::filesystem::path kHostname = "/etc/hostname";
  switch (i % 6) {
    case 0: benchmark::DoNotOptimize(m.wall_now()); break;
    case 1: benchmark::DoNotOptimize(m.random_bytes(16)); break;
    case 2: benchmark::DoNotOptimize(m.random_int(1, 100)); break;
    case 3: benchmark::DoNotOptimize(m.env("HOME")); break;
    case 4: benchmark::DoNotOptimize(m.file_exists(kHostname)); break;
    default:
      benchmark::DoNotOptimize(
          m.call("kv", "get", "user:42", [](std::string_view) { return std::string(R"({"name":"alice"})"); }));
  }
}

// Recorded once per process, outside any timing: Google Benchmark calls a benchmark
// function several times while it settles on an iteration count.
const std::filesystem::path& mixed_log(snap::Env& system) {
  static const std::filesystem::path path = [&system] {
    auto p = bench_dir() / "mixed.snaplog";
    auto secrets = snap::secrets_from_map({});
    snap::RecordingMembrane m(system, *secrets, writer(p));
    for (int i = 0; i < kMixedEvents; ++i) mixed_step(m, i);
    m.finish({});
    return p;
  }();
  return path;
}

// One full replay: open the log (header, footer, manifest and trailer checks), replay
// every event with the recording's program, finish() (no event left over; the reader
// checks the count and the digest at the end). Kept out of line so a profiler can single
// it out: valgrind --tool=callgrind --toggle-collect='*replay_mixed_log*'.
[[gnu::noinline]] void replay_mixed_log(const std::filesystem::path& path, snap::Env& system,
                                        const snap::SecretSource& secrets) {
  snap::ReplayingMembrane m(system, secrets, snap::LogReader::open(path));
  for (int i = 0; i < kMixedEvents; ++i) mixed_step(m, i);
  m.finish();
}

void BM_Replay1MMixedEvents(benchmark::State& state) {
  snap::Env* system = &snap::real_env();
  auto secrets = snap::secrets_from_map({});
  const auto& path = mixed_log(*system);
  for (auto _ : state) replay_mixed_log(path, *system, *secrets);
  state.SetItemsProcessed(state.iterations() * kMixedEvents);
}
BENCHMARK(BM_Replay1MMixedEvents)->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
