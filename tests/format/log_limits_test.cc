// A hostile log must not make the reader allocate or decode without bound: every limit in
// LogReaderLimits refuses the log with kCorrupt naming the limit, never std::bad_alloc. The
// logs here are a few hundred bytes that declare millions of records (Cap'n Proto lists of
// zero-word elements), framed with every checksum valid so only the limits can stop them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <capnp/any.h>

#include "crafted_log.h"
#include "log_test_util.h"

namespace snap {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// Just under Cap'n Proto's traversal budget (16M words, each zero-word element counting
// as one), which would otherwise stop the read first.
constexpr std::uint32_t k16M = 16'000'000;

// Opens and reads every event; returns the error (the test fails if there is none).
LogError read_all_error(const std::filesystem::path& path, const LogReaderLimits& limits = {}) {
  try {
    auto reader = LogReader::open(path, limits);
    while (reader->next() != nullptr) {
    }
  } catch (const LogError& e) {
    return e;
  }
  ADD_FAILURE() << "reading " << path << " succeeded";
  return LogError(LogErrorCode::kUsage, "no error");
}

class HostileLog : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& bytes, const std::string& name = "hostile.snaplog") {
    auto p = dir_ / name;
    testing::write_file(p, bytes);
    return p;
  }
  TempDir dir_;
};

TEST_F(HostileLog, CraftedManifestReallyDeclaresMillionsOfComponents) {
  // The test's own premise: Cap'n Proto reads the crafted manifest as 16M components.
  const std::string body = testing::empty_components_manifest(k16M);
  EXPECT_LT(body.size(), 64u);
  kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(body.data()), body.size() / 8);
  capnp::ReaderOptions options;
  options.traversalLimitInWords = std::uint64_t{1} << 25;
  capnp::FlatArrayMessageReader message(words, options);
  EXPECT_EQ(message.getRoot<schema::Record>().getManifest().getComponents().size(), k16M);
}

TEST_F(HostileLog, ManifestOfMillionsOfEmptyComponentsIsRefusedByTheLimit) {
  const std::string log = testing::frame_log({testing::header_record(), testing::empty_components_manifest(k16M)}, 0);
  EXPECT_LT(log.size(), 400u);
  auto e = read_all_error(write(log));
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("manifest of components: 16000000 exceeds the reader limit of 65536"));
}

TEST_F(HostileLog, ManifestJustOverTheComponentLimitIsRefused) {
  auto e = read_all_error(
      write(testing::frame_log({testing::header_record(), testing::empty_components_manifest(65537)}, 0)));
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("manifest of components: 65537 exceeds the reader limit of 65536"));
}

TEST_F(HostileLog, EmptyComponentsBeyondTheMessageSizeAreRefusedWhateverTheCountLimit) {
  LogReaderLimits limits;
  limits.max_manifest_components = std::size_t{1} << 30;
  auto e = read_all_error(
      write(testing::frame_log({testing::header_record(), testing::empty_components_manifest(k16M)}, 0)), limits);
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("manifest declares 16000000 components in a message of 6 words"));
}

TEST_F(HostileLog, ManifestOverTheDecodedSizeLimitIsRefused) {
  LogReaderLimits limits;
  limits.max_manifest_bytes = 1000;  // three honest components need ~500
  TempDir dir;
  auto path = dir / "honest.snaplog";
  testing::write_synthetic_log(path, 0);
  EXPECT_NO_THROW(LogReader::open(path));
  Manifest big = testing::test_manifest();
  big.components[0].config = std::string(1000, 'x');
  {
    auto writer = LogWriter::create(path, testing::test_header());
    writer->finish(big);
  }
  auto e = read_all_error(path, limits);
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("decoded manifest size (bytes)"));
  EXPECT_THAT(e.what(), HasSubstr("exceeds the reader limit of 1000"));
}

TEST_F(HostileLog, ChunkOfMillionsOfEmptyEventsIsRefusedByTheLimit) {
  const std::string log = testing::frame_log(
      {testing::header_record(), testing::empty_events_chunk(0, k16M), testing::empty_components_manifest(0)}, k16M);
  EXPECT_LT(log.size(), 400u);
  auto e = read_all_error(write(log));
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("chunk of events: 16000000 exceeds the reader limit of 1048576"));
}

TEST_F(HostileLog, ChunkJustOverTheEventLimitIsRefused) {
  const std::uint32_t n = (1u << 20) + 1;
  auto e = read_all_error(write(testing::frame_log(
      {testing::header_record(), testing::empty_events_chunk(0, n), testing::empty_components_manifest(0)}, n)));
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("chunk of events: 1048577 exceeds the reader limit of 1048576"));
}

TEST_F(HostileLog, EmptyEventsBeyondTheMessageSizeAreRefusedWhateverTheEventLimit) {
  LogReaderLimits limits;
  limits.max_events_per_chunk = std::size_t{1} << 30;
  const std::uint32_t n = 1000;
  auto e = read_all_error(write(testing::frame_log(
      {testing::header_record(), testing::empty_events_chunk(0, n), testing::empty_components_manifest(0)}, n)),
                          limits);
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("chunk declares 1001 events and table entries in a message of 11 words"));
}

TEST_F(HostileLog, EmptyCallSitesBeyondTheMessageSizeAreRefused) {
  capnp::MallocMessageBuilder m;
  auto c = m.initRoot<schema::Record>().initChunk();
  c.initNewCallSites(0);
  const std::string chunk = testing::with_empty_struct_list(testing::message_bytes(m), 1u << 20);
  auto e = read_all_error(
      write(testing::frame_log({testing::header_record(), chunk, testing::empty_components_manifest(0)}, 0)));
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("chunk declares 1048576 events and table entries in a message of"));
}

