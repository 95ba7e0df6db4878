// The program lifecycle end to end, in separate OS processes: build records; each
// persona, started elsewhere with a cleared environment and only the log and its own
// secrets, reaches the build's startup values and runs its body; a changed program is
// refused; build state persists; dev mode runs and stops every daemon.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <optional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../format/crafted_log.h"
#include "../format/log_test_util.h"
#include "../support/log_bytes.h"
#include "../support/subprocess.h"
#include "snap/error.h"

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
  ASSERT_THAT(startup, HasSubstr("api_port=20000 admin_port=20001"));
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
  EXPECT_THAT(again.out, HasSubstr("api_port=20000 admin_port=20001"));
  EXPECT_THAT(again.out, HasSubstr("builds=1"));  // build state persisted
  EXPECT_EQ(testing::read_file(out / "state/secrets/db-password"), first_password);

  const auto fresh = outputs_ / "fresh";
  auto other = build(fresh);
  ASSERT_EQ(other.exit_code, 0);
  EXPECT_THAT(other.out, HasSubstr("api_port=20000 admin_port=20001"));
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

  // verify --json: the same verdicts as one JSON object, with the same exit statuses.
  auto ok_json = testing::run_process({kApp, "verify", "--json", log});
  EXPECT_EQ(ok_json.exit_code, 0) << ok_json.err;
  // Only the report on stdout: what the program prints during startup goes to stderr.
  EXPECT_EQ(ok_json.out, "{\"ok\":true,\"components\":8}\n");
  ProcessOptions reordered_env;
  reordered_env.environment = std::map<std::string, std::string>{{"LIFECYCLE_VARIANT", "reordered"}};
  auto diverged = testing::run_process({kApp, "verify", "--json", log}, reordered_env);
  EXPECT_EQ(diverged.exit_code, 3);
  EXPECT_THAT(diverged.out, HasSubstr("\"type\":\"divergence\""));
  EXPECT_THAT(diverged.out, HasSubstr("\"event_index\":2"));
  EXPECT_THAT(diverged.out, HasSubstr("\"kind\":\"random.bytes\""));
  EXPECT_THAT(diverged.out, HasSubstr("\"exit_status\":3"));
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
  EXPECT_THAT(sub.err,
              HasSubstr("unknown subcommand \"deploy\"; valid subcommands: build, run, dev, verify, replay, episodes, health, personas"));

  // A flag after PERSONA is a mistyped flag of run, not an argument of the persona.
  auto typo = run_persona(out, "hello", {"--logg", "x"});
  EXPECT_EQ(typo.exit_code, 64);
  EXPECT_THAT(typo.err, HasSubstr("run: unknown flag \"--logg\" (flags for the persona itself go after --)"));
  auto after_separator = run_persona(out, "hello", {"--", "--verbose"});
  EXPECT_EQ(after_separator.exit_code, 7) << after_separator.err;

  // A malformed --secret is refused without echoing what may be a secret value.
  auto secret = testing::run_process({kApp, "build", "--out", (outputs_ / "s").string(), "--secret", "sk_live_42"});
  EXPECT_EQ(secret.exit_code, 64);
  EXPECT_THAT(secret.err, HasSubstr("--secret expects NAME=VALUE (the value is not shown)"));
  EXPECT_THAT(secret.err + secret.out, Not(HasSubstr("sk_live_42")));

  auto help = testing::run_process({kApp, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("verify"));
  EXPECT_THAT(help.out, HasSubstr("3 replay diverged"));

  // Listing reads the manifest only: no program code runs (no startup line, no input.txt needed).
  ProcessOptions empty_dir;
  empty_dir.working_directory = outputs_.path();
  empty_dir.environment = std::map<std::string, std::string>{};
  auto listed = testing::run_process({kApp, "personas", "--log", (out / "snapshot.snaplog").string()}, empty_dir);
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, Not(HasSubstr("startup:")));
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
  EXPECT_THAT(result.out, HasSubstr("api_port=20000"));
}

// ---- Lifecycle v2: each trap that used to pass in dev and fail deployed ----

