// The program lifecycle end to end, in separate OS processes: build records; each
// persona, started elsewhere with a cleared environment and only the log and its own
// secrets, reaches the build's startup values and runs its body; a changed program is
// refused; build state persists; dev mode runs and stops every daemon.
#include <signal.h>
#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../format/log_test_util.h"
#include "../support/log_bytes.h"
#include "../support/subprocess.h"

namespace snap {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ProcessOptions;
using testing::ProcessResult;
using testing::TempDir;

const std::string kApp = SNAP_LIFECYCLE_APP;

std::string line_starting(const std::string& out, const std::string& prefix) {
  const auto at = out.find(prefix);
  if (at == std::string::npos) return "";
  return out.substr(at, out.find('\n', at) - at);
}

class Lifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_file(workspace_ / "input.txt", "from-the-build-machine");
  }

  ProcessResult build(const std::filesystem::path& out, std::map<std::string, std::string> env = {}) {
    ProcessOptions o;
    o.working_directory = workspace_.path();
    env.emplace("LIFECYCLE_USER", "builder");
    o.environment = env;
    return testing::run_process({kApp, "build", "--out", out.string()}, o);
  }

  // A "container": a fresh directory with only the log and the persona's own secrets,
  // a cleared environment (but for `env`), and the build directory out of reach.
  ProcessResult run_persona(const std::filesystem::path& out, const std::string& persona,
                            std::vector<std::string> extra = {}, std::map<std::string, std::string> env = {}) {
    TempDir container;
    std::filesystem::copy_file(out / "snapshot.snaplog", container / "snapshot.snaplog");
    std::filesystem::create_directories(container / "secrets");
    for (const auto& dir : std::filesystem::directory_iterator(out / "runtime-secrets")) {
      if (dir.path().filename().string().rfind("lifecycle_" + persona + "_", 0) == 0) {
        std::filesystem::copy(dir.path(), container / "secrets");
      }
    }
    const auto hidden = out.string() + ".hidden";
    std::filesystem::rename(out, hidden);
    ProcessOptions o;
    o.working_directory = container.path();
    o.environment = env;
    std::vector<std::string> argv = {kApp, "run", persona, "--log", (container / "snapshot.snaplog").string(),
                                     "--secrets-dir", (container / "secrets").string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto result = testing::run_process(argv, o);
    std::filesystem::rename(hidden, out);
    return result;
  }

  TempDir workspace_;
  TempDir outputs_;
};

TEST_F(Lifecycle, PersonasReplayTheBuildsStartupInSeparateProcesses) {
  const auto out = outputs_ / "build";
  auto built = build(out);
  ASSERT_EQ(built.exit_code, 0) << built.err;
  const std::string startup = line_starting(built.out, "startup:");
  ASSERT_THAT(startup, HasSubstr("api_port=35000 admin_port=35001"));
  EXPECT_THAT(startup, HasSubstr("input=from-the-build-machine user=builder builds=0"));
  EXPECT_THAT(built.out, HasSubstr("build action: ran"));
  EXPECT_THAT(built.err, HasSubstr("personas: api, ticker, hello"));
  const std::string password = testing::read_file(out / "state/secrets/db-password");
  ASSERT_EQ(password.size(), 48u);

  auto api = run_persona(out, "api");
  ASSERT_EQ(api.exit_code, 0) << api.err;
  EXPECT_EQ(line_starting(api.out, "startup:"), startup);
  EXPECT_THAT(api.out, HasSubstr("api: running password=" + password + "\n"));
  EXPECT_THAT(api.out, Not(HasSubstr("build action")));

  auto ticker = run_persona(out, "ticker");
  ASSERT_EQ(ticker.exit_code, 0) << ticker.err;
  EXPECT_EQ(line_starting(ticker.out, "startup:"), startup);
  EXPECT_THAT(ticker.out, HasSubstr("ticker: running"));

  auto hello = run_persona(out, "hello", {"a", "b"});
  EXPECT_EQ(hello.exit_code, 7) << "a command's status is the process's";
  EXPECT_EQ(line_starting(hello.out, "startup:"), startup);
  EXPECT_THAT(hello.out, HasSubstr("hello: args=2"));

  // PERSONA from the environment works like the argument.
  ProcessOptions o;
  o.environment = std::map<std::string, std::string>{{"PERSONA", "hello"},
                                                     {"SNAP_LOG", (out / "snapshot.snaplog").string()}};
  auto by_env = testing::run_process({kApp}, o);
  EXPECT_EQ(by_env.exit_code, 0) << by_env.err;
  EXPECT_THAT(by_env.out, HasSubstr("hello: args=0"));
}

