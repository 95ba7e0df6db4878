// The membrane's contract: what a recording reads, a replay gets back — in another
// process, without the recording machine's files, environment, clock or randomness —
// and where a replayed program asks for something else, the Divergence says exactly where.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "../format/log_test_util.h"
#include "snap/memory_env.h"
#include "../support/log_bytes.h"
#include "../support/subprocess.h"
#include "snap/membrane.h"
#include "snap/secrets.h"
#include "snap/text.h"

namespace snap {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// ---- cross-process replay ----

TEST(MembraneAcrossProcesses, ReplayInAnEmptyPlaceReachesTheRecordedValues) {
  TempDir build, runtime, secrets;
  std::filesystem::create_directories(build / "config");
  testing::write_file(build / "config/app.json", R"({"name":"probe"})");
  testing::write_file(build / "config/b.txt", "b");
  const std::string kSecret = "s3cret-value-that-must-not-leak";
  testing::write_file(secrets / "db-password", kSecret + "\n");
  const auto log = build / "startup.snaplog";

  testing::ProcessOptions record_options;
  record_options.working_directory = build.path();
  record_options.environment = std::map<std::string, std::string>{
      {"PROBE_NAME", "alice"}, {"PROBE_SECRET_DB_PASSWORD", kSecret}};
  auto recorded = testing::run_process({SNAP_MEMBRANE_PROBE, "record", log.string()}, record_options);
  ASSERT_EQ(recorded.exit_code, 0) << recorded.err;
  EXPECT_THAT(recorded.out, HasSubstr("config={\"name\":\"probe\"}\n"));
  EXPECT_THAT(recorded.out, HasSubstr("env=alice\n"));
  EXPECT_THAT(recorded.out, HasSubstr("listing=app.json,b.txt,\n"));
  EXPECT_THAT(recorded.out, HasSubstr("missing=FileError: cannot read config/missing.json"));
  EXPECT_THAT(recorded.out, HasSubstr("secret=" + kSecret + "\n"));
  EXPECT_THAT(recorded.out, HasSubstr("version=1\n"));

  // Another directory (no config/), a cleared environment, a later clock, fresh randomness.
  testing::ProcessOptions replay_options;
  replay_options.working_directory = runtime.path();
  replay_options.environment = std::map<std::string, std::string>{};
  for (const char* mode : {"replay", "replay-poisoned"}) {
    SCOPED_TRACE(mode);
    auto replayed =
        testing::run_process({SNAP_MEMBRANE_PROBE, mode, log.string(), secrets.path().string()}, replay_options);
    ASSERT_EQ(replayed.exit_code, 0) << replayed.err;
    EXPECT_EQ(replayed.out, recorded.out);
  }

  // The live program in the same empty place sees different values: replay did the work.
  const std::string bytes = testing::read_file(log);
  EXPECT_EQ(bytes.find(kSecret), std::string::npos);
  EXPECT_EQ(testing::decompressed_log_bytes(bytes).find(kSecret), std::string::npos);
  EXPECT_NE(testing::decompressed_log_bytes(bytes).find("db-password"), std::string::npos);
}

TEST(MembraneAcrossProcesses, DivergenceExitsWithItsOwnCode) {
  TempDir build, secrets;
  const auto log = build / "startup.snaplog";
  // A log of some other program: the probe's first call (clock.wall) meets an env event.
  {
    MemoryEnv system;
    system.set_variable("X", "1");
    auto none = secrets_from_map({});
    RecordingMembrane m(system, *none, LogWriter::create(log, testing::test_header()));
    m.env("X");
    m.finish({});
  }
  auto replayed = testing::run_process({SNAP_MEMBRANE_PROBE, "replay", log.string(), secrets.path().string()});
  EXPECT_EQ(replayed.exit_code, kExitDivergence);
  EXPECT_THAT(replayed.err, HasSubstr("replay diverged at event 0"));
  EXPECT_EQ(kExitDivergence, 3) << "documented in docs/membrane.md";
}

// ---- in-process helpers ----

using Step = std::function<void(Membrane&)>;

class MembraneTest : public ::testing::Test {
 protected:
  std::filesystem::path record(const std::vector<Step>& steps, const std::string& name = "log.snaplog") {
    auto path = dir_ / name;
    MemoryEnv system(1);
    for (const auto& [name, value] : {std::pair{"HOME", "/home/a"}, {"USER", "a"}, {"A", "1"}, {"B", "2"}}) {
      system.set_variable(name, value);
    }
    write_file(system, "/etc/conf", "content");
    RecordingMembrane m(system, *build_secrets_, LogWriter::create(path, testing::test_header()));
    for (const auto& s : steps) s(m);
    m.finish({});
    return path;
  }