ProcessResult dev_until_exit(const std::filesystem::path& cwd, const std::string& variant,
                             std::vector<std::string> extra = {}, std::optional<std::string> input = std::nullopt) {
  ProcessOptions o;
  o.working_directory = cwd;
  o.environment = std::map<std::string, std::string>{{"LIFECYCLE_VARIANT", variant}};
  o.input = std::move(input);
  std::vector<std::string> argv = {kApp, "dev"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  testing::ChildProcess dev(argv, o);
  // Daemons wait for a stop; the bodies under test fail before that, which stops dev.
  if (dev.wait_for_output("api: running", std::chrono::seconds(20))) dev.send_signal(SIGTERM);
  return dev.wait();
}

TEST_F(Lifecycle, AMembraneKeptFromStartupFailsInDevAndRunAlike) {
  const std::string expected = "a closed membrane was used at";
  const auto out = outputs_ / "build";
  ASSERT_EQ(build(out, {{"LIFECYCLE_VARIANT", "kept-membrane"}}).exit_code, 0);
  auto ran = run_persona(out, "api", {}, {{"LIFECYCLE_VARIANT", "kept-membrane"}});
  EXPECT_EQ(ran.exit_code, 1) << ran.err;
  EXPECT_THAT(ran.err, HasSubstr(expected));
  EXPECT_THAT(ran.err, HasSubstr("lifecycle_app.cc"));
  EXPECT_THAT(ran.err, HasSubstr("reads live inputs through its PersonaContext (ctx.membrane())"));

  auto dev = dev_until_exit(workspace_.path(), "kept-membrane");
  EXPECT_EQ(dev.exit_code, 1) << dev.err;
  EXPECT_THAT(dev.err, HasSubstr(expected));
}

TEST_F(Lifecycle, AMissingUsesIsTheSameErrorInDevAndRun) {
  const std::string expected =
      "persona api (lifecycle.api) does not use lifecycle.audit-key (Password), reached at ";
  const auto out = outputs_ / "build";
  ASSERT_EQ(build(out, {{"LIFECYCLE_VARIANT", "forgot-uses"}}).exit_code, 0);
  // Even with every secret of the build in reach, the persona gets only what it uses.
  ProcessOptions o;
  o.environment = std::map<std::string, std::string>{{"LIFECYCLE_VARIANT", "forgot-uses"}};
  auto ran = testing::run_process({kApp, "run", "api", "--log", (out / "snapshot.snaplog").string(), "--secrets-dir",
                                   (out / "state/secrets").string()},
                                  o);
  EXPECT_EQ(ran.exit_code, 1) << ran.err;
  EXPECT_THAT(ran.err, HasSubstr(expected));
  EXPECT_THAT(ran.err, HasSubstr(".uses(audit-key)"));

  auto dev = dev_until_exit(workspace_.path(), "forgot-uses");
  EXPECT_EQ(dev.exit_code, 1) << dev.err;
  EXPECT_THAT(dev.err, HasSubstr(expected));
}

TEST_F(Lifecycle, TheDeterminismGuardCatchesRawReadsInBuildAndDev) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"raw-clock", "clock_gettime"}, {"raw-time", "time"},     {"raw-rand", "rand"},
      {"raw-getenv", "getenv"},       {"raw-ifstream", "open"},
  };
  for (const auto& [variant, function] : cases) {
    SCOPED_TRACE(variant);
    ProcessOptions o;
    o.working_directory = workspace_.path();
    o.environment = std::map<std::string, std::string>{{"LIFECYCLE_VARIANT", variant}};
    auto built = testing::run_process({kApp, "build", "--out", (outputs_ / variant).string()}, o);
    EXPECT_EQ(built.exit_code, 4) << built.err;
    EXPECT_THAT(built.err, HasSubstr(function));
    EXPECT_THAT(built.err, HasSubstr("called from "));
    EXPECT_THAT(built.err, HasSubstr("lifecycle_app.cc:"));  // the call site in the program
    EXPECT_FALSE(std::filesystem::exists(outputs_ / variant / "snapshot.snaplog"));
    auto dev = testing::run_process({kApp, "dev"}, o);
    EXPECT_EQ(dev.exit_code, 4) << dev.err;
    EXPECT_THAT(dev.err, HasSubstr(function));
  }
}

