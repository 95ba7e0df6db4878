// snap/log_inspect.h as a library: the rules the goldens do not show on their own --
// the manifest tree for out-of-order and gappy ids, filter boundaries, byte truncation,
// and that a damaged log writes nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

#include "../format/log_test_util.h"
#include "snap/log_inspect.h"

namespace snap {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string text(const std::filesystem::path& log, const InspectOptions& options = {}) {
  std::ostringstream out;
  inspect_text(log, options, out);
  return out.str();
}

boost::json::value json(const std::filesystem::path& log, const InspectOptions& options = {}) {
  std::ostringstream out;
  inspect_json(log, options, out);
  return boost::json::parse(out.str());
}

// The lines of `s` from the one equal to `first` up to (not including) the next empty line.
std::vector<std::string> section(const std::string& s, const std::string& first) {
  std::istringstream in(s);
  std::vector<std::string> lines;
  std::string line;
  bool in_section = false;
  while (std::getline(in, line)) {
    if (line == first) in_section = true;
    if (in_section && line.empty()) break;
    if (in_section) lines.push_back(line);
  }
  return lines;
}

void write_log(const std::filesystem::path& path, const Manifest& manifest, std::uint64_t events) {
  auto writer = LogWriter::create(path, testing::test_header());
  for (std::uint64_t i = 0; i < events; ++i) writer->append(testing::synthetic_event(i).record);
  writer->finish(manifest);
}

TEST(InspectManifest, ChildrenShowUnderTheirParentWhateverTheDeclarationOrder) {
  testing::TempDir dir;
  Manifest m;
  m.components = {
      {"my-app", "App", "", "{}", {}},
      {"my-app.customer-server", "ApiServer", "daemon", "{}", {"my-app.customer-server.db"}},
      {"my-app.worker", "Worker", "daemon", "{}", {}},
      // Declared after a sibling of its parent: still printed under its parent.
      {"my-app.customer-server.db", "Store", "", "{}", {}},
      // No `my-app.jobs` component: shown under the nearest declared ancestor.
      {"my-app.jobs.nightly", "CliCommand", "command", "{}", {}},
      // Not under my-app at all, and `my-appendix` is not a child of `my-app`.
      {"my-appendix", "App", "", "{}", {}},
  };
  write_log(dir / "a.snaplog", m, 0);
  EXPECT_EQ(section(text(dir / "a.snaplog"), "components (6):"),
            (std::vector<std::string>{
                "components (6):",
                "  my-app  App",
                "    my-app.customer-server  ApiServer  [daemon]  uses my-app.customer-server.db",
                "      my-app.customer-server.db  Store",
                "    my-app.worker  Worker  [daemon]",
                "    my-app.jobs.nightly  CliCommand  [command]",
                "  my-appendix  App",
            }));
}

TEST(InspectManifest, OddIdsDoNotHang) {
  testing::TempDir dir;
  Manifest m;
  m.components = {{".", "A", "", "{}", {}}, {"..x", "B", "", "{}", {}}, {"", "C", "", "{}", {}}, {"a..b", "D", "", "{}", {}}};
  write_log(dir / "a.snaplog", m, 0);
  EXPECT_EQ(section(text(dir / "a.snaplog"), "components (4):").size(), 5u);
}

TEST(InspectEvents, FromIsInclusiveToIsExclusive) {
  testing::TempDir dir;
  write_log(dir / "a.snaplog", testing::test_manifest(), 20);
  InspectOptions o;
  o.from = 3;
  o.to = 6;
  const auto events = json(dir / "a.snaplog", o).at("events").as_array();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].at("index").to_number<std::uint64_t>(), 3u);
  EXPECT_EQ(events[2].at("index").to_number<std::uint64_t>(), 5u);
  EXPECT_THAT(text(dir / "a.snaplog", o), HasSubstr("(3 shown)"));
}

