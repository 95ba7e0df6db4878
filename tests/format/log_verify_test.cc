// LogReader::verify_rest(): a replay that stops at the last event it needs must still refuse
// a log whose tail is damaged, repeated or spliced from another build, and verifying must
// not disturb the events being handed out.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crafted_log.h"
#include "log_test_util.h"

namespace snap {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

class VerifyRest : public ::testing::Test {
 protected:
  void SetUp() override {
    LogWriterOptions options;
    options.max_events_per_chunk = 100;  // chunks 0..9: frames 1..10
    good_ = dir_ / "good.snaplog";
    testing::write_synthetic_log(good_, 1000, options);
    bytes_ = testing::read_file(good_);
    frames_ = testing::split_frames(bytes_);
    ASSERT_EQ(frames_.size(), 13u);  // header, 10 chunks, manifest, trailer
  }

  std::filesystem::path write(const std::string& bytes, const std::string& name) {
    auto p = dir_ / name;
    testing::write_file(p, bytes);
    return p;
  }

  // Opens `path`, reads `events` events (all must be fine), then verifies the rest and
  // returns its error; the test fails if there was none.
  LogError verify_after(const std::filesystem::path& path, std::uint64_t events) {
    auto reader = LogReader::open(path);
    for (std::uint64_t i = 0; i < events; ++i) {
      const EventRecord* e = reader->next();
      EXPECT_NE(e, nullptr);
      if (e == nullptr) break;
    }
    try {
      reader->verify_rest();
    } catch (const LogError& e) {
      EXPECT_THAT(e.what(), HasSubstr(path.string()));
      return e;
    }
    ADD_FAILURE() << "verify_rest accepted " << path;
    return LogError(LogErrorCode::kUsage, "no error");
  }

  TempDir dir_;
  std::filesystem::path good_;
  std::string bytes_;
  std::vector<std::string> frames_;
};

TEST_F(VerifyRest, IntactLogVerifiesAndReadingContinuesUndisturbed) {
  auto reader = LogReader::open(good_);
  const EventRecord* e = nullptr;
  for (int i = 0; i < 150; ++i) e = reader->next();
  ASSERT_NE(e, nullptr);
  reader->verify_rest();
  // The last record handed out is still valid, and the rest reads back unchanged.
  const auto want = testing::synthetic_event(149);
  EXPECT_EQ(e->index, 149u);
  EXPECT_EQ(e->kind, want.record.kind);
  EXPECT_EQ(e->key, want.key);
  EXPECT_EQ(e->bytes, want.bytes);
  EXPECT_EQ(e->call_site.line, want.record.call_site.line);
  EXPECT_EQ(reader->position(), 150u);
  std::uint64_t n = 150;
  while (const EventRecord* r = reader->next()) {
    const auto s = testing::synthetic_event(n);
    ASSERT_EQ(r->index, n);
    ASSERT_EQ(r->kind, s.record.kind);
    ASSERT_EQ(r->key, s.key);
    ASSERT_EQ(r->bytes, s.bytes);
    ASSERT_EQ(r->integer, s.record.integer);
    ++n;
  }
  EXPECT_EQ(n, 1000u);
  reader->verify_rest();  // at the end: nothing left to check
}

TEST_F(VerifyRest, BeforeTheFirstEventVerifiesEverything) {
  auto reader = LogReader::open(good_);
  reader->verify_rest();
  EXPECT_EQ(reader->position(), 0u);
  ASSERT_NE(reader->next(), nullptr);
  EXPECT_EQ(reader->position(), 1u);
}

TEST_F(VerifyRest, DuplicatedChunkIsCorrupt) {
  auto frames = frames_;
  frames.insert(frames.begin() + 6, frames[5]);  // chunk 4 (events 400..499) twice
  auto e = verify_after(write(testing::join_frames(bytes_, frames), "duplicated.snaplog"), 50);
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("chunk starts at event 400, expected 500 (a chunk is missing, repeated or from "
                                  "another log)"));
}

TEST_F(VerifyRest, DuplicatedLastChunkIsCorrupt) {
  auto frames = frames_;
  frames.insert(frames.begin() + 11, frames[10]);
  auto e = verify_after(write(testing::join_frames(bytes_, frames), "duplicated-last.snaplog"), 999);
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("chunk starts at event 900, expected 1000"));
}

TEST_F(VerifyRest, ChunkSplicedFromAnotherBuildIsCorrupt) {
  // Another build of the same program: same kinds, same chunking, other values.
  auto other = dir_ / "other.snaplog";
  {
    LogWriterOptions options;
    options.max_events_per_chunk = 100;
    auto writer = LogWriter::create(other, testing::test_header(), options);
    for (std::uint64_t i = 0; i < 1000; ++i) {
      auto s = testing::synthetic_event(i);
      s.record.integer += 1;  // a clock read a nanosecond later
      writer->append(s.record);
    }
    writer->finish(testing::test_manifest());
  }
  const auto other_frames = testing::split_frames(testing::read_file(other));
  ASSERT_EQ(other_frames.size(), frames_.size());
  ASSERT_NE(other_frames[8], frames_[8]);
  auto frames = frames_;
  frames[8] = other_frames[8];  // chunk 7
  auto e = verify_after(write(testing::join_frames(bytes_, frames), "spliced.snaplog"), 50);
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("digest mismatch: frames are missing, repeated or out of order"));
}

TEST_F(VerifyRest, LyingFrameSizeInTheTailIsCorrupt) {
  auto frames = frames_;
  auto* p = reinterpret_cast<unsigned char*>(frames[9].data());
  layout::put_u32(p + 4, layout::get_u32(p + 4) + 8);  // claims one more word
  layout::put_u32(p + 12, layout::digest32(p, 12));    // and re-seals its prefix
  auto path = write(testing::join_frames(bytes_, frames), "lying.snaplog");
  auto e = verify_after(path, 50);
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("zstd frame header does not match the frame prefix"));
}

TEST_F(VerifyRest, BadEventLaterInTheCurrentChunkIsCorrupt) {
  capnp::MallocMessageBuilder m;
  auto c = m.initRoot<schema::Record>().initChunk();
  c.initNewKinds(1).set(0, "clock.wall");
  auto events = c.initEvents(3);
  events[2].setKind(7);  // no such kind
  events[2].setCallSite(layout::kNoCallSite);
  events[0].setCallSite(layout::kNoCallSite);
  events[1].setCallSite(layout::kNoCallSite);
  capnp::MallocMessageBuilder manifest;
  manifest.initRoot<schema::Record>().initManifest();
  const auto path = write(
      testing::frame_log({testing::header_record(), testing::message_bytes(m), testing::message_bytes(manifest)}, 3),
      "bad-event.snaplog");
  auto e = verify_after(path, 1);
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("event 2 names an unknown kind"));
}

}  // namespace
}  // namespace snap