// Frames that decompress far beyond the file's size: memory stays one frame, but time
// would not, so the decoded total is bounded against the file size.
TEST_F(HostileLog, DecompressionBombIsRefusedByTheDecodedSizeLimit) {
  // An honest empty chunk, padded with 1 MiB of zero words inside its segment: each frame
  // compresses to a few hundred bytes.
  capnp::MallocMessageBuilder m;
  m.initRoot<schema::Record>().initChunk();
  std::string chunk = testing::message_bytes(m);
  const std::uint32_t pad_words = 1u << 17;
  std::uint32_t seg_words;
  std::memcpy(&seg_words, chunk.data() + 4, 4);
  seg_words += pad_words;
  std::memcpy(chunk.data() + 4, &seg_words, 4);
  chunk.append(std::size_t{pad_words} * 8, '\0');
  std::vector<std::string> records{testing::header_record()};
  for (int i = 0; i < 40; ++i) records.push_back(chunk);
  records.push_back(testing::empty_components_manifest(0));
  const std::string log = testing::frame_log(records, 0);
  EXPECT_LT(log.size(), 40u * 1024);

  EXPECT_NO_THROW({
    auto reader = LogReader::open(write(log, "bomb.snaplog"));
    while (reader->next() != nullptr) {
    }
  }) << "under the production limits 40 MiB decoded is fine";

  LogReaderLimits limits;
  limits.min_decoded_bytes_allowed = 16u << 20;
  limits.max_decoded_bytes_per_file_byte = 64;
  auto e = read_all_error(dir_ / "bomb.snaplog", limits);
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("decoded size (bytes) of the log so far"));
  EXPECT_THAT(e.what(), HasSubstr("exceeds the reader limit of 16777216"));
}

// A chunk of three events: "key-0".."key-2", each with 8 bytes of data. `patch` may damage
// the built message before it is framed (it gets the builder and the events).
std::string three_event_chunk(capnp::MallocMessageBuilder& m) {
  auto c = m.initRoot<schema::Record>().initChunk();
  c.initNewKinds(1).set(0, "file.read");
  auto events = c.initEvents(3);
  for (unsigned i = 0; i < 3; ++i) {
    events[i].setCallSite(layout::kNoCallSite);
    events[i].setKey("key-" + std::to_string(i));
    const capnp::byte bytes[8] = {1, 2, 3, 4, 5, 6, 7, static_cast<capnp::byte>(i)};
    events[i].initResult().setBytes(capnp::Data::Reader(bytes, 8));
  }
  return testing::message_bytes(m);
}

TEST_F(HostileLog, MultiSegmentChunkReadsLikeAOneSegmentOne) {
  // Tiny segments: every text lands in another segment, behind a far pointer.
  capnp::MallocMessageBuilder m(1, capnp::AllocationStrategy::FIXED_SIZE);
  const std::string chunk = three_event_chunk(m);
  ASSERT_GT(m.getSegmentsForOutput().size(), 3u);
  auto reader = LogReader::open(
      write(testing::frame_log({testing::header_record(), chunk, testing::empty_components_manifest(0)}, 3)));
  for (unsigned i = 0; i < 3; ++i) {
    const EventRecord* e = reader->next();
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->kind, "file.read");
    EXPECT_EQ(e->key, "key-" + std::to_string(i));
    EXPECT_EQ(e->result_kind, ResultKind::kBytes);
    EXPECT_EQ(e->bytes, std::string("\1\2\3\4\5\6\7", 7) + static_cast<char>(i));
  }
  EXPECT_EQ(reader->next(), nullptr);
}

TEST_F(HostileLog, TextPointerOutsideTheMessageIsCorrupt) {
  capnp::MallocMessageBuilder m;
  std::string chunk = three_event_chunk(m);
  // Event 1's key pointer (its first pointer, after 2 data words) aimed far past the end.
  auto events = m.getRoot<schema::Record>().getChunk().getEvents();
  const auto* segment = reinterpret_cast<const char*>(m.getSegmentsForOutput()[0].begin());
  const auto* data = reinterpret_cast<const char*>(capnp::AnyStruct::Builder(events[1]).getDataSection().begin());
  const std::size_t at = 8 + static_cast<std::size_t>(data - segment) + 16;
  const std::uint64_t bad = 1 | (std::uint64_t{0x0FFFFFF} << 2) | (std::uint64_t{2} << 32) | (std::uint64_t{6} << 35);
  std::memcpy(chunk.data() + at, &bad, 8);
  auto e = read_all_error(
      write(testing::frame_log({testing::header_record(), chunk, testing::empty_components_manifest(0)}, 3)));
  EXPECT_EQ(e.code(), LogErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("bad message: event 1: "));
}

// The production limits leave every log the writer makes readable, with room.
TEST(ReaderLimits, DefaultsAdmitTheWritersLargestChunks) {
  TempDir dir;
  auto path = dir / "big-chunks.snaplog";
  LogWriterOptions options;
  options.max_events_per_chunk = 200000;  // far beyond the default 8192
  options.max_chunk_bytes = 32u << 20;
  testing::write_synthetic_log(path, 400000, options);
  auto reader = LogReader::open(path);
  std::uint64_t n = 0;
  while (reader->next() != nullptr) ++n;
  EXPECT_EQ(n, 400000u);
}

}  // namespace
}  // namespace snap