  // Replays `steps` against the log; returns the divergence, if any.
  std::optional<Divergence> replay(const std::filesystem::path& log, const std::vector<Step>& steps) {
    MemoryEnv system(99);
    try {
      ReplayingMembrane m(system, *runtime_secrets_, LogReader::open(log));
      for (const auto& s : steps) s(m);
      m.finish();
    } catch (const Divergence& d) {
      EXPECT_EQ(system.calls(), 0) << "replay touched the system";
      return d;
    }
    EXPECT_EQ(system.calls(), 0) << "replay touched the system";
    return std::nullopt;
  }

  TempDir dir_;
  std::unique_ptr<SecretSource> build_secrets_ = secrets_from_map({{"api-key", "build-value"}});
  std::unique_ptr<SecretSource> runtime_secrets_ = secrets_from_map({{"api-key", "runtime-value"}});
};

// Steps that remember the line they were written on, to check reported call sites.
#define STEP(body) Step([](Membrane& m) { body; })

const Step kWall = STEP(m.wall_now());
const Step kEnvHome = STEP(m.env("HOME"));
const Step kEnvUser = STEP(m.env("USER"));

TEST_F(MembraneTest, IdenticalProgramReplaysCleanly) {
  std::vector<Step> steps = {kWall, kEnvHome, STEP(m.read_file("/etc/conf")), STEP(m.uuid())};
  EXPECT_FALSE(replay(record(steps), steps).has_value());
}

TEST_F(MembraneTest, ExtraCallIsLogExhausted) {
  auto log = record({kWall, kEnvHome});
  const int line = __LINE__ + 1;
  auto d = replay(log, {kWall, kEnvHome, Step([](Membrane& m) { m.env("USER"); })});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->reason(), Divergence::Reason::kLogExhausted);
  EXPECT_EQ(d->index(), 2u);
  EXPECT_FALSE(d->expected().has_value());
  ASSERT_TRUE(d->actual().has_value());
  EXPECT_EQ(d->actual()->kind, "env");
  EXPECT_EQ(d->actual()->key, "USER");
  EXPECT_EQ(d->actual()->line, static_cast<std::uint32_t>(line));
  EXPECT_THAT(d->actual()->file, HasSubstr("membrane_test.cc"));
  EXPECT_THAT(d->what(), HasSubstr("replay diverged at event 2: the program asked for more than the log holds"));
  EXPECT_THAT(d->what(), HasSubstr("program asked:  env \"USER\"  (at "));
}

TEST_F(MembraneTest, MissingCallLeavesEventsUnread) {
  auto log = record({kWall, kEnvHome, kEnvUser});
  auto d = replay(log, {kWall, kEnvHome});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->reason(), Divergence::Reason::kEventsLeftOver);
  EXPECT_EQ(d->index(), 2u);
  EXPECT_EQ(d->events_left(), 1u);
  ASSERT_TRUE(d->expected().has_value());
  EXPECT_EQ(d->expected()->kind, "env");
  EXPECT_EQ(d->expected()->key, "USER");
  EXPECT_THAT(d->what(), HasSubstr("the program finished with 1 event left unread"));
  EXPECT_THAT(d->what(), HasSubstr("log expected:   env \"USER\"  (recorded at "));
}