TEST_F(Lifecycle, SecretsAreNotReadableAtStartupInAnyMode) {
  ProcessOptions o;
  o.working_directory = workspace_.path();
  o.environment = std::map<std::string, std::string>{{"LIFECYCLE_VARIANT", "secret-at-startup"}};
  auto built = testing::run_process({kApp, "build", "--out", (outputs_ / "b").string()}, o);
  EXPECT_EQ(built.exit_code, 1);
  EXPECT_THAT(built.err, HasSubstr("secrets are not readable during startup"));
  auto dev = testing::run_process({kApp, "dev"}, o);
  EXPECT_EQ(dev.exit_code, 1);
  EXPECT_THAT(dev.err, HasSubstr("secrets are not readable during startup"));
}

// Two personas may share a short name in different scopes (each service's own `api`):
// `run NAME` takes the id, the scoped name, or a short name only one persona has.
TEST_F(Lifecycle, TwoPersonasWithOneShortNameAreToldApartByTheirScopedNames) {
  const auto out = outputs_ / "b";
  const std::map<std::string, std::string> variant{{"LIFECYCLE_VARIANT", "dup-persona"}};
  auto built = build(out, variant);
  ASSERT_EQ(built.exit_code, 0) << built.err;
  ProcessOptions o;
  o.working_directory = workspace_.path();
  o.environment = variant;
  const std::string log = (out / "snapshot.snaplog").string();
  // "api" is the top-level daemon's scoped name; the command is "api-port.api".
  auto nested =
      testing::run_process({kApp, "run", "api-port.api", "--log", log, "--secrets-dir", workspace_.path().string()}, o);
  EXPECT_EQ(nested.exit_code, 0) << nested.err;
}

TEST_F(Lifecycle, AFailedBuildLeavesThePreviousOutputWhole) {
  const auto out = outputs_ / "build";
  ASSERT_EQ(build(out).exit_code, 0);
  const std::string log = testing::read_file(out / "snapshot.snaplog");
  const std::string password = testing::read_file(out / "state/secrets/db-password");
  const std::string state = testing::read_file(out / "state/build-state.json");

  auto failed = build(out, {{"LIFECYCLE_VARIANT", "fail-on-build"}});
  EXPECT_EQ(failed.exit_code, 1);
  EXPECT_THAT(failed.err, HasSubstr("the build action failed on purpose"));
  EXPECT_EQ(testing::read_file(out / "snapshot.snaplog"), log);
  EXPECT_EQ(testing::read_file(out / "state/secrets/db-password"), password);
  EXPECT_EQ(testing::read_file(out / "state/build-state.json"), state);
  for (const auto& entry : std::filesystem::directory_iterator(outputs_.path())) {
    EXPECT_THAT(entry.path().filename().string(), Not(HasSubstr("staging"))) << "a failed build cleans up";
  }

  // A stored secret that is empty is an error, not a silently empty password.
  testing::write_file(out / "state/secrets/db-password", "");
  auto empty = build(out);
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_THAT(empty.err, HasSubstr("db-password is empty"));
}

TEST_F(Lifecycle, BuildsIntoOneDirectoryExcludeEachOther) {
  const auto out = outputs_ / "build";
  ASSERT_EQ(::mkfifo((workspace_ / "release.fifo").c_str(), 0600), 0);
  ProcessOptions o;
  o.working_directory = workspace_.path();
  o.environment = std::map<std::string, std::string>{{"LIFECYCLE_VARIANT", "wait-on-build"}};
  testing::ChildProcess first({kApp, "build", "--out", out.string()}, o);
  ASSERT_TRUE(first.wait_for_output("build action: waiting", std::chrono::seconds(30)));

  auto second = build(out);
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_THAT(second.err, ::testing::MatchesRegex("(.|\n)*another build is running \\(pid [0-9]+\\) into (.|\n)*"));
  EXPECT_FALSE(std::filesystem::exists(out / "snapshot.snaplog")) << "the second build wrote nothing";

  { std::ofstream release(workspace_ / "release.fifo"); }  // lets the first build finish
  auto done = first.wait();
  EXPECT_EQ(done.exit_code, 0) << done.err;
  auto verified = testing::run_process({kApp, "verify", (out / "snapshot.snaplog").string()}, o);
  EXPECT_EQ(verified.exit_code, 0) << verified.err;
}