TEST_F(Lifecycle, SecretsGoOnlyToPersonasThatUseThemAndNeverIntoTheLog) {
  const auto out = outputs_ / "build";
  ASSERT_EQ(build(out).exit_code, 0);
  const std::string password = testing::read_file(out / "state/secrets/db-password");
  const std::string log = testing::read_file(out / "snapshot.snaplog");
  EXPECT_EQ(log.find(password), std::string::npos);
  EXPECT_EQ(testing::decompressed_log_bytes(log).find(password), std::string::npos);

  struct stat st {};
  ASSERT_EQ(stat((out / "state/secrets/db-password").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THAT(testing::read_file(out / ".gitignore"), HasSubstr("state/secrets/"));

  int api_dirs = 0, ticker_secrets = 0;
  for (const auto& dir : std::filesystem::directory_iterator(out / "runtime-secrets")) {
    const auto name = dir.path().filename().string();
    const bool has = std::filesystem::exists(dir.path() / "db-password");
    if (name.rfind("lifecycle_api_", 0) == 0) api_dirs += has ? 1 : 0;
    if (name.rfind("lifecycle_ticker_", 0) == 0) ticker_secrets += has ? 1 : 0;
  }
  EXPECT_EQ(api_dirs, 1);
  EXPECT_EQ(ticker_secrets, 0) << "ticker does not use the password";
}

TEST_F(Lifecycle, PortsAndPasswordsPersistAcrossBuildsOfOneDirectory) {
  const auto out = outputs_ / "build";
  ASSERT_EQ(build(out).exit_code, 0);
  const std::string first_password = testing::read_file(out / "state/secrets/db-password");
  auto again = build(out);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("api_port=35000 admin_port=35001"));
  EXPECT_THAT(again.out, HasSubstr("builds=1"));  // build state persisted
  EXPECT_EQ(testing::read_file(out / "state/secrets/db-password"), first_password);

  const auto fresh = outputs_ / "fresh";
  auto other = build(fresh);
  ASSERT_EQ(other.exit_code, 0);
  EXPECT_THAT(other.out, HasSubstr("api_port=35000 admin_port=35001"));
  EXPECT_NE(testing::read_file(fresh / "state/secrets/db-password"), first_password);
}

TEST_F(Lifecycle, ChangedProgramsAreRefusedByRunAndVerify) {
  const auto out = outputs_ / "build";
  ASSERT_EQ(build(out).exit_code, 0);
  const std::string log = (out / "snapshot.snaplog").string();

  struct Case {
    std::string variant;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"added", "added (not in the build):   lifecycle.extra-port"},
      {"removed", "removed (only in the build): lifecycle.metrics-port"},
      {"reordered", "replay diverged at event 2: the program asked for a different input than the build recorded"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.variant);
    auto ran = run_persona(out, "api", {}, {{"LIFECYCLE_VARIANT", c.variant}});
    EXPECT_EQ(ran.exit_code, 3) << ran.err;
    EXPECT_THAT(ran.err, HasSubstr(c.expected));
    EXPECT_THAT(ran.out, Not(HasSubstr("api: running")));

    ProcessOptions o;
    o.environment = std::map<std::string, std::string>{{"LIFECYCLE_VARIANT", c.variant}};
    auto verified = testing::run_process({kApp, "verify", log}, o);
    EXPECT_EQ(verified.exit_code, 3) << verified.err;
    EXPECT_THAT(verified.err, HasSubstr(c.expected));
  }
  auto reordered = run_persona(out, "api", {}, {{"LIFECYCLE_VARIANT", "reordered"}});
  EXPECT_THAT(reordered.err, HasSubstr("log expected:   random.bytes request \"4\""));
  EXPECT_THAT(reordered.err, HasSubstr("program asked:  random.int request \"0..1000000000\""));

  auto ok = testing::run_process({kApp, "verify", log});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("replays cleanly"));
}

