// The golden log: a log written by format version 1, checked in. Every later version must
// still read it (the first test), and `snapshot inspect` must keep printing it the same
// way (text and JSON goldens). To rewrite the goldens after an intended change of the
// inspect output: SNAP_REGENERATE_GOLDEN=1 ctest -R Golden  (never to paper over a
// reader that can no longer read v1).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "../format/log_test_util.h"
#include "../support/subprocess.h"
#include "snap/log_reader.h"
#include "snap/log_writer.h"

namespace snap {
namespace {

using ::testing::HasSubstr;

const std::filesystem::path kGoldenDir = SNAP_GOLDEN_DIR;
const std::string kSnapshot = SNAP_TOOL;
const std::filesystem::path kGoldenLog = kGoldenDir / "v1-basic.snaplog";

bool regenerating() {
  const char* v = std::getenv("SNAP_REGENERATE_GOLDEN");
  return v != nullptr && std::string(v) == "1";
}

struct GoldenEvent {
  const char* kind;
  const char* key;
  const char* request;
  ResultKind result_kind;
  std::string bytes;
  std::int64_t integer;
  CallSite site;
};

std::vector<GoldenEvent> golden_events() {
  const CallSite define{"shop/app.cc", 12, 5, "void define_shop(snap::App&)"};
  const CallSite later{"shop/app.cc", 30, 9, "void define_shop(snap::App&)"};
  return {
      {"call.build-state", "load", "", ResultKind::kBytes, R"({"ports":{"shop.api-port":35000}})", 0,
       {"replay/src/lifecycle.cc", 92, 7, "load_build_state"}},
      {"clock.wall", "", "", ResultKind::kInteger, "", 1'763'800'000'123'456'789, define},
      {"clock.steady", "", "", ResultKind::kInteger, "", 987'654'321, define},
      {"random.bytes", "", "16", ResultKind::kBytes, std::string("\x00\x01\xfe\xff\x10 binary\x7f!", 14), 0, define},
      {"random.int", "", "1..6", ResultKind::kInteger, "", 4, define},
      {"random.uuid", "", "", ResultKind::kBytes, "0b7c9e2a-4d1f-4c3b-9a8e-5f6d7c8b9a0e", 0, define},
      {"file.read", "config/shop.json", "", ResultKind::kBytes, "{\"currency\":\"EUR\"}\n", 0, later},
      {"file.read", "config/missing.json", "", ResultKind::kFailure,
       "cannot read config/missing.json: No such file or directory", 0, later},
      {"file.exists", "config/shop.json", "", ResultKind::kInteger, "", 1, later},
      {"file.list", "config", "", ResultKind::kBytes, std::string("a.json\0shop.json\0", 17), 0, later},
      {"env", "SHOP_REGION", "", ResultKind::kBytes, "eu-west", 0, later},
      {"env", "SHOP_DEBUG", "", ResultKind::kNone, "", 0, later},
      {"secret", "db-password", "", ResultKind::kSecretHandle, "db-password", 0, later},
      {"call.http", "GET /rates", R"({"base":"EUR"})", ResultKind::kBytes, R"({"USD":1.08})", 0, CallSite{}},
      {"version", "cache-warmup", "", ResultKind::kInteger, "", 1, later},
  };
}

Manifest golden_manifest() {
  Manifest m;
  m.components = {
      {"shop", "App", "", "{}", {}},
      {"shop.api-port", "Port", "", R"({"port":35000})", {}},
      {"shop.db-password", "Password", "", "{}", {}},
      {"shop.api", "ApiServer", "daemon", R"({"port":35000})", {"shop.api-port", "shop.db-password"}},
      {"shop.api.orders", "Store", "", R"({"indexes":["by-customer"]})", {}},
      {"shop.mailer", "Worker", "daemon", R"({"interval_ms":1000})", {"shop.api.orders"}},
      {"shop.migrate", "CliCommand", "command", "{}", {"shop.db-password"}},
  };
  return m;
}

void write_golden_log(const std::filesystem::path& path) {
  LogHeader header;
  header.app_name = "shop";
  header.binary_fingerprint = "shop build-id 0123456789abcdef0123456789abcdef01234567";
  header.writer_version = "snap 0.1.0";
  auto writer = LogWriter::create(path, header);
  for (const auto& g : golden_events()) {
    EventRecord e;
    e.kind = g.kind;
    e.key = g.key;
    e.request = g.request;
    e.result_kind = g.result_kind;
    e.bytes = g.bytes;
    e.integer = g.integer;
    e.call_site = g.site;
    writer->append(e);
  }
  writer->finish(golden_manifest());
}

TEST(GoldenLog, V1StaysReadable) {
  if (regenerating()) write_golden_log(kGoldenLog);
  auto reader = LogReader::open(kGoldenLog);
  EXPECT_EQ(reader->header().format_version, 1u);
  EXPECT_EQ(reader->header().app_name, "shop");
  EXPECT_EQ(reader->header().binary_fingerprint, "shop build-id 0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(reader->header().writer_version, "snap 0.1.0");
  // Written before the manifest recorded secret names (field 5, null on every component):
  // the reader says so rather than report "no secrets".
  Manifest expected_manifest = golden_manifest();
  expected_manifest.secret_names_recorded = false;
  EXPECT_EQ(reader->manifest(), expected_manifest);
  EXPECT_EQ(reader->trailer().event_count, 15u);
  const auto expected = golden_events();
  std::size_t i = 0;
  while (const EventRecord* e = reader->next()) {
    ASSERT_LT(i, expected.size());
    const auto& g = expected[i];
    SCOPED_TRACE("event " + std::to_string(i));
    EXPECT_EQ(e->index, i);
    EXPECT_EQ(e->kind, g.kind);
    EXPECT_EQ(e->key, g.key);
    EXPECT_EQ(e->request, g.request);
    EXPECT_EQ(e->result_kind, g.result_kind);
    EXPECT_EQ(e->bytes, g.bytes);
    EXPECT_EQ(e->integer, g.integer);
    EXPECT_EQ(e->call_site.file, g.site.file);
    EXPECT_EQ(e->call_site.line, g.site.line);
    EXPECT_EQ(e->call_site.function, g.site.function);
    ++i;
  }
  EXPECT_EQ(i, expected.size());
}

void expect_matches_golden(const std::vector<std::string>& args, const std::string& golden_name) {
  std::vector<std::string> argv = {kSnapshot};
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = testing::run_process(argv);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto golden = kGoldenDir / golden_name;
  if (regenerating()) testing::write_file(golden, result.out);
  EXPECT_EQ(result.out, testing::read_file(golden)) << "snapshot " << args[0] << " output changed; see " << golden;
}

TEST(GoldenInspect, TextMatches) { expect_matches_golden({"inspect", kGoldenLog.string()}, "v1-basic.inspect.txt"); }

TEST(GoldenInspect, JsonMatches) {
  expect_matches_golden({"inspect", "--json", kGoldenLog.string()}, "v1-basic.inspect.json");
}

TEST(GoldenInspect, FilteredMatches) {
  expect_matches_golden({"inspect", "--kind", "file.read", "--key", "shop", kGoldenLog.string()},
                        "v1-basic.inspect-filtered.txt");
  expect_matches_golden({"inspect", "--summary", kGoldenLog.string()}, "v1-basic.inspect-summary.txt");
  expect_matches_golden({"inspect", "--from", "3", "--to", "5", "--json", kGoldenLog.string()},
                        "v1-basic.inspect-range.json");
}

TEST(GoldenInspect, NoEventsIsSummary) {
  expect_matches_golden({"inspect", "--no-events", kGoldenLog.string()}, "v1-basic.inspect-summary.txt");
}

TEST(Inspect, VersionAndHelpNameTheExitCodes) {
  auto version = testing::run_process({kSnapshot, "--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out, "snapshot 0.1.0\n");
  auto help = testing::run_process({kSnapshot, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("inspect"));
  EXPECT_THAT(help.out, HasSubstr("2 the log is unusable"));
  EXPECT_THAT(help.out, HasSubstr("64 usage error"));
  auto no_log = testing::run_process({kSnapshot, "inspect"});
  EXPECT_EQ(no_log.exit_code, 64);
}

TEST(GoldenInspect, SecretsAppearOnlyAsHandles) {
  auto result = testing::run_process({kSnapshot, "inspect", kGoldenLog.string()});
  EXPECT_THAT(result.out, HasSubstr("#12  secret  \"db-password\"  -> secret:db-password"));
}

TEST(Inspect, BadLogsExitWithTheirOneLineError) {
  testing::TempDir dir;
  testing::write_file(dir / "text.snaplog", "hello, world\n");
  auto bad = testing::run_process({kSnapshot, "inspect", (dir / "text.snaplog").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err, (dir / "text.snaplog").string() + ": not a snapshot log: bad magic\n");
  EXPECT_EQ(bad.out, "");

  auto missing = testing::run_process({kSnapshot, "inspect", (dir / "none.snaplog").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.err, (dir / "none.snaplog").string() + ": not found: no such file\n");

  std::string cut = testing::read_file(kGoldenLog);
  testing::write_file(dir / "cut.snaplog", cut.substr(0, cut.size() / 2));
  auto truncated = testing::run_process({kSnapshot, "inspect", (dir / "cut.snaplog").string()});
  EXPECT_EQ(truncated.exit_code, 2);
  EXPECT_THAT(truncated.err, HasSubstr(": truncated: file ends at byte"));

  auto usage = testing::run_process({kSnapshot, "frobnicate"});
  EXPECT_EQ(usage.exit_code, 64);
}

}  // namespace
}  // namespace snap
