// The command line of episodes, as a user runs it: `run --record-requests` writes a failed
// request of a --local build (its store has no database: the read fails unavailable);
// `episodes DIR` lists it; `replay` finds the build's log above the episode and answers
// the same (exit 0), with --json only JSON on stdout; the fixed program answers
// differently (exit 1, the diff); --accept writes the new expectation; a truncated
// episode is exit 2; bad flags are usage errors. And `verify --json` keeps the program's
// own startup output off stdout.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include <boost/json.hpp>

#include "../format/log_test_util.h"
#include "../support/subprocess.h"
#include "episode_harness.h"

namespace snap::episodetest {
namespace {

using ::testing::HasSubstr;
using testing::ChildProcess;
using testing::ProcessOptions;
using testing::ProcessResult;
using testing::run_process;

const std::string kProgram = SNAP_EPISODE_PROGRAM;
const std::string kFixed = SNAP_EPISODE_PROGRAM_FIXED;
const std::string kHello = SNAP_HELLO_PROGRAM;
const std::string kTool = SNAP_TOOL;

// A --local build of the program, made once for the suite.
class EpisodeCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const ProcessResult built =
        run_process({kProgram, "build", "--out", out().string(), "--local", "--secret", "api-key=k-1"});
    ASSERT_EQ(built.exit_code, 0) << built.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::filesystem::path out() { return dir_->path() / "out"; }
  static std::filesystem::path log() { return out() / "snapshot.snaplog"; }

  // An episode of a charge over the balance at an odd second, recorded in process (the
  // same program as the binary), written at `path`.
  static void record_failed_charge(const std::filesystem::path& dir) {
    ClockEnv clock;
    EpisodeOptions options;
    options.policy = RecordingPolicy::parse("errors");
    options.directory = dir;
    const Variant original;
    Running running(clock, original, options);
    running.seed("alice", 10);
    EXPECT_THROW(running.endpoints().charge(running.caller(), Charge{"alice", 25}), ApiError);
  }

  static testing::TempDir* dir_;
};
testing::TempDir* EpisodeCli::dir_ = nullptr;

TEST_F(EpisodeCli, RunRecordsAFailedRequestThatListsAndReplaysTheSame) {
  const auto episodes = out() / "episodes";
  {
    ChildProcess server({kProgram, "run", "api", "--log", log().string(), "--record-requests", "errors", "--episodes",
                         episodes.string()});
    // Healthy once it listens (a bounded wait for a server that never starts).
    bool healthy = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!healthy && std::chrono::steady_clock::now() < deadline) {
      healthy = run_process({kProgram, "health", "api", "--log", log().string()}).exit_code == 0;
    }
    ASSERT_TRUE(healthy);
    ProcessOptions caller;
    caller.environment = std::map<std::string, std::string>{{"SNAP_SECRET_API_KEY", "k-1"}};
    const ProcessResult charged =
        run_process({kProgram, "run", "caller", "--log", log().string(), "charge", "alice", "5"}, caller);
    EXPECT_EQ(charged.exit_code, 1);
    EXPECT_THAT(charged.out, HasSubstr("error unavailable"));
    server.send_signal(SIGTERM);
    const ProcessResult stopped = server.wait();
    EXPECT_THAT(stopped.err, HasSubstr("recording requests (errors) into"));
  }
  const ProcessResult listed = run_process({kProgram, "episodes", episodes.string()});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("503"));
  EXPECT_THAT(listed.out, HasSubstr("episodes.api  POST /charge"));
  const ProcessResult paths = run_process({kProgram, "episodes", episodes.string(), "--failed", "--paths"});
  const std::string episode = paths.out.substr(0, paths.out.find('\n'));
  ASSERT_THAT(episode, ::testing::EndsWith(".episode"));

  // The log is found above the episode: nothing but the file is named.
  const ProcessResult same = run_process({kProgram, "replay", episode});
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  EXPECT_THAT(same.out, HasSubstr("same: POST /charge (episodes.api) answered as recorded: 503"));

  const ProcessResult json = run_process({kProgram, "replay", episode, "--json"});
  EXPECT_EQ(json.exit_code, 0);
  const boost::json::value report = boost::json::parse(json.out);  // stdout is the JSON alone
  EXPECT_EQ(report.at("outcome"), "same");
  EXPECT_EQ(report.at("recorded").at("status"), 503);
}