// A replay regression test: a build log recorded by an earlier binary
// (tests/golden/lifecycle-v1.snaplog) must still replay against today's. If a deliberate
// change to lifecycle_app breaks it, record a new one: run `lifecycle_app build --out DIR`
// in a directory holding input.txt ("from-the-build-machine") with LIFECYCLE_USER=builder.
TEST_F(Lifecycle, YesterdaysBuildLogStillVerifies) {
  const std::string golden = std::string(SNAP_GOLDEN_DIR) + "/lifecycle-v1.snaplog";
  ProcessOptions o;
  o.working_directory = workspace_.path();
  o.environment = std::map<std::string, std::string>{};
  auto verified = testing::run_process({kApp, "verify", golden}, o);
  EXPECT_EQ(verified.exit_code, 0) << verified.err;
  EXPECT_THAT(verified.out, HasSubstr("input=from-the-build-machine user=builder builds=0"));
  EXPECT_THAT(verified.out, HasSubstr("replays cleanly (8 components; personas: api, ticker, hello)"));
}

TEST_F(Lifecycle, UsageErrorsListWhatIsValid) {
  const auto out = outputs_ / "build";
  ASSERT_EQ(build(out).exit_code, 0);
  auto persona = run_persona(out, "nope");
  EXPECT_EQ(persona.exit_code, 64);
  EXPECT_THAT(persona.err, HasSubstr("unknown persona \"nope\"; valid personas: api, ticker, hello"));

  auto sub = testing::run_process({kApp, "deploy"});
  EXPECT_EQ(sub.exit_code, 64);
  EXPECT_THAT(sub.err, HasSubstr("unknown subcommand \"deploy\"; valid subcommands: build, run, dev, verify, personas"));

  auto help = testing::run_process({kApp, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("verify"));
  EXPECT_THAT(help.out, HasSubstr("3 replay diverged"));

  auto listed = testing::run_process({kApp, "personas", "--log", (out / "snapshot.snaplog").string()});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("api\tdaemon\tlifecycle.api\n"));
  EXPECT_THAT(listed.out, HasSubstr("hello\tcommand\tlifecycle.hello\n"));

  auto missing = testing::run_process({kApp, "run", "api", "--log", (outputs_ / "none.snaplog").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("not found"));
}

TEST_F(Lifecycle, PhaseAssertionsNameTheActualPhase) {
  ProcessOptions o;
  o.working_directory = workspace_.path();
  o.environment = std::map<std::string, std::string>{{"LIFECYCLE_VARIANT", "phase-bad"}};
  auto bad = testing::run_process({kApp, "build", "--out", (outputs_ / "b").string()}, o);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("assert_runtime failed at"));
  EXPECT_THAT(bad.err, HasSubstr("the program is in build mode, startup phase"));
  EXPECT_FALSE(std::filesystem::exists(outputs_ / "b/snapshot.snaplog")) << "a failed build publishes no log";
}

TEST_F(Lifecycle, DevRunsEveryDaemonInOneProcessAndStopsOnSignal) {
  ProcessOptions o;
  o.working_directory = workspace_.path();
  testing::ChildProcess dev({kApp, "dev"}, o);
  ASSERT_TRUE(dev.wait_for_output("api: running", std::chrono::seconds(30)));
  ASSERT_TRUE(dev.wait_for_output("ticker: running", std::chrono::seconds(30)));
  dev.send_signal(SIGINT);
  auto result = dev.wait();
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("api: stop hook"));
  EXPECT_THAT(result.out, HasSubstr("api: body returned"));
  EXPECT_THAT(result.err, HasSubstr("snap: dev: running api, ticker"));
  EXPECT_THAT(result.err, HasSubstr("stopping personas"));
  EXPECT_THAT(result.err, HasSubstr("snap: dev: stopped"));
  EXPECT_THAT(result.out, HasSubstr("api_port=35000"));
}

}  // namespace
}  // namespace snap