TEST_F(Lifecycle, ASecondSigtermWhileStoppingIsACleanShutdown) {
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE(round);
    ProcessOptions o;
    o.working_directory = workspace_.path();
    testing::ChildProcess dev({kApp, "dev"}, o);
    ASSERT_TRUE(dev.wait_for_output("api: running", std::chrono::seconds(30)));
    ASSERT_TRUE(dev.wait_for_output("ticker: running", std::chrono::seconds(30)));
    dev.send_signal(SIGTERM);
    dev.send_signal(SIGTERM);
    auto result = dev.wait();
    EXPECT_EQ(result.signal, 0);
    EXPECT_EQ(result.exit_code, 0) << result.err;
  }
}

TEST_F(Lifecycle, DevRunsJobsOnceAndTheReplRunsCommands) {
  auto jobs = dev_until_exit(workspace_.path(), "with-job", {"--exit-after-jobs"});
  EXPECT_EQ(jobs.exit_code, 0) << jobs.err;
  EXPECT_THAT(jobs.out, HasSubstr("seed: ran"));
  EXPECT_THAT(jobs.err, HasSubstr("snap: dev: running seed, api, ticker"));

  ProcessOptions o;
  o.working_directory = workspace_.path();
  o.input = "help\nhello a 'b c'\nnope\nexit\n";
  auto repl = testing::run_process({kApp, "dev", "--repl"}, o);
  EXPECT_EQ(repl.exit_code, 0) << repl.err;
  EXPECT_THAT(repl.out, HasSubstr("commands:\n  hello\n"));
  // The daemons print as they start, so their lines may fall between a command's output
  // and its status: the status is checked to follow the output, not to be next to it.
  const auto hello = repl.out.find("hello: args=2\n");
  ASSERT_NE(hello, std::string::npos) << repl.out;
  EXPECT_NE(repl.out.find("(exit status 7)\n", hello), std::string::npos) << repl.out;
  EXPECT_THAT(repl.out, HasSubstr("error: unknown command \"nope\" (help lists them)"));
  // `exit` stops dev mode, and says so as itself, not as a signal from outside.
  EXPECT_THAT(repl.err, HasSubstr("snap: dev: the REPL has ended: stopping personas"));
  EXPECT_THAT(repl.err, Not(HasSubstr("Terminated")));
}

// A persona that cannot start a thread is told what usually runs out, not only EAGAIN's text.
TEST_F(Lifecycle, APersonaOutOfThreadsIsToldOfThePidsLimit) {
  auto dev = dev_until_exit(workspace_.path(), "no-threads", {"--exit-after-jobs"});
  EXPECT_NE(dev.exit_code, 0);
  EXPECT_THAT(dev.err, HasSubstr("snap: persona spawn failed: Resource temporarily unavailable (a thread could not be "
                                 "started: a container's process and thread limit, `build --pids-limit`, may be too "
                                 "low for this persona)"));
}

// A log whose chunk was repeated (or spliced from another build) is refused by run and
// verify before any persona starts, although startup read every event it needed.
TEST_F(Lifecycle, ReplayRefusesADamagedTailBeforeAnyPersonaStarts) {
  const auto out = outputs_ / "build";
  ASSERT_EQ(build(out).exit_code, 0);
  const std::string bytes = testing::read_file(out / "snapshot.snaplog");
  auto frames = testing::split_frames(bytes);
  ASSERT_GE(frames.size(), 4u);  // header, chunk(s), manifest, trailer
  frames.insert(frames.begin() + 2, frames[1]);  // the first chunk, twice
  testing::write_file(out / "snapshot.snaplog", testing::join_frames(bytes, frames));

  auto verified = testing::run_process({kApp, "verify", (out / "snapshot.snaplog").string()});
  EXPECT_EQ(verified.exit_code, 2) << verified.err;
  EXPECT_THAT(verified.err, HasSubstr("repeated"));
  auto ran = run_persona(out, "api");
  EXPECT_EQ(ran.exit_code, 2) << ran.err;
  EXPECT_THAT(ran.out, Not(HasSubstr("api: running")));
}