TEST_F(MembraneTest, DifferentKeyIsReportedWithBothSides) {
  const int recorded_line = __LINE__ + 1;
  auto log = record({kWall, Step([](Membrane& m) { m.env("HOME"); })});
  const int asked_line = __LINE__ + 1;
  auto d = replay(log, {kWall, Step([](Membrane& m) { m.env("SHELL"); })});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->reason(), Divergence::Reason::kDifferentCall);
  EXPECT_EQ(d->index(), 1u);
  EXPECT_EQ(d->expected()->kind, "env");
  EXPECT_EQ(d->expected()->key, "HOME");
  EXPECT_EQ(d->expected()->line, static_cast<std::uint32_t>(recorded_line));
  EXPECT_EQ(d->actual()->kind, "env");
  EXPECT_EQ(d->actual()->key, "SHELL");
  EXPECT_EQ(d->actual()->line, static_cast<std::uint32_t>(asked_line));
  EXPECT_THAT(d->what(), HasSubstr("replay diverged at event 1: the program asked for a different input"));
}

TEST_F(MembraneTest, DifferentKindIsReported) {
  auto log = record({kWall, kEnvHome});
  auto d = replay(log, {kWall, STEP(m.file_exists("HOME"))});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->reason(), Divergence::Reason::kDifferentCall);
  EXPECT_EQ(d->index(), 1u);
  EXPECT_EQ(d->expected()->kind, "env");
  EXPECT_EQ(d->actual()->kind, "file.exists");
  EXPECT_EQ(d->actual()->key, "HOME");
}

