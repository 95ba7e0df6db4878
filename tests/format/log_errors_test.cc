// Every way a log can be bad gets its own error code and a one-line message, never a
// crash. Each case is made by damaging a real log the way the world would.
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../../snapshot-format/src/log_layout.h"
#include "log_test_util.h"

namespace snap {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

// Opens the log and reads every event; returns the error, or fails if there was none.
LogError read_all_expecting_error(const std::filesystem::path& path) {
  try {
    auto reader = LogReader::open(path);
    while (reader->next() != nullptr) {
    }
  } catch (const LogError& e) {
    EXPECT_THAT(e.what(), Not(HasSubstr("\n"))) << "errors are one line";
    EXPECT_THAT(e.what(), HasSubstr(path.string()));
    return e;
  }
  ADD_FAILURE() << "reading " << path << " succeeded";
  return LogError(LogErrorCode::kUsage, "no error");
}

class DamagedLog : public ::testing::Test {
 protected:
  void SetUp() override {
    good_ = dir_ / "good.snaplog";
    LogWriterOptions options;
    options.max_events_per_chunk = 100;  // several chunk frames
    testing::write_synthetic_log(good_, 1000, options);
    bytes_ = testing::read_file(good_);
    ASSERT_GT(bytes_.size(), 1000u);
  }

  std::filesystem::path with_bytes(const std::string& bytes, const std::string& name = "bad.snaplog") {
    auto p = dir_ / name;
    testing::write_file(p, bytes);
    return p;
  }

  // Offsets of every frame prefix, found by walking the layout.
  std::vector<std::size_t> frame_offsets() const {
    std::vector<std::size_t> offsets;
    std::size_t at = layout::kFileHeaderSize;
    const auto* p = reinterpret_cast<const unsigned char*>(bytes_.data());
    while (at + layout::kFooterSize < bytes_.size()) {
      offsets.push_back(at);
      at += layout::kFramePrefixSize + layout::get_u32(p + at);
    }
    return offsets;
  }

  TempDir dir_;
  std::filesystem::path good_;
  std::string bytes_;
};

TEST_F(DamagedLog, IntactLogReadsCleanly) {
  auto reader = LogReader::open(good_);
  std::uint64_t n = 0;
  while (reader->next() != nullptr) ++n;
  EXPECT_EQ(n, 1000u);
  EXPECT_EQ(frame_offsets().size(), 1u + 10u + 1u + 1u);  // header, chunks, manifest, trailer
}

TEST_F(DamagedLog, MissingFileIsNotFound) {
  auto e = read_all_expecting_error(dir_ / "nope.snaplog");
  EXPECT_EQ(e.code(), LogErrorCode::kNotFound);
  EXPECT_THAT(e.what(), HasSubstr("not found"));
}

TEST_F(DamagedLog, WrongMagicIsNotASnapshotLog) {
  std::string b = bytes_;
  b[1] = 'X';
  auto e = read_all_expecting_error(with_bytes(b));
  EXPECT_EQ(e.code(), LogErrorCode::kNotASnapshotLog);
  EXPECT_THAT(e.what(), HasSubstr("bad magic"));

  auto text = read_all_expecting_error(with_bytes("hello, world\n", "text.txt"));
  EXPECT_EQ(text.code(), LogErrorCode::kNotASnapshotLog);
  auto empty = read_all_expecting_error(with_bytes("", "empty"));
  EXPECT_EQ(empty.code(), LogErrorCode::kNotASnapshotLog);
}

TEST_F(DamagedLog, FutureVersionIsIncompatibleAndNamesBothVersions) {
  std::string b = bytes_;
  auto* p = reinterpret_cast<unsigned char*>(b.data());
  layout::put_u32(p + 8, 7);
  layout::put_u32(p + 20, layout::digest32(p, 20));  // a well-formed header of version 7
  auto e = read_all_expecting_error(with_bytes(b));
  EXPECT_EQ(e.code(), LogErrorCode::kIncompatibleVersion);
  EXPECT_THAT(e.what(), HasSubstr("log has format version 7, this reader reads version 1"));
}

TEST_F(DamagedLog, UnfinishedWriteIsIncomplete) {
  // A writer process that dies before finish(), as a crashed build would.
  auto path = dir_ / "crashed.snaplog";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto writer = LogWriter::create(path, testing::test_header());
    for (int i = 0; i < 50; ++i) writer->append(testing::synthetic_event(i).record);
    writer->flush();
    _exit(0);  // no destructors: the .partial file stays, as after a kill
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_FALSE(std::filesystem::exists(path)) << "only a finished log gets the final name";
  auto e = read_all_expecting_error(path.string() + ".partial");
  EXPECT_EQ(e.code(), LogErrorCode::kIncomplete);
  EXPECT_THAT(e.what(), HasSubstr("the writer never finished (50 events, no trailer)"));
}

TEST_F(DamagedLog, CutAtAFrameBoundaryIsIncomplete) {
  const auto frames = frame_offsets();
  auto e = read_all_expecting_error(with_bytes(bytes_.substr(0, frames[5])));
  EXPECT_EQ(e.code(), LogErrorCode::kIncomplete);
}

TEST_F(DamagedLog, TruncationAtSeveralPointsIsTruncated) {
  const auto frames = frame_offsets();
  const std::vector<std::size_t> cuts = {
      10,                                 // inside the file header
      layout::kFileHeaderSize + 5,        // inside the first frame prefix
      frames[1] + 40,                     // inside the first chunk's zstd frame
      frames[6] + layout::kFramePrefixSize,  // right after a prefix
      (frames[7] + frames[8]) / 2,        // middle of a chunk
      frames.back() + 3,                  // inside the trailer's prefix
      bytes_.size() - 1,                  // the footer's last byte
      bytes_.size() - layout::kFooterSize + 4,  // inside the footer
  };
  for (std::size_t cut : cuts) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    auto e = read_all_expecting_error(with_bytes(bytes_.substr(0, cut)));
    EXPECT_EQ(e.code(), LogErrorCode::kTruncated) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("file ends at byte " + std::to_string(cut)));
  }
}

