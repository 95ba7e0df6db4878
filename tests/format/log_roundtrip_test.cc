// The headline property of the log: what the writer appends, the reader returns.
#include <gtest/gtest.h>

#include "log_test_util.h"

namespace snap {
namespace {

using testing::TempDir;

void expect_same(const EventRecord& got, const EventRecord& want, std::uint64_t index) {
  ASSERT_EQ(got.index, index);
  ASSERT_EQ(got.kind, want.kind) << "event " << index;
  ASSERT_EQ(got.key, want.key) << "event " << index;
  ASSERT_EQ(got.request, want.request) << "event " << index;
  ASSERT_EQ(got.result_kind, want.result_kind) << "event " << index;
  ASSERT_EQ(got.bytes, want.bytes) << "event " << index;
  ASSERT_EQ(got.integer, want.integer) << "event " << index;
  ASSERT_EQ(got.call_site.file, want.call_site.file) << "event " << index;
  ASSERT_EQ(got.call_site.line, want.call_site.line) << "event " << index;
  ASSERT_EQ(got.call_site.column, want.call_site.column) << "event " << index;
  ASSERT_EQ(got.call_site.function, want.call_site.function) << "event " << index;
}

TEST(LogRoundTrip, EmptyLogKeepsHeaderAndManifest) {
  TempDir dir;
  auto path = dir / "empty.snaplog";
  testing::write_synthetic_log(path, 0);
  auto reader = LogReader::open(path);
  EXPECT_EQ(reader->header().app_name, "test-app");
  EXPECT_EQ(reader->header().binary_fingerprint, "fingerprint-1");
  EXPECT_EQ(reader->header().writer_version, "snap-test");
  EXPECT_EQ(reader->header().format_version, 1u);
  EXPECT_EQ(reader->manifest(), testing::test_manifest());
  EXPECT_TRUE(reader->manifest().secret_names_recorded);
  EXPECT_EQ(reader->manifest().components[2].secrets, std::vector<std::string>{"db-password"});
  EXPECT_EQ(reader->trailer().event_count, 0u);
  EXPECT_TRUE(reader->trailer().complete);
  EXPECT_EQ(reader->next(), nullptr);
}

TEST(LogRoundTrip, MillionEventsReadBackIdentical) {
  TempDir dir;
  auto path = dir / "million.snaplog";
  constexpr std::uint64_t kCount = 1'000'000;
  testing::write_synthetic_log(path, kCount);
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".partial"));

  auto reader = LogReader::open(path);
  EXPECT_EQ(reader->trailer().event_count, kCount);
  std::uint64_t i = 0;
  while (const EventRecord* e = reader->next()) {
    const auto want = testing::synthetic_event(i);
    expect_same(*e, want.record, i);
    ++i;
  }
  EXPECT_EQ(i, kCount);
  EXPECT_EQ(reader->position(), kCount);
  EXPECT_EQ(reader->next(), nullptr);  // stays at the end
}

TEST(LogRoundTrip, SmallChunksAndCallSiteFreeEvents) {
  TempDir dir;
  auto path = dir / "small.snaplog";
  LogWriterOptions options;
  options.max_events_per_chunk = 3;
  auto writer = LogWriter::create(path, testing::test_header(), options);
  std::string big(200'000, 'x');
  EventRecord plain;
  plain.kind = "file.read";
  plain.key = "/big";
  plain.result_kind = ResultKind::kBytes;
  plain.bytes = big;
  for (int i = 0; i < 10; ++i) writer->append(plain);
  writer->finish({});
  auto reader = LogReader::open(path);
  int n = 0;
  while (const EventRecord* e = reader->next()) {
    EXPECT_TRUE(e->call_site.empty());
    EXPECT_EQ(e->bytes, big);
    ++n;
  }
  EXPECT_EQ(n, 10);
  EXPECT_TRUE(reader->manifest().components.empty());
}

TEST(LogRoundTrip, CallSitesWithReusedBuffersAreNotConfused) {
  // The writer caches call sites by pointer; a buffer reused for different text must not
  // be mistaken for the earlier site.
  TempDir dir;
  auto path = dir / "sites.snaplog";
  auto writer = LogWriter::create(path, testing::test_header());
  char file[16];
  for (int i = 0; i < 3; ++i) {
    std::snprintf(file, sizeof file, "f%d.cc", i);
    EventRecord e;
    e.kind = "k";
    e.call_site = CallSite{file, 1, 1, "fn"};
    writer->append(e);
  }
  writer->finish({});
  auto reader = LogReader::open(path);
  for (int i = 0; i < 3; ++i) {
    const EventRecord* e = reader->next();
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->call_site.file, "f" + std::to_string(i) + ".cc");
  }
}

TEST(LogWriter, AbandonedWriterLeavesNoFiles) {
  TempDir dir;
  auto path = dir / "abandoned.snaplog";
  {
    auto writer = LogWriter::create(path, testing::test_header());
    writer->append(testing::synthetic_event(0).record);
    EXPECT_TRUE(std::filesystem::exists(path.string() + ".partial"));
  }
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".partial"));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(LogWriter, AppendAfterFinishIsAUsageError) {
  TempDir dir;
  auto writer = LogWriter::create(dir / "x.snaplog", testing::test_header());
  writer->finish({});
  try {
    writer->append(testing::synthetic_event(0).record);
    FAIL() << "expected LogError";
  } catch (const LogError& e) {
    EXPECT_EQ(e.code(), LogErrorCode::kUsage);
  }
}

TEST(Manifest, DigestIsOrderAndFieldSensitive) {
  Manifest a = testing::test_manifest();
  Manifest b = a;
  EXPECT_EQ(manifest_digest(a), manifest_digest(b));
  std::swap(b.components[1], b.components[2]);
  EXPECT_NE(manifest_digest(a), manifest_digest(b));
  Manifest c = a;
  c.components[1].uses.clear();
  EXPECT_NE(manifest_digest(a), manifest_digest(c));
  Manifest d = a;
  d.components[2].secrets = {"another-name"};
  EXPECT_NE(manifest_digest(a), manifest_digest(d));
}

}  // namespace
}  // namespace snap