TEST_F(MembraneTest, ChangedRequestOfAUserCallIsReported) {
  auto echo = [](std::string_view r) { return std::string(r); };
  auto log = record({kWall, [&](Membrane& m) { m.call("http", "POST /orders", R"({"qty":1})", echo); }});
  auto d = replay(log, {kWall, [&](Membrane& m) { m.call("http", "POST /orders", R"({"qty":2})", echo); }});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->reason(), Divergence::Reason::kDifferentRequest);
  EXPECT_EQ(d->index(), 1u);
  EXPECT_EQ(d->expected()->kind, "call.http");
  EXPECT_EQ(d->expected()->request, R"({"qty":1})");
  EXPECT_EQ(d->actual()->request, R"({"qty":2})");
  EXPECT_THAT(d->what(), HasSubstr(R"(request "{\"qty\":1}")"));
  EXPECT_THAT(d->what(), HasSubstr(R"(request "{\"qty\":2}")"));
}

TEST_F(MembraneTest, ReorderedPairIsReportedAtTheFirstSwappedCall) {
  const Step a = STEP(m.env("A"));
  const Step b = STEP(m.env("B"));
  auto log = record({kWall, a, b, STEP(m.uuid())});
  auto d = replay(log, {kWall, b, a, STEP(m.uuid())});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->reason(), Divergence::Reason::kDifferentCall);
  EXPECT_EQ(d->index(), 1u);
  EXPECT_EQ(d->expected()->key, "A");
  EXPECT_EQ(d->actual()->key, "B");
}

TEST_F(MembraneTest, ChangedRandomRangeIsADifferentRequest) {
  auto log = record({STEP(m.random_int(1, 6))});
  auto d = replay(log, {STEP(m.random_int(1, 20))});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->reason(), Divergence::Reason::kDifferentRequest);
  EXPECT_EQ(d->expected()->request, "1..6");
  EXPECT_EQ(d->actual()->request, "1..20");
}

TEST_F(MembraneTest, ValuesAndFailuresReplayExactly) {
  std::vector<std::string> seen_record, seen_replay;
  auto program = [](std::vector<std::string>& seen) {
    return std::vector<Step>{
        [&seen](Membrane& m) { seen.push_back(std::to_string(m.wall_now().time_since_epoch().count())); },
        [&seen](Membrane& m) { seen.push_back(std::to_string(m.steady_now().time_since_epoch().count())); },
        [&seen](Membrane& m) { seen.push_back(m.random_bytes(5)); },
        [&seen](Membrane& m) { seen.push_back(std::to_string(m.random_int(-3, 3))); },
        [&seen](Membrane& m) { seen.push_back(m.uuid()); },
        [&seen](Membrane& m) { seen.push_back(m.read_file("/etc/conf")); },
        [&seen](Membrane& m) {
          try {
            m.read_file("/nope");
          } catch (const FileError& e) {
            seen.push_back(std::string("FileError:") + e.what());
          }
        },
        [&seen](Membrane& m) { seen.push_back(m.file_exists("/nope") ? "yes" : "no"); },
        [&seen](Membrane& m) {
          try {
            m.list_directory("/missing");
          } catch (const FileError& e) {
            seen.push_back(std::string("FileError:") + e.what());
          }
        },
        [&seen](Membrane& m) { seen.push_back(m.env("UNSET").value_or("<none>")); },
        [&seen](Membrane& m) {
          try {
            m.call("rpc", "k", "", [](std::string_view) -> std::string { throw std::runtime_error("backend down"); });
          } catch (const CallFailed& e) {
            seen.push_back(std::string("CallFailed:") + e.what());
          }
        },
    };
  };
  auto log = record(program(seen_record));
  EXPECT_FALSE(replay(log, program(seen_replay)).has_value());
  EXPECT_EQ(seen_record, seen_replay);
  EXPECT_EQ(seen_record[6], "FileError:cannot read /nope: No such file or directory");
  EXPECT_EQ(seen_record[10], "CallFailed:backend down");
  const auto uuid = seen_record[4];
  ASSERT_EQ(uuid.size(), 36u);
  EXPECT_EQ(uuid[14], '4');
}

TEST_F(MembraneTest, SecretsResolveFromEachSidesOwnSource) {
  std::string at_build, at_runtime;
  auto log = record({[&](Membrane& m) { at_build = m.secret("api-key"); }});
  EXPECT_FALSE(replay(log, {[&](Membrane& m) { at_runtime = m.secret("api-key"); }}).has_value());
  EXPECT_EQ(at_build, "build-value");
  EXPECT_EQ(at_runtime, "runtime-value");
  const std::string bytes = testing::read_file(log);
  EXPECT_EQ(testing::decompressed_log_bytes(bytes).find("build-value"), std::string::npos);
}

TEST_F(MembraneTest, SecretMissingAtRuntimeNamesWhereItLooked) {
  auto log = record({STEP(m.secret("api-key"))});
  runtime_secrets_ = secrets_from_map({});
  try {
    replay(log, {STEP(m.secret("api-key"))});
    FAIL() << "expected SecretUnavailable";
  } catch (const SecretUnavailable& e) {
    EXPECT_THAT(e.what(), HasSubstr("secret \"api-key\" is not available to this persona"));
  }
}

TEST_F(MembraneTest, SecretMissingAtBuildFailsTheBuild) {
  EXPECT_THROW(record({STEP(m.secret("no-such-secret"))}), SecretUnavailable);
}

TEST_F(MembraneTest, VersionLetsOldLogsReplayNewCode) {
  int got = 0;
  // A log from before the change: no version marker.
  auto old_log = record({kWall, kEnvHome}, "old.snaplog");
  EXPECT_FALSE(replay(old_log, {kWall,
                                [&](Membrane& m) {
                                  got = m.version("cache", Membrane::kDefaultVersion, 1);
                                  if (got == 1) m.env("USER");  // the new code path
                                },
                                kEnvHome})
                   .has_value());
  EXPECT_EQ(got, Membrane::kDefaultVersion);

  // A log recorded with the change replays the new path.
  auto new_code = [&](Membrane& m) {
    got = m.version("cache", Membrane::kDefaultVersion, 1);
    if (got == 1) m.env("USER");
  };
  auto new_log = record({kWall, new_code, kEnvHome}, "new.snaplog");
  got = 0;
  EXPECT_FALSE(replay(new_log, {kWall, new_code, kEnvHome}).has_value());
  EXPECT_EQ(got, 1);

  // Code that dropped support for version 1 cannot replay that log.
  auto d = replay(new_log, {kWall, STEP(m.version("cache", 2, 3))});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->reason(), Divergence::Reason::kUnsupportedVersion);
  EXPECT_THAT(d->what(), HasSubstr("the log recorded version 1 of \"cache\"; this program supports 2..3"));
}

