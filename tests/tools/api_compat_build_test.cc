// `build` against the previous build in its output directory, and `snapshot diff`'s api
// section, on real builds of api_app.cc: a program whose endpoint types change with its
// variant (base, compatible, breaking). A build prints the API changes since the
// previous one; with --fail-on-breaking a breaking change exits 5 and leaves the previous
// build exactly as it was.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "../format/log_test_util.h"
#include "../support/subprocess.h"

namespace snap {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ProcessOptions;
using testing::ProcessResult;
using testing::run_process;

constexpr int kBreakingChangeStatus = 5;  // docs/lifecycle.md, "Exit statuses"

const std::string kBreakingReport =
    "api: 1 breaking change\n"
    "  breaking: POST /api/customer (customers.api): request field \"email\" is new and required: old clients will "
    "be refused\n";
const std::string kCompatibleReport =
    "api: 2 compatible changes, no breaking change\n"
    "  compatible: POST /api/customer (customers.api): request field \"nickname\" is new and optional\n"
    "  compatible: GET /api/status (customers.api): new endpoint\n";

std::map<std::string, std::string> base_env() {
  std::map<std::string, std::string> env;
  if (const char* path = std::getenv("PATH")) env["PATH"] = path;
  if (const char* state = std::getenv("XDG_STATE_HOME")) env["XDG_STATE_HOME"] = state;
  return env;
}

ProcessResult build(const std::string& variant, const fs::path& out, bool fail_on_breaking = false) {
  ProcessOptions options;
  options.environment = base_env();
  (*options.environment)["API_APP_VARIANT"] = variant;
  std::vector<std::string> argv{SNAP_API_APP, "build", "--out", out.string()};
  if (fail_on_breaking) argv.push_back("--fail-on-breaking");
  return run_process(argv, options);
}

// Every file under `dir` by relative path, with its bytes: a build directory exactly.
std::map<std::string, std::string> contents(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const std::string name = fs::relative(entry.path(), dir).string();
    out[name] = entry.is_regular_file() ? testing::read_file(entry.path()) : std::string("(directory)");
  }
  return out;
}

// What a build leaves beside its directory other than the lock: nothing.
std::vector<std::string> leftovers(const fs::path& out) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(out.parent_path())) {
    const std::string name = entry.path().filename().string();
    if (name != out.filename().string() && name != "." + out.filename().string() + ".lock") names.push_back(name);
  }
  return names;
}

TEST(ApiCompatBuild, TheFirstBuildComparesNothing) {
  testing::TempDir dir;
  const ProcessResult first = build("base", dir / "out");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_THAT(first.err, Not(HasSubstr("api:")));
}

TEST(ApiCompatBuild, TheSameApiIsNoChange) {
  testing::TempDir dir;
  ASSERT_EQ(build("base", dir / "out").exit_code, 0);
  const ProcessResult again = build("base", dir / "out", true);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.err, HasSubstr("api: no change\n"));
}

// Without --fail-on-breaking a breaking change is reported and the build goes on.
TEST(ApiCompatBuild, ABreakingChangeIsPrinted) {
  testing::TempDir dir;
  ASSERT_EQ(build("base", dir / "out").exit_code, 0);
  const std::string before = testing::read_file(dir / "out/snapshot.snaplog");
  const ProcessResult next = build("breaking", dir / "out");
  ASSERT_EQ(next.exit_code, 0) << next.err;
  EXPECT_THAT(next.err, HasSubstr(kBreakingReport));
  EXPECT_THAT(next.err, HasSubstr("snap: build: wrote "));
  EXPECT_NE(testing::read_file(dir / "out/snapshot.snaplog"), before);
}

TEST(ApiCompatBuild, FailOnBreakingKeepsThePreviousBuild) {
  testing::TempDir dir;
  const fs::path out = dir / "out";
  ASSERT_EQ(build("base", out).exit_code, 0);
  const std::map<std::string, std::string> before = contents(out);
  ASSERT_TRUE(before.count("snapshot.snaplog"));
  const ProcessResult refused = build("breaking", out, true);
  EXPECT_EQ(refused.exit_code, kBreakingChangeStatus) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr(kBreakingReport));
  EXPECT_THAT(refused.err, HasSubstr("snap: build: not written: a change breaks the previous build's clients "
                                     "(--fail-on-breaking); " + out.string() + " is the previous build, unchanged\n"));
  EXPECT_THAT(refused.err, Not(HasSubstr("snap: build: wrote")));
  EXPECT_EQ(contents(out), before);  // the log's bytes included
  EXPECT_THAT(leftovers(out), ::testing::IsEmpty());
  // The refused build holds nothing: the next one compares with the same previous build.
  const ProcessResult again = build("breaking", out, true);
  EXPECT_EQ(again.exit_code, kBreakingChangeStatus) << again.err;
}

TEST(ApiCompatBuild, FailOnBreakingLetsCompatibleChangesThrough) {
  testing::TempDir dir;
  ASSERT_EQ(build("base", dir / "out").exit_code, 0);
  const std::string before = testing::read_file(dir / "out/snapshot.snaplog");
  const ProcessResult next = build("compatible", dir / "out", true);
  ASSERT_EQ(next.exit_code, 0) << next.err;
  EXPECT_THAT(next.err, HasSubstr(kCompatibleReport));
  EXPECT_NE(testing::read_file(dir / "out/snapshot.snaplog"), before);
}

// What cannot be read is replaced: the build says so once and goes on.
TEST(ApiCompatBuild, AnUnreadablePreviousLogIsSaidAndNotCompared) {
  testing::TempDir dir;
  ASSERT_EQ(build("base", dir / "out").exit_code, 0);
  std::ofstream(dir / "out/snapshot.snaplog", std::ios::binary | std::ios::trunc) << "not a log";
  const ProcessResult next = build("breaking", dir / "out", true);
  ASSERT_EQ(next.exit_code, 0) << next.err;
  EXPECT_THAT(next.err, HasSubstr("api: nothing compared: the previous build's log cannot be read: "));
  EXPECT_THAT(next.err, Not(HasSubstr("breaking:")));
}

TEST(ApiCompatBuild, SnapshotDiffHasAnApiSection) {
  testing::TempDir dir;
  ASSERT_EQ(build("base", dir / "base").exit_code, 0);
  ASSERT_EQ(build("breaking", dir / "breaking").exit_code, 0);
  const ProcessResult text = run_process({SNAP_TOOL, "diff", (dir / "base").string(), (dir / "breaking").string()});
  EXPECT_EQ(text.exit_code, 1) << text.err;
  EXPECT_THAT(text.out, HasSubstr("\n\n" + kBreakingReport));
  const ProcessResult json =
      run_process({SNAP_TOOL, "diff", "--json", (dir / "base").string(), (dir / "breaking").string()});
  EXPECT_EQ(json.exit_code, 1) << json.err;
  const boost::json::value api = boost::json::parse(json.out).at("api");
  EXPECT_EQ(boost::json::serialize(api),
            R"({"breaking":[{"server":"customers.api","endpoint":"POST /api/customer","field":"email",)"
            R"("message":"POST /api/customer (customers.api): request field \"email\" is new and required: old )"
            R"(clients will be refused"}],"compatible":[],"not_compared":[]})");
}

}  // namespace
}  // namespace snap
