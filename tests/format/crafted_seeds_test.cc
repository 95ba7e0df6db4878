// The crafted logs checked in as fuzz seeds (tests/fuzz/corpus/crafted-*.snaplog and
// tests/fuzz/corpus-records/crafted-*.records): each is refused for its own reason, so the
// fuzzers start from the attacks this reader was fixed against. To rewrite them after a
// format change: SNAP_WRITE_FUZZ_SEEDS=1 ctest -R CraftedSeeds
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>

#include "crafted_log.h"
#include "log_test_util.h"

namespace snap {
namespace {

using ::testing::HasSubstr;

const std::filesystem::path kCorpus = SNAP_FUZZ_DIR "/corpus";
const std::filesystem::path kRecordsCorpus = SNAP_FUZZ_DIR "/corpus-records";

// A small honest log (3 chunks of 100 events) split into frames.
std::string small_log(std::uint64_t value_shift = 0) {
  testing::TempDir dir;
  LogWriterOptions options;
  options.max_events_per_chunk = 100;
  auto writer = LogWriter::create(dir / "l.snaplog", testing::test_header(), options);
  for (std::uint64_t i = 0; i < 300; ++i) {
    auto s = testing::synthetic_event(i);
    s.record.integer += static_cast<std::int64_t>(value_shift);
    writer->append(s.record);
  }
  writer->finish(testing::test_manifest());
  return testing::read_file(dir / "l.snaplog");
}

struct Seed {
  const char* name;
  std::function<std::string()> make;
  const char* error;  // what reading it must say
};

std::vector<Seed> seeds() {
  return {
      {"crafted-manifest-16M.snaplog",
       [] { return testing::frame_log({testing::header_record(), testing::empty_components_manifest(16'000'000)}, 0); },
       "manifest of components: 16000000 exceeds the reader limit"},
      {"crafted-events-16M.snaplog",
       [] {
         return testing::frame_log({testing::header_record(), testing::empty_events_chunk(0, 16'000'000),
                                    testing::empty_components_manifest(0)},
                                   16'000'000);
       },
       "chunk of events: 16000000 exceeds the reader limit"},
      {"crafted-duplicated-chunk.snaplog",
       [] {
         const std::string log = small_log();
         auto frames = testing::split_frames(log);
         frames.insert(frames.begin() + 3, frames[2]);
         return testing::join_frames(log, frames);
       },
       "chunk starts at event 100, expected 200"},
      {"crafted-spliced.snaplog",
       [] {
         const std::string log = small_log();
         auto frames = testing::split_frames(log);
         frames[2] = testing::split_frames(small_log(1))[2];
         return testing::join_frames(log, frames);
       },
       "digest mismatch"},
      {"crafted-lying-size.snaplog",
       [] {
         const std::string log = small_log();
         auto frames = testing::split_frames(log);
         auto* p = reinterpret_cast<unsigned char*>(frames[2].data());
         layout::put_u32(p + 4, layout::get_u32(p + 4) + 8);
         layout::put_u32(p + 12, layout::digest32(p, 12));
         return testing::join_frames(log, frames);
       },
       "zstd frame header does not match the frame prefix"},
  };
}

// fuzz_log_records' input format: a flags byte (3: trailer, complete), then each record
// as a 16-bit length and its bytes.
std::string as_records(const std::vector<std::string>& records) {
  std::string out(1, '\3');
  for (const auto& r : records) {
    out += static_cast<char>(r.size() & 0xff);
    out += static_cast<char>(r.size() >> 8);
    out += r;
  }
  return out;
}

bool writing() {
  const char* v = std::getenv("SNAP_WRITE_FUZZ_SEEDS");
  return v != nullptr && std::string(v) == "1";
}

TEST(CraftedSeeds, EachIsRefusedForItsOwnReason) {
  for (const Seed& seed : seeds()) {
    const auto path = kCorpus / seed.name;
    if (writing()) testing::write_file(path, seed.make());
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    EXPECT_LT(std::filesystem::file_size(path), 8192u) << "seeds stay small";
    try {
      auto reader = LogReader::open(path);
      while (reader->next() != nullptr) {
      }
      ADD_FAILURE() << seed.name << " was accepted";
    } catch (const LogError& e) {
      EXPECT_EQ(e.code(), LogErrorCode::kCorrupt) << e.what();
      EXPECT_THAT(e.what(), HasSubstr(seed.error)) << seed.name;
    }
  }
}

TEST(CraftedSeeds, AmplificationRecordsSeedIsCheckedIn) {
  const auto path = kRecordsCorpus / "crafted-amplification.records";
  const std::string want = as_records({testing::header_record(), testing::empty_events_chunk(0, 16'000'000),
                                       testing::empty_components_manifest(16'000'000)});
  if (writing()) testing::write_file(path, want);
  EXPECT_EQ(testing::read_file(path), want);
}

}  // namespace
}  // namespace snap