TEST_F(MembraneTest, RecordAndReplayRefuseOtherThreads) {
  MemoryEnv system;
  RecordingMembrane recording(system, *build_secrets_, LogWriter::create(dir_ / "t.snaplog", testing::test_header()));
  std::string error;
  std::thread([&] {
    try {
      recording.wall_now();
    } catch (const ThreadRuleError& e) {
      error = e.what();
    }
  }).join();
  EXPECT_THAT(error, HasSubstr("startup is single-threaded"));
  recording.finish({});

  ReplayingMembrane replaying(system, *runtime_secrets_, LogReader::open(dir_ / "t.snaplog"));
  error.clear();
  std::thread([&] {
    try {
      replaying.env("X");
    } catch (const ThreadRuleError& e) {
      error = e.what();
    }
  }).join();
  EXPECT_THAT(error, HasSubstr("a replaying call from another thread"));

  LiveMembrane live(system, *runtime_secrets_);
  std::int64_t t = 0;
  std::thread([&] { t = live.wall_now().time_since_epoch().count(); }).join();
  EXPECT_GT(t, 0);
}

TEST_F(MembraneTest, TwoAppsInOneProcessDoNotInterfere) {
  // App 1 was recorded earlier; app 2 records now while app 1 replays, calls interleaved.
  std::vector<std::string> first_values;
  auto log1 = record({[&](Membrane& m) { first_values.push_back(m.random_bytes(8)); },
                      [&](Membrane& m) { first_values.push_back(m.env("HOME").value()); }},
                     "app1.snaplog");

  MemoryEnv system2(7), system_replay(42);
  system2.set_variable("HOME", "/home/two");
  RecordingMembrane app2(system2, *build_secrets_, LogWriter::create(dir_ / "app2.snaplog", testing::test_header()));
  ReplayingMembrane app1(system_replay, *runtime_secrets_, LogReader::open(log1));

  const std::string two_random = app2.random_bytes(8);
  EXPECT_EQ(app1.random_bytes(8), first_values[0]);
  const std::string two_home = app2.env("HOME").value();
  EXPECT_EQ(app1.env("HOME").value(), first_values[1]);
  app1.finish();
  app2.finish({});
  EXPECT_EQ(system_replay.calls(), 0);
  EXPECT_NE(two_random, first_values[0]);
  EXPECT_EQ(two_home, "/home/two");

  std::string replayed_random, replayed_home;
  EXPECT_FALSE(replay(dir_ / "app2.snaplog", {[&](Membrane& m) { replayed_random = m.random_bytes(8); },
                                               [&](Membrane& m) { replayed_home = m.env("HOME").value(); }})
                   .has_value());
  EXPECT_EQ(replayed_random, two_random);
  EXPECT_EQ(replayed_home, "/home/two");
}

TEST(LiveMembrane, PassesStraightThrough) {
  MemoryEnv system;
  system.set_variable("X", "live");
  auto secrets = secrets_from_map({{"k", "v"}});
  LiveMembrane m(system, *secrets);
  EXPECT_EQ(m.env("X").value(), "live");
  EXPECT_EQ(m.secret("k"), "v");
  const auto t1 = m.wall_now();
  const auto t2 = m.wall_now();
  EXPECT_LT(t1, t2);
}