// One table from error to exit status: a case per row of docs/lifecycle.md's table.
// The exit-status table (docs/lifecycle.md; exit_status in snap/error.h), one test per row,
// each through the program's command line.
class ExitStatus : public Lifecycle {
 protected:
  void SetUp() override {
    Lifecycle::SetUp();
    ASSERT_EQ(build(outputs_ / "build").exit_code, 0);
  }
  std::string log() const { return (outputs_ / "build" / "snapshot.snaplog").string(); }
  ProcessResult status(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    ProcessOptions o;
    o.working_directory = workspace_.path();
    o.environment = env;
    args.insert(args.begin(), kApp);
    return testing::run_process(args, o);
  }
};

TEST_F(ExitStatus, Row0Success) {
  const auto r = status({"verify", log()});
  EXPECT_EQ(r.exit_code, kExitOk);
  EXPECT_EQ(r.exit_code, 0);
}

TEST_F(ExitStatus, Row1TheProgramFailed) {
  // A PhaseError (code internal) in startup.
  const auto r = status({"build", "--out", (outputs_ / "f").string()}, {{"LIFECYCLE_VARIANT", "phase-bad"}});
  EXPECT_EQ(r.exit_code, kExitFailure);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("lifecycle: error: "));
}

TEST_F(ExitStatus, Row2TheLogIsUnusable) {
  const auto r = status({"verify", (outputs_ / "missing.snaplog").string()});
  EXPECT_EQ(r.exit_code, kExitLogError);
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(ExitStatus, Row3ReplayDivergedOnADivergence) {
  const auto r = status({"verify", log()}, {{"LIFECYCLE_VARIANT", "reordered"}});
  EXPECT_EQ(r.exit_code, kExitDivergence);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("replay diverged at event"));
}

TEST_F(ExitStatus, Row3ReplayDivergedOnAManifestMismatch) {
  const auto r = status({"verify", log()}, {{"LIFECYCLE_VARIANT", "added"}});
  EXPECT_EQ(r.exit_code, kExitDivergence);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("extra-port"));
}

TEST_F(ExitStatus, Row4StartupReadAnInputOutsideTheMembrane) {
  const auto r = status({"build", "--out", (outputs_ / "g").string()}, {{"LIFECYCLE_VARIANT", "raw-rand"}});
  EXPECT_EQ(r.exit_code, kExitNondeterminism);
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_THAT(r.err, HasSubstr("nondeterministic call during startup: rand"));
}

TEST_F(ExitStatus, Row5ABreakingApiChangeWithFailOnBreaking) {
  const std::string out = (outputs_ / "api").string();
  ASSERT_EQ(status({"build", "--out", out}, {{"LIFECYCLE_VARIANT", "greeter-v1"}}).exit_code, 0);
  const auto r = status({"build", "--out", out, "--fail-on-breaking"}, {{"LIFECYCLE_VARIANT", "greeter-v2"}});
  EXPECT_EQ(r.exit_code, kExitBreakingChange);
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("request field \"language\" is new and required"));
}

TEST_F(ExitStatus, Row64UsageError) {
  const auto r = status({"run", "nope", "--log", log()});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_EQ(r.exit_code, 64);
  EXPECT_THAT(r.err, HasSubstr("unknown persona \"nope\""));
}

TEST_F(ExitStatus, Row64UsageErrorFromTheParser) {
  // CLI11's own error (not a snap::Error) is a usage error too.
  const auto r = status({"verify", log(), "--no-such-flag"});
  EXPECT_EQ(r.exit_code, kExitUsage);
}

// ---- The command line's own reliability ----

// `argv` with its standard output on /dev/full (through sh: the child's stdout is a pipe).
ProcessResult run_into_full_device(std::vector<std::string> argv, const ProcessOptions& options = {}) {
  argv.insert(argv.begin(), {"/bin/sh", "-c", "exec \"$0\" \"$@\" >/dev/full"});
  return testing::run_process(argv, options);
}

TEST_F(Lifecycle, OutputLostToAFullDeviceIsAnError) {
  const auto out = outputs_ / "build";
  ASSERT_EQ(build(out).exit_code, 0);
  const std::string expected = "lifecycle: cannot write standard output: No space left on device\n";
  auto listed = run_into_full_device({kApp, "personas", "--log", (out / "snapshot.snaplog").string()});
  EXPECT_EQ(listed.exit_code, 1);
  EXPECT_EQ(listed.err, expected);
  auto help = run_into_full_device({kApp, "--help"});
  EXPECT_EQ(help.exit_code, 1);
  EXPECT_EQ(help.err, expected);
  auto build_help = run_into_full_device({kApp, "build", "--help"});
  EXPECT_EQ(build_help.exit_code, 1);
  EXPECT_EQ(build_help.err, expected);
}