TEST(InspectEvents, KindIsExactKeyIsSubstringAndCountsIgnoreFilters) {
  testing::TempDir dir;
  write_log(dir / "a.snaplog", testing::test_manifest(), 20);
  InspectOptions o;
  o.kind = "file";  // no kind is exactly "file"
  EXPECT_TRUE(json(dir / "a.snaplog", o).at("events").as_array().empty());
  o.kind = "file.read";
  o.key_contains = "/1.conf";
  const auto doc = json(dir / "a.snaplog", o);
  const auto& events = doc.at("events").as_array();
  ASSERT_FALSE(events.empty());
  for (const auto& e : events) {
    EXPECT_EQ(e.at("kind").as_string(), "file.read");
    EXPECT_EQ(e.at("key").as_string(), "/etc/app/1.conf");
  }
  // Counts describe the whole log, not the selection.
  EXPECT_EQ(doc.at("events_by_kind").at("clock.wall").to_number<std::uint64_t>(), 4u);
  EXPECT_EQ(doc.at("header").at("event_count").to_number<std::uint64_t>(), 20u);
}

TEST(InspectEvents, SummaryOmitsTheList) {
  testing::TempDir dir;
  write_log(dir / "a.snaplog", testing::test_manifest(), 5);
  InspectOptions o;
  o.list_events = false;
  EXPECT_THAT(text(dir / "a.snaplog", o), Not(HasSubstr("\nevents:\n")));
  EXPECT_FALSE(json(dir / "a.snaplog", o).as_object().contains("events"));
}

TEST(InspectEvents, LongAndBinaryBytesAreCutInTextAndWholeInJson) {
  testing::TempDir dir;
  const std::string printable(100, 'a');
  const std::string binary = std::string("\x01\x02", 2) + std::string(98, 'b');
  {
    auto writer = LogWriter::create(dir / "a.snaplog", testing::test_header());
    EventRecord e;
    e.kind = "file.read";
    e.key = "long";
    e.result_kind = ResultKind::kBytes;
    e.bytes = printable;
    writer->append(e);
    e.key = "binary";
    e.bytes = binary;
    writer->append(e);
    writer->finish({});
  }
  const std::string t = text(dir / "a.snaplog");
  EXPECT_THAT(t, HasSubstr("-> \"" + std::string(64, 'a') + "\"... (100 bytes)"));
  std::string hex_b;
  for (int i = 0; i < 62; ++i) hex_b += "62";
  EXPECT_THAT(t, HasSubstr("-> hex:0102" + hex_b + "... (100 bytes)"));
  // Lines are cut only in text: JSON is for scripts and carries every byte.
  const auto events = json(dir / "a.snaplog").at("events").as_array();
  EXPECT_EQ(events[0].at("result").at("value").as_string(), printable);
  EXPECT_EQ(events[1].at("result").at("value").at("hex").as_string().size(), 200u);
}

TEST(InspectErrors, DamagedChunkThrowsBeforeAnythingIsWritten) {
  testing::TempDir dir;
  write_log(dir / "a.snaplog", testing::test_manifest(), 50);
  std::string bytes = testing::read_file(dir / "a.snaplog");
  // The chunk frame follows the 24-byte file header and the header frame (16-byte prefix,
  // compressed size in its first 4 bytes, little-endian). Damage the middle of the chunk's
  // body: open() still succeeds (footer, manifest and trailer are intact).
  auto u32 = [&](std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  const std::size_t chunk = 24 + 16 + u32(24);
  bytes[chunk + 16 + u32(chunk) / 2] ^= 0x40;
  testing::write_file(dir / "bad.snaplog", bytes);
  ASSERT_NO_THROW(LogReader::open(dir / "bad.snaplog"));
  for (bool as_json : {false, true}) {
    std::ostringstream out;
    try {
      if (as_json) {
        inspect_json(dir / "bad.snaplog", {}, out);
      } else {
        inspect_text(dir / "bad.snaplog", {}, out);
      }
      ADD_FAILURE() << "no error";
    } catch (const LogError& e) {
      EXPECT_EQ(e.code(), LogErrorCode::kCorrupt) << e.what();
    }
    EXPECT_EQ(out.str(), "");
  }
}

}  // namespace
}  // namespace snap