TEST_F(DamagedLog, BitFlipInFileHeaderIsCorrupt) {
  for (std::size_t at : {9u, 13u, 17u, 22u}) {
    std::string b = bytes_;
    b[at] ^= 0x10;
    auto e = read_all_expecting_error(with_bytes(b));
    EXPECT_EQ(e.code(), LogErrorCode::kCorrupt) << "offset " << at;
    EXPECT_THAT(e.what(), HasSubstr("at byte 0: file header check mismatch"));
  }
}

TEST_F(DamagedLog, BitFlipInFramePrefixIsCorruptWithOffset) {
  const auto frames = frame_offsets();
  for (std::size_t i : {0u, 3u, 11u, 12u}) {  // header, chunk, manifest, trailer frames
    for (std::size_t byte : {0u, 5u, 9u, 14u}) {
      std::string b = bytes_;
      b[frames[i] + byte] ^= 0x01;
      auto e = read_all_expecting_error(with_bytes(b));
      EXPECT_EQ(e.code(), LogErrorCode::kCorrupt) << "frame " << i << " byte " << byte << ": " << e.what();
      EXPECT_THAT(e.what(), HasSubstr("at byte " + std::to_string(frames[i]) + ": bad frame prefix"));
    }
  }
}

TEST_F(DamagedLog, BitFlipInCompressedDataIsCorrupt) {
  const auto frames = frame_offsets();
  // Last bytes of a zstd frame are its content checksum; earlier ones are block data.
  for (std::size_t i : {2u, 7u}) {
    const std::size_t end = frames[i + 1];
    for (std::size_t at : {end - 2, end - 20, (frames[i] + end) / 2}) {
      std::string b = bytes_;
      b[at] ^= 0x04;
      auto e = read_all_expecting_error(with_bytes(b));
      EXPECT_EQ(e.code(), LogErrorCode::kCorrupt) << "offset " << at << ": " << e.what();
      EXPECT_THAT(e.what(), HasSubstr("at byte " + std::to_string(frames[i] + layout::kFramePrefixSize)));
    }
  }
  std::string b = bytes_;
  b[frames[4] - 1] ^= 0x80;  // inside zstd's own checksum word
  auto e = read_all_expecting_error(with_bytes(b));
  EXPECT_THAT(e.what(), HasSubstr("at byte " + std::to_string(frames[3] + layout::kFramePrefixSize) +
                                  ": frame checksum mismatch"));
}