TEST_F(Lifecycle, BaseImageMustBeOneImageReference) {
  auto build_with = [&](const std::string& image, const std::string& dir) {
    ProcessOptions o;
    o.working_directory = workspace_.path();
    o.environment = std::map<std::string, std::string>{{"LIFECYCLE_USER", "builder"}};
    return testing::run_process({kApp, "build", "--out", (outputs_ / dir).string(), "--base-image", image}, o);
  };
  auto injected = build_with("x\nRUN echo injected", "injected");
  EXPECT_EQ(injected.exit_code, 64);
  EXPECT_THAT(injected.err, HasSubstr("--base-image \"x\\nRUN echo injected\" is not an image reference"));
  EXPECT_FALSE(std::filesystem::exists(outputs_ / "injected")) << "a refused build writes nothing";
  auto spaced = build_with("debian bookworm", "spaced");
  EXPECT_EQ(spaced.exit_code, 64);
  EXPECT_THAT(spaced.err, HasSubstr("--base-image \"debian bookworm\" is not an image reference"));
  auto empty = build_with("", "empty");
  EXPECT_EQ(empty.exit_code, 64);
  EXPECT_THAT(empty.err, HasSubstr("--base-image \"\" is not an image reference"));

  const std::string digest = "registry.local:5000/x/y@sha256:" + std::string(64, 'a');
  for (const std::string& image : {std::string("debian:bookworm-slim"), digest}) {
    const std::string dir = image == digest ? "digest" : "tag";
    auto ok = build_with(image, dir);
    ASSERT_EQ(ok.exit_code, 0) << image << ": " << ok.err;
    EXPECT_THAT(testing::read_file(outputs_ / dir / "Dockerfile"), HasSubstr("\nFROM " + image + "\nCOPY image/lib/"));
  }
}

TEST_F(Lifecycle, ArgumentsEchoedInErrorsAreEscaped) {
  const std::string hostile = "\x1b]0;owned\a\x1b[31mred";
  const std::string shown = "\\x1b]0;owned\\x07\\x1b[31mred";
  auto sub = testing::run_process({kApp, hostile});
  EXPECT_EQ(sub.exit_code, 64);
  EXPECT_THAT(sub.err, HasSubstr("unknown subcommand \"" + shown + "\""));
  EXPECT_THAT(sub.err, Not(HasSubstr("\x1b")));
  // CLI11's own parse errors echo arguments too.
  auto extra = testing::run_process({kApp, "verify", "a.snaplog", hostile});
  EXPECT_EQ(extra.exit_code, 64);
  EXPECT_THAT(extra.err, HasSubstr(shown));
  EXPECT_THAT(extra.err, Not(HasSubstr("\x1b")));
  // A log path in a LogError.
  auto missing = testing::run_process({kApp, "personas", "--log", hostile});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr(shown + ": not found"));
  EXPECT_THAT(missing.err, Not(HasSubstr("\x1b")));
  auto replicas = testing::run_process({kApp, "build", "--out", (outputs_ / "r").string(), "--replicas", hostile});
  EXPECT_EQ(replicas.exit_code, 64);
  EXPECT_THAT(replicas.err, HasSubstr("not \"" + shown + "\""));
  EXPECT_THAT(replicas.err, Not(HasSubstr("\x1b")));
}

TEST_F(Lifecycle, ASecretTheProgramDoesNotDeclareIsAUsageError) {
  ProcessOptions o;
  o.working_directory = workspace_.path();
  auto undeclared =
      testing::run_process({kApp, "build", "--out", (outputs_ / "s").string(), "--secret", "db-pasword=hunter2"}, o);
  EXPECT_EQ(undeclared.exit_code, 64);
  EXPECT_THAT(undeclared.err, HasSubstr("--secret db-pasword=...: the program declares no such secret; "
                                        "declared secrets: (none)"));
  EXPECT_THAT(undeclared.err, Not(HasSubstr("hunter2")));
  EXPECT_FALSE(std::filesystem::exists(outputs_ / "s"));
}

}  // namespace
}  // namespace snap
