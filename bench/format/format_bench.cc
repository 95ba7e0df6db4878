// Snapshot log throughput: the writer and reader on 1M small events, side by side with
// the raw parts they are built from -- Cap'n Proto encode/decode of the same events and
// zstd on the same bytes. Run with --benchmark_enable_random_interleaving and read the
// ratios with bench/format/ratios.py (medians of per-repetition ratios). Figures:
// bench/README.md.
#include <benchmark/benchmark.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <zstd.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "../../tests/format/log_test_util.h"
#include "log.capnp.h"
#include "snap/log_reader.h"
#include "snap/log_writer.h"

namespace {

constexpr std::int64_t kEvents = 1'000'000;
constexpr std::size_t kChunk = 8192;  // the writer's default chunk

// Clock readings as a program makes them: increasing by 50..500 ns of jitter.
std::int64_t clock_value(std::int64_t i) {
  return 1'700'000'000'000'000'000 + i * 275 + static_cast<std::int64_t>((static_cast<std::uint64_t>(i) * 7919u) % 450u);
}

const std::filesystem::path& bench_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / "snap-format-bench";
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

void write_clock_log(const std::filesystem::path& path) {
  snap::LogWriterOptions options;
  options.sync_on_finish = false;  // measure encoding, not the disk
  auto writer = snap::LogWriter::create(path, snap::testing::test_header(), options);
  snap::EventRecord e;
  e.kind = "clock.wall";
  e.result_kind = snap::ResultKind::kInteger;
  e.call_site = snap::CallSite{"app.cc", 42, 7, "define_app"};
  for (std::int64_t i = 0; i < kEvents; ++i) {
    e.integer = clock_value(i);
    writer->append(e);
  }
  writer->finish({});
}

void write_mixed_log(const std::filesystem::path& path) {
  snap::LogWriterOptions options;
  options.sync_on_finish = false;
  auto writer = snap::LogWriter::create(path, snap::testing::test_header(), options);
  for (std::int64_t i = 0; i < kEvents; ++i) writer->append(snap::testing::synthetic_event(i).record);
  writer->finish({});
}

void BM_LogWrite_Clock(benchmark::State& state) {
  const auto path = bench_dir() / "clock.snaplog";
  for (auto _ : state) write_clock_log(path);
  state.SetItemsProcessed(state.iterations() * kEvents);
  state.counters["bytes_per_event"] = static_cast<double>(std::filesystem::file_size(path)) / kEvents;
}
BENCHMARK(BM_LogWrite_Clock)->Unit(benchmark::kMillisecond);

void BM_LogRead_Clock(benchmark::State& state) {
  const auto path = bench_dir() / "clock.snaplog";
  write_clock_log(path);
  for (auto _ : state) {
    auto reader = snap::LogReader::open(path);
    std::int64_t sum = 0;
    while (const snap::EventRecord* e = reader->next()) sum += e->integer;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * kEvents);
}
BENCHMARK(BM_LogRead_Clock)->Unit(benchmark::kMillisecond);

void BM_LogWrite_Mixed(benchmark::State& state) {
  // Event construction is outside the writer's cost: prepare the stream first.
  const auto path = bench_dir() / "mixed.snaplog";
  std::vector<snap::testing::SyntheticEvent> events;
  events.reserve(kEvents);
  for (std::int64_t i = 0; i < kEvents; ++i) events.push_back(snap::testing::synthetic_event(i));
  for (auto& s : events) {  // re-point the views at the stored strings
    s.record.key = s.key;
    s.record.request = s.request;
    s.record.bytes = s.bytes;
  }
  snap::LogWriterOptions options;
  options.sync_on_finish = false;
  for (auto _ : state) {
    auto writer = snap::LogWriter::create(path, snap::testing::test_header(), options);
    for (const auto& s : events) writer->append(s.record);
    writer->finish({});
  }
  state.SetItemsProcessed(state.iterations() * kEvents);
  state.counters["bytes_per_event"] = static_cast<double>(std::filesystem::file_size(path)) / kEvents;
}
BENCHMARK(BM_LogWrite_Mixed)->Unit(benchmark::kMillisecond);

void BM_LogRead_Mixed(benchmark::State& state) {
  const auto path = bench_dir() / "mixed.snaplog";
  write_mixed_log(path);
  for (auto _ : state) {
    auto reader = snap::LogReader::open(path);
    std::size_t bytes = 0;
    while (const snap::EventRecord* e = reader->next()) bytes += e->bytes.size() + e->key.size();
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(state.iterations() * kEvents);
}
BENCHMARK(BM_LogRead_Mixed)->Unit(benchmark::kMillisecond);

// ---- baselines: the same clock events through raw Cap'n Proto and raw zstd ----

// One chunk of clock events built into `message`.
void build_clock_chunk(capnp::MessageBuilder& message, std::int64_t first, unsigned n) {
  auto chunk = message.initRoot<snap::schema::Record>().initChunk();
  chunk.setFirstEventIndex(static_cast<std::uint64_t>(first));
  auto events = chunk.initEvents(n);
  for (unsigned i = 0; i < n; ++i) {
    auto e = events[i];
    e.setKind(0);
    e.setCallSite(0);
    e.initResult().setInteger(clock_value(first + i));
  }
}

// Encoded chunks, all kept: input for the decode and zstd baselines (built outside timing).
std::vector<kj::Array<capnp::word>> encode_clock_chunks() {
  std::vector<kj::Array<capnp::word>> chunks;
  for (std::int64_t first = 0; first < kEvents; first += kChunk) {
    const auto n = static_cast<unsigned>(std::min<std::int64_t>(kChunk, kEvents - first));
    capnp::MallocMessageBuilder message(n * 6 + 64);
    build_clock_chunk(message, first, n);
    chunks.push_back(capnp::messageToFlatArray(message));
  }
  return chunks;
}

// The encode baseline does what a careful user (and the writer) does: one chunk at a time,
// built in a reused, already-faulted-in first segment and flattened into a reused buffer,
// handed on and not kept. (Keeping 1M events' worth of fresh arrays, as this baseline once
// did, measured page faults: sys time equal to user time, ~98k minor faults.)
void BM_RawCapnp_Encode(benchmark::State& state) {
  const std::size_t segment_words = kChunk * 6 + 64;
  kj::Array<capnp::word> scratch = kj::heapArray<capnp::word>(segment_words);
  std::memset(scratch.begin(), 0, segment_words * sizeof(capnp::word));  // MallocMessageBuilder's precondition
  std::vector<capnp::word> flat(segment_words + 1);
  std::size_t bytes = 0;
  for (auto _ : state) {
    for (std::int64_t first = 0; first < kEvents; first += kChunk) {
      const auto n = static_cast<unsigned>(std::min<std::int64_t>(kChunk, kEvents - first));
      // Zeroes the used part of `scratch` again when it goes out of scope.
      capnp::MallocMessageBuilder message(scratch.asPtr());
      build_clock_chunk(message, first, n);
      const auto segments = message.getSegmentsForOutput();
      if (segments.size() != 1) state.SkipWithError("chunk did not fit one segment");
      const auto seg = segments[0];
      const std::uint32_t header[2] = {0, static_cast<std::uint32_t>(seg.size())};
      std::memcpy(flat.data(), header, sizeof header);
      std::memcpy(flat.data() + 1, seg.begin(), seg.size() * sizeof(capnp::word));
      bytes += (seg.size() + 1) * sizeof(capnp::word);
      benchmark::DoNotOptimize(flat.data());
      benchmark::ClobberMemory();
    }
  }
  state.SetItemsProcessed(state.iterations() * kEvents);
  state.counters["bytes_per_event"] = static_cast<double>(bytes) / static_cast<double>(state.iterations() * kEvents);
}
BENCHMARK(BM_RawCapnp_Encode)->Unit(benchmark::kMillisecond);

void BM_RawCapnp_Decode(benchmark::State& state) {
  const auto chunks = encode_clock_chunks();
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (const auto& words : chunks) {
      capnp::FlatArrayMessageReader reader(words);
      for (auto e : reader.getRoot<snap::schema::Record>().getChunk().getEvents()) sum += e.getResult().getInteger();
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * kEvents);
}
BENCHMARK(BM_RawCapnp_Decode)->Unit(benchmark::kMillisecond);

void BM_RawZstd_Compress(benchmark::State& state) {
  const auto chunks = encode_clock_chunks();
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 3);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  std::vector<char> out(ZSTD_compressBound(kChunk * 64));
  std::size_t total = 0;
  for (auto _ : state) {
    total = 0;
    for (const auto& words : chunks) {
      const auto bytes = words.asBytes();
      total += ZSTD_compress2(cctx, out.data(), out.size(), bytes.begin(), bytes.size());
    }
  }
  ZSTD_freeCCtx(cctx);
  state.SetItemsProcessed(state.iterations() * kEvents);
  state.counters["bytes_per_event"] = static_cast<double>(total) / kEvents;
}
BENCHMARK(BM_RawZstd_Compress)->Unit(benchmark::kMillisecond);

void BM_RawZstd_Decompress(benchmark::State& state) {
  const auto chunks = encode_clock_chunks();
  std::vector<std::vector<char>> compressed;
  for (const auto& words : chunks) {
    const auto bytes = words.asBytes();
    std::vector<char> c(ZSTD_compressBound(bytes.size()));
    c.resize(ZSTD_compress(c.data(), c.size(), bytes.begin(), bytes.size(), 3));
    compressed.push_back(std::move(c));
  }
  std::vector<char> out(kChunk * 64);
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  for (auto _ : state) {
    for (const auto& c : compressed) {
      benchmark::DoNotOptimize(ZSTD_decompressDCtx(dctx, out.data(), out.size(), c.data(), c.size()));
    }
  }
  ZSTD_freeDCtx(dctx);
  state.SetItemsProcessed(state.iterations() * kEvents);
}
BENCHMARK(BM_RawZstd_Decompress)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