TEST_F(EpisodeCli, TheFixedProgramAnswersDifferentlyAndAcceptWritesTheNewExpectation) {
  testing::TempDir dir;
  record_failed_charge(dir.path());
  const auto episode = episode_files(dir.path(), real_env()).front();
  EXPECT_EQ(run_process({kProgram, "replay", episode.string(), "--log", log().string()}).exit_code, 0);

  const ProcessResult differs = run_process({kFixed, "replay", episode.string(), "--log", log().string()});
  EXPECT_EQ(differs.exit_code, 1) << differs.out << differs.err;
  EXPECT_THAT(differs.out, HasSubstr("response differs: POST /charge (episodes.api)"));
  EXPECT_THAT(differs.out, HasSubstr("status: 500 -> 412"));
  EXPECT_THAT(differs.out, HasSubstr("$.code: \"internal\" -> \"failed_precondition\""));

  const ProcessResult accepted =
      run_process({kFixed, "replay", dir.path().string(), "--log", log().string(), "--accept"});
  EXPECT_EQ(accepted.exit_code, 0) << accepted.err;
  EXPECT_THAT(accepted.err, HasSubstr(".episode.expected.json: review it"));
  ASSERT_TRUE(std::filesystem::exists(expected_file(episode)));
  EXPECT_THAT(testing::read_file(expected_file(episode)), HasSubstr("\"status\":412"));
  // The fixed program now answers as expected; the old one differs from the expectation.
  EXPECT_EQ(run_process({kFixed, "replay", episode.string(), "--log", log().string()}).exit_code, 0);
  EXPECT_EQ(run_process({kProgram, "replay", episode.string(), "--log", log().string()}).exit_code, 1);
}

TEST_F(EpisodeCli, ATruncatedEpisodeIsExit2AndBadArgumentsAreUsageErrors) {
  testing::TempDir dir;
  record_failed_charge(dir.path());
  const auto episode = episode_files(dir.path(), real_env()).front();
  const std::string bytes = testing::read_file(episode);
  { std::ofstream(episode, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2); }
  const ProcessResult cut = run_process({kProgram, "replay", episode.string(), "--log", log().string()});
  EXPECT_EQ(cut.exit_code, 2);
  EXPECT_THAT(cut.err, HasSubstr("truncated"));

  const ProcessResult missing = run_process({kProgram, "replay", (dir.path() / "none.episode").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("no such episode or directory"));

  testing::TempDir empty;
  const ProcessResult none = run_process({kProgram, "replay", empty.path().string()});
  EXPECT_EQ(none.exit_code, 64);
  EXPECT_THAT(none.err, HasSubstr("holds no episode"));

  const ProcessResult policy = run_process({kProgram, "run", "api", "--log", log().string(), "--record-requests", "some"});
  EXPECT_EQ(policy.exit_code, 64);
  EXPECT_THAT(policy.err, HasSubstr("--record-requests: the recording policy is off, errors, all or N%"));

  // A build's log is not an episode.
  const ProcessResult wrong = run_process({kProgram, "replay", log().string(), "--log", log().string()});
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_THAT(wrong.err, HasSubstr("a build's log, not an episode"));
}

TEST_F(EpisodeCli, SnapshotInspectShowsAnEpisodeAndListsADirectory) {
  testing::TempDir dir;
  record_failed_charge(dir.path());
  const auto episode = episode_files(dir.path(), real_env()).front();
  const ProcessResult one = run_process({kTool, "inspect", episode.string()});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_THAT(one.out, HasSubstr("request: POST /charge"));
  EXPECT_THAT(one.out, HasSubstr("#1 clock.wall -> 1800000001000000000"));
  EXPECT_THAT(one.out, HasSubstr("#2 store.get"));
  EXPECT_THAT(one.out, HasSubstr("episode_app.cc:"));
  EXPECT_THAT(one.out, HasSubstr("response: 500"));
  const ProcessResult json = run_process({kTool, "inspect", "--json", episode.string()});
  const boost::json::value parsed = boost::json::parse(json.out);
  EXPECT_EQ(parsed.at("inputs").as_array().size(), 2u);
  EXPECT_EQ(parsed.at("response").at("status"), 500);

  const ProcessResult many = run_process({kTool, "inspect", "--summary", dir.path().string()});
  ASSERT_EQ(many.exit_code, 0) << many.err;
  EXPECT_THAT(many.out, HasSubstr("2027-01-15T08:00:01.000Z  500"));
  EXPECT_THAT(many.out, HasSubstr("POST /charge"));

  // A directory with neither a build's log nor an episode: the build's log is missing.
  testing::TempDir empty;
  const ProcessResult none = run_process({kTool, "inspect", "--summary", empty.path().string()});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("snapshot.snaplog"));
}

TEST_F(EpisodeCli, VerifyJsonPrintsOnlyJsonOnStdoutForAProgramThatPrintsAtStartup) {
  testing::TempDir dir;
  const auto hello = dir.path() / "hello";
  ASSERT_EQ(run_process({kHello, "build", "--out", hello.string()}).exit_code, 0);
  const ProcessResult plain = run_process({kHello, "verify", (hello / "snapshot.snaplog").string()});
  EXPECT_THAT(plain.out, HasSubstr("startup: "));  // what it prints, as it always did
  const ProcessResult json = run_process({kHello, "verify", "--json", (hello / "snapshot.snaplog").string()});
  EXPECT_EQ(json.exit_code, 0);
  const boost::json::value report = boost::json::parse(json.out);
  EXPECT_EQ(report.at("ok"), true);
  EXPECT_THAT(json.err, HasSubstr("startup: "));
}

}  // namespace
}  // namespace snap::episodetest