TEST(Secrets, DirectoryAndEnvSources) {
  TempDir dir;
  testing::write_file(dir / "db-password", "pw\n");
  MemoryEnv fake;
  Env* real = &real_env();
  auto from_dir = secrets_from_directory(dir.path(), *real);
  EXPECT_EQ(from_dir->get("db-password").value(), "pw");
  EXPECT_FALSE(from_dir->get("../etc/passwd").has_value());
  EXPECT_FALSE(from_dir->get("absent").has_value());
  fake.set_variable("SNAP_SECRET_DB_PASSWORD", "from-env");
  auto from_env = secrets_from_env("SNAP_SECRET_", fake);
  EXPECT_EQ(from_env->get("db-password").value(), "from-env");
  EXPECT_EQ(from_env->describe("db-password"), "$SNAP_SECRET_DB_PASSWORD");
  std::vector<std::unique_ptr<SecretSource>> chain;
  chain.push_back(secrets_from_directory(dir.path(), *real));
  chain.push_back(secrets_from_env("SNAP_SECRET_", fake));
  auto both = secrets_from_chain(std::move(chain));
  EXPECT_THAT(both->describe("x"), HasSubstr("$SNAP_SECRET_X"));
}

}  // namespace
}  // namespace snap

namespace snap {
namespace {

// A log whose events were written by hand: what a damaged or crafted log can hold.
std::filesystem::path hand_written_log(const std::filesystem::path& path, const std::vector<EventRecord>& events) {
  auto writer = LogWriter::create(path, testing::test_header());
  for (const EventRecord& e : events) writer->append(e);
  writer->finish({});
  return path;
}

TEST(CraftedLog, ASecretHandleNamingAnotherSecretIsRefused) {
  TempDir dir;
  EventRecord e;
  e.kind = "secret";
  e.key = "db-password";
  e.result_kind = ResultKind::kSecretHandle;
  e.bytes = "admin-password";  // the handle of a different secret
  const auto log = hand_written_log(dir / "crafted.snaplog", {e});
  MemoryEnv system;
  auto secrets = secrets_from_map({{"db-password", "db"}, {"admin-password", "admin"}});
  ReplayingMembrane m(system, *secrets, LogReader::open(log));
  try {
    m.secret("db-password");
    FAIL() << "returned another secret's value";
  } catch (const LogError& error) {
    EXPECT_EQ(error.code(), LogErrorCode::kCorrupt);
    EXPECT_THAT(error.what(), HasSubstr("the log's handle for secret \"db-password\" is not that secret's handle"));
  }
}

TEST(CraftedLog, DivergenceReportsEscapeWhatTheLogHolds) {
  TempDir dir;
  EventRecord e;
  e.kind = "env";
  e.key = "HOME\x1b[31m";
  e.result_kind = ResultKind::kBytes;
  e.bytes = "x";
  e.call_site = CallSite{"evil\x1b]0;title\x07.cc", 7, 1, "f\xff\xfe"};
  const auto log = hand_written_log(dir / "crafted.snaplog", {e});
  MemoryEnv system;
  auto secrets = secrets_from_map({});
  ReplayingMembrane m(system, *secrets, LogReader::open(log));
  try {
    m.env("HOME");
    FAIL();
  } catch (const Divergence& d) {
    const std::string what = d.what();
    EXPECT_EQ(what.find('\x1b'), std::string::npos) << what;
    EXPECT_EQ(what.find('\x07'), std::string::npos) << what;
    EXPECT_TRUE(is_valid_utf8(what)) << what;
    EXPECT_THAT(what, HasSubstr(R"(env "HOME\x1b[31m")"));
    EXPECT_THAT(what, HasSubstr(R"(recorded at evil\x1b]0;title\x07.cc:7 in f\xff\xfe)"));
    EXPECT_THAT(what, HasSubstr("rebuild (`build`) to deploy this program, or keep the old reads for old logs behind "
                                "membrane.version(...)"));
  }
}

}  // namespace
}  // namespace snap
