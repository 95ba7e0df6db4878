// The membrane's cost, side by side in one run with the raw system calls it wraps:
// live reads should cost about what the raw call does; recording adds encoding and
// compression (amortized over a long recording); replay is bounded by the log reader.
// Figures: bench/README.md.
#include <benchmark/benchmark.h>
#include <sys/random.h>
#include <time.h>

#include <filesystem>

#include "snap/log_reader.h"
#include "snap/log_writer.h"
#include "snap/membrane.h"
#include "snap/secrets.h"
#include "snap/system.h"

namespace {

std::filesystem::path bench_path(const char* name) {
  auto dir = std::filesystem::temp_directory_path() / "snap-membrane-bench";
  std::filesystem::create_directories(dir);
  return dir / name;
}

snap::LogHeader header() {
  snap::LogHeader h;
  h.app_name = "bench";
  return h;
}

std::unique_ptr<snap::LogWriter> writer(const char* name) {
  snap::LogWriterOptions options;
  options.sync_on_finish = false;
  return snap::LogWriter::create(bench_path(name), header(), options);
}

void BM_Raw_ClockGettime(benchmark::State& state) {
  timespec ts{};
  for (auto _ : state) {
    clock_gettime(CLOCK_REALTIME, &ts);
    benchmark::DoNotOptimize(ts);
  }
}
BENCHMARK(BM_Raw_ClockGettime);

void BM_Live_WallNow(benchmark::State& state) {
  auto system = snap::make_real_system();
  auto secrets = snap::secrets_from_map({});
  snap::LiveMembrane m(*system, *secrets);
  for (auto _ : state) benchmark::DoNotOptimize(m.wall_now());
}
BENCHMARK(BM_Live_WallNow);

void BM_Record_WallNow(benchmark::State& state) {
  auto system = snap::make_real_system();
  auto secrets = snap::secrets_from_map({});
  snap::RecordingMembrane m(*system, *secrets, writer("clock.snaplog"));
  for (auto _ : state) benchmark::DoNotOptimize(m.wall_now());
  m.finish({});  // the final chunk's compression is part of the amortized cost
}
BENCHMARK(BM_Record_WallNow);

void BM_Raw_Getrandom16(benchmark::State& state) {
  char buf[16];
  for (auto _ : state) {
    benchmark::DoNotOptimize(getrandom(buf, sizeof buf, 0));
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_Raw_Getrandom16);

void BM_Live_RandomBytes16(benchmark::State& state) {
  auto system = snap::make_real_system();
  auto secrets = snap::secrets_from_map({});
  snap::LiveMembrane m(*system, *secrets);
  for (auto _ : state) benchmark::DoNotOptimize(m.random_bytes(16));
}
BENCHMARK(BM_Live_RandomBytes16);

void BM_Record_RandomBytes16(benchmark::State& state) {
  auto system = snap::make_real_system();
  auto secrets = snap::secrets_from_map({});
  snap::RecordingMembrane m(*system, *secrets, writer("random.snaplog"));
  for (auto _ : state) benchmark::DoNotOptimize(m.random_bytes(16));
  m.finish({});
}
BENCHMARK(BM_Record_RandomBytes16);

// A startup-like mix: clocks, random, env, file existence and a user call.
void mixed_step(snap::Membrane& m, int i) {
  switch (i % 6) {
    case 0: benchmark::DoNotOptimize(m.wall_now()); break;
    case 1: benchmark::DoNotOptimize(m.steady_now()); break;
    case 2: benchmark::DoNotOptimize(m.random_bytes(8)); break;
    case 3: benchmark::DoNotOptimize(m.env("HOME")); break;
    case 4: benchmark::DoNotOptimize(m.random_int(1, 100)); break;
    default:
      benchmark::DoNotOptimize(m.call("kv", "get", "user:42", [](std::string_view) { return std::string("alice"); }));
  }
}

void BM_Replay_1M_MixedEvents(benchmark::State& state) {
  constexpr int kEvents = 1'000'000;
  const auto path = bench_path("mixed.snaplog");
  auto system = snap::make_real_system();
  auto secrets = snap::secrets_from_map({});
  {
    snap::RecordingMembrane m(*system, *secrets, writer("mixed.snaplog"));
    for (int i = 0; i < kEvents; ++i) mixed_step(m, i);
    m.finish({});
  }
  for (auto _ : state) {
    snap::ReplayingMembrane m(*system, *secrets, snap::LogReader::open(path));
    for (int i = 0; i < kEvents; ++i) mixed_step(m, i);
    m.finish();
  }
  state.SetItemsProcessed(state.iterations() * kEvents);
}
BENCHMARK(BM_Replay_1M_MixedEvents)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