TEST_F(DamagedLog, ContentChecksumMismatchIsCorrupt) {
  // Damage zstd's content checksum and re-seal the frame prefix, so only zstd can tell.
  const auto frames = frame_offsets();
  std::string b = bytes_;
  auto* p = reinterpret_cast<unsigned char*>(b.data());
  const std::size_t body = frames[3] + layout::kFramePrefixSize;
  const std::uint32_t compressed = layout::get_u32(p + frames[3]);
  p[body + compressed - 1] ^= 0x80;
  layout::put_u32(p + frames[3] + 8, layout::digest32(p + body, compressed));
  layout::put_u32(p + frames[3] + 12, layout::digest32(p + frames[3], 12));
  auto e = read_all_expecting_error(with_bytes(b));
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("at byte " + std::to_string(body) + ": zstd checksum mismatch"));
}

TEST_F(DamagedLog, BitFlipInFooterIsCorrupt) {
  for (std::size_t back : {24u, 12u, 6u, 1u}) {
    std::string b = bytes_;
    b[b.size() - back] ^= 0x02;
    auto e = read_all_expecting_error(with_bytes(b));
    EXPECT_EQ(e.code(), LogErrorCode::kCorrupt) << back << ": " << e.what();
    EXPECT_THAT(e.what(), HasSubstr("bad footer"));
  }
}

TEST_F(DamagedLog, MissingOrReorderedFramesAreCorrupt) {
  const auto frames = frame_offsets();
  // Drop chunk 3: the footer still points right, so only the chunk numbering notices.
  std::string dropped = bytes_.substr(0, frames[3]) + bytes_.substr(frames[4]);
  auto* p = reinterpret_cast<unsigned char*>(dropped.data());
  const std::size_t removed = frames[4] - frames[3];
  unsigned char* footer = p + dropped.size() - layout::kFooterSize;
  layout::put_u64(footer, layout::get_u64(footer) - removed);
  layout::put_u64(footer + 8, layout::get_u64(footer + 8) - removed);
  layout::put_u32(footer + 16, layout::digest32(footer, 16));
  auto e = read_all_expecting_error(with_bytes(dropped));
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("chunk starts at event 300, expected 200"));

  // Swap two chunks of equal event count.
  std::string swapped = bytes_.substr(0, frames[2]) + bytes_.substr(frames[3], frames[4] - frames[3]) +
                        bytes_.substr(frames[2], frames[3] - frames[2]) + bytes_.substr(frames[4]);
  if (frames[3] - frames[2] == frames[4] - frames[3]) {
    auto s = read_all_expecting_error(with_bytes(swapped, "swapped.snaplog"));
    EXPECT_EQ(s.code(), LogErrorCode::kCorrupt);
  }
}

// Every single-bit flip, anywhere, is reported as an error; none is silently accepted and
// none crashes. (Stride keeps the test fast; the fuzzer covers the rest.)
TEST_F(DamagedLog, EveryBitFlipIsDetected) {
  for (std::size_t at = 0; at < bytes_.size(); at += 13) {
    std::string b = bytes_;
    b[at] ^= static_cast<char>(1u << (at % 8));
    auto p = with_bytes(b);
    try {
      auto reader = LogReader::open(p);
      while (reader->next() != nullptr) {
      }
      ADD_FAILURE() << "flip at byte " << at << " went undetected";
    } catch (const LogError& e) {
      EXPECT_TRUE(e.code() == LogErrorCode::kCorrupt || (at < 8 && e.code() == LogErrorCode::kNotASnapshotLog))
          << "flip at byte " << at << ": " << e.what();
    }
  }
}

TEST_F(DamagedLog, OversizedFrameIsRefusedByTheLimit) {
  LogReaderLimits limits;
  limits.max_frame_bytes = 1024;
  try {
    auto reader = LogReader::open(good_, limits);
    while (reader->next() != nullptr) {
    }
    FAIL() << "expected the limit to refuse a chunk";
  } catch (const LogError& e) {
    EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
    EXPECT_THAT(e.what(), HasSubstr("exceeds the reader limit of 1024"));
  }
}

}  // namespace
}  // namespace snap
