// The determinism guard: startup code that reads the clock, randomness, the environment
// or a file straight from the C library is caught — named, located and given the membrane
// call to use instead — while the membrane's own real reads, other threads and deliberate
// exceptions are not.
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "../format/log_test_util.h"
#include "snap/determinism_guard.h"
#include "snap/log.h"
#include "snap/membrane.h"
#include "snap/secrets.h"
#include "snap/env.h"

#ifndef SNAP_TEST_HAS_DEBUG_INFO
#define SNAP_TEST_HAS_DEBUG_INFO 0
#endif

namespace snap {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using testing::TempDir;

// Results land here so that no call is optimised away, and writing after the call keeps
// it from being a tail call (which would drop the caller's frame from the backtrace).
volatile long g_sink = 0;

// One startup-like caller per watched call: the call site the report must name.
[[gnu::noinline]] void startup_reads_system_clock() {
  g_sink = std::chrono::system_clock::now().time_since_epoch().count();
}
[[gnu::noinline]] void startup_reads_steady_clock() {
  g_sink = std::chrono::steady_clock::now().time_since_epoch().count();
}
[[gnu::noinline]] void startup_calls_time() { g_sink = std::time(nullptr); }
[[gnu::noinline]] void startup_calls_gettimeofday() {
  timeval tv{};
  g_sink = ::gettimeofday(&tv, nullptr) + tv.tv_sec;
}
[[gnu::noinline]] void startup_calls_rand() { g_sink = std::rand(); }
[[gnu::noinline]] void startup_calls_random() { g_sink = ::random(); }
[[gnu::noinline]] void startup_calls_getrandom() {
  unsigned char buf[8];
  g_sink = ::getrandom(buf, sizeof buf, 0) + buf[0];
}
[[gnu::noinline]] void startup_calls_getenv() {
  const char* v = std::getenv("HOME");
  g_sink = v == nullptr ? 0 : v[0];
}
std::filesystem::path g_file;  // a real file, written before the guard is armed
[[gnu::noinline]] void startup_reads_ifstream() {
  std::ifstream in(g_file);
  std::string line;
  std::getline(in, line);
  g_sink = static_cast<long>(line.size());
}
[[gnu::noinline]] void startup_calls_fopen() {
  FILE* f = std::fopen(g_file.c_str(), "r");
  g_sink = f == nullptr ? -1 : std::fclose(f);
}
[[gnu::noinline]] void startup_calls_open() {
  const int fd = ::open(g_file.c_str(), O_RDONLY | O_CLOEXEC);
  g_sink = fd < 0 ? -1 : ::close(fd);
}
[[gnu::noinline]] void startup_lists_directory() {
  long n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(g_file.parent_path())) ++n;
  g_sink = n;
}

[[gnu::noinline]] void startup_calls_opendir() {
  DIR* d = ::opendir(g_file.parent_path().c_str());
  g_sink = d == nullptr ? -1 : ::closedir(d);
}

[[gnu::noinline]] void startup_draws_random_device() {
  std::random_device device;
  g_sink = device();
}

// Each function that must be caught, the C function it reaches and the advice expected.
struct Case {
  const char* label;
  void (*call)();
  const char* caller;
  const char* function;
  const char* suggestion;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.label; }

const Case kCases[] = {
    {"SystemClockNow", startup_reads_system_clock, "startup_reads_system_clock", "clock_gettime", "m.wall_now()"},
    {"SteadyClockNow", startup_reads_steady_clock, "startup_reads_steady_clock", "clock_gettime", "m.steady_now()"},
    {"Time", startup_calls_time, "startup_calls_time", "time", "m.wall_now()"},
    {"Gettimeofday", startup_calls_gettimeofday, "startup_calls_gettimeofday", "gettimeofday", "m.wall_now()"},
    {"Rand", startup_calls_rand, "startup_calls_rand", "rand", "m.random_int(min, max)"},
    {"Random", startup_calls_random, "startup_calls_random", "random", "m.random_int(min, max)"},
    {"Getrandom", startup_calls_getrandom, "startup_calls_getrandom", "getrandom", "m.random_bytes(size)"},
    {"StdGetenv", startup_calls_getenv, "startup_calls_getenv", "getenv", "m.env(name)"},
    {"Ifstream", startup_reads_ifstream, "startup_reads_ifstream", "fopen64",
     "m.read_file(path) or m.file_exists(path)"},
    {"Fopen", startup_calls_fopen, "startup_calls_fopen", "fopen", "m.read_file(path) or m.file_exists(path)"},
    {"Open", startup_calls_open, "startup_calls_open", "open", "m.read_file(path) or m.file_exists(path)"},
    {"DirectoryIterator", startup_lists_directory, "startup_lists_directory", "openat", "m.list_directory(path)"},
    {"RandomDevice", startup_draws_random_device, "startup_draws_random_device", "std::random_device",
     "m.random_int(min, max) or m.random_bytes(size)"},
    {"Opendir", startup_calls_opendir, "startup_calls_opendir", "opendir", "m.list_directory(path)"},
};

class Caught : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    g_file = dir_->path() / "config.txt";
    testing::write_file(g_file, "real file\n");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static TempDir* dir_;
};
TempDir* Caught::dir_ = nullptr;

// The error a guard raises, or nothing.
std::optional<NondeterminismError> raised(const DeterminismGuard& guard) {
  try {
    guard.check();
  } catch (const NondeterminismError& e) {
    return e;
  }
  return std::nullopt;
}

TEST_P(Caught, NamesTheFunctionTheCallSiteAndTheMembraneCall) {
  const Case& c = GetParam();
  std::optional<NondeterminismError> error;
  {
    DeterminismGuard guard;
    c.call();
    EXPECT_TRUE(guard.violated());
    error = raised(guard);
  }
  ASSERT_TRUE(error.has_value()) << c.label << " was not caught";
  EXPECT_EQ(error->function(), c.function);
  EXPECT_EQ(error->suggestion(), c.suggestion);
  EXPECT_THAT(error->call_site(), HasSubstr(c.caller));
  if (SNAP_TEST_HAS_DEBUG_INFO) {
    EXPECT_THAT(error->call_site(), HasSubstr("determinism_guard_test.cc:"));
  }
  EXPECT_THAT(error->backtrace(), Contains(HasSubstr(c.caller)));
  EXPECT_THAT(error->what(), AllOf(HasSubstr(std::string("nondeterministic call during startup: ") + c.function),
                                   HasSubstr("called from " + error->call_site()),
                                   HasSubstr(std::string("use ") + c.suggestion + " instead"),
                                   HasSubstr("snap::AllowNondeterminism allow(")));
}

INSTANTIATE_TEST_SUITE_P(DeterminismGuard, Caught, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.label); });

// ---- what the guard reports, and when ----

TEST(DeterminismGuard, ReportsTheFirstCallAndCountsTheRest) {
  DeterminismGuard guard;
  startup_calls_rand();
  startup_calls_time();
  startup_calls_getenv();
  auto error = raised(guard);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->function(), "rand");
  EXPECT_EQ(error->count(), 3u);
  EXPECT_THAT(error->what(), HasSubstr("(2 more such calls followed; fix this one first)"));
}

// The samples in determinism_guard.h and docs/determinism-guard.md, as written there.
TEST(DeterminismGuard, TheDocumentedSamples) {
  auto define_app = [](int& app) { app = static_cast<int>(std::time(nullptr) % 7); };
  int app = 0;
  {
    snap::DeterminismGuard guard;  // this thread is watched from here
    define_app(app);
    EXPECT_THROW(guard.check(), NondeterminismError);
  }
  {
    snap::DeterminismGuard guard;
    {
      snap::AllowNondeterminism allow("start time for the log line only; never stored");
      std::cerr << "startup began at " << std::time(nullptr) << "\n";
    }
    {
      snap::AllowNondeterminism allow("log file name only, never stored");
      g_sink = std::getenv("HOME") != nullptr;
    }
    EXPECT_NO_THROW(guard.check());
  }
}

TEST(DeterminismGuard, CheckWithoutViolationDoesNothing) {
  DeterminismGuard guard;
  g_sink = 1 + 1;
  EXPECT_FALSE(guard.violated());
  EXPECT_NO_THROW(guard.check());
}

TEST(DeterminismGuard, CaughtCallsStillReturnTheRealValues) {
  ASSERT_EQ(::setenv("SNAP_GUARD_TEST_VALUE", "forty-two", 1), 0);
  std::srand(7);
  const int expected_rand = std::rand();
  TempDir dir;
  testing::write_file(dir / "f", "content");
  DeterminismGuard guard;
  EXPECT_STREQ(std::getenv("SNAP_GUARD_TEST_VALUE"), "forty-two");
  EXPECT_EQ(std::getenv("SNAP_GUARD_TEST_NO_SUCH_VARIABLE"), nullptr);
  std::srand(7);
  EXPECT_EQ(std::rand(), expected_rand);
  EXPECT_GT(std::time(nullptr), 1600000000);
  std::ifstream in(dir / "f");
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "content");
  const int fd = ::open((dir / "new").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ::close(fd);
  EXPECT_EQ(std::filesystem::status(dir / "new").permissions(),
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_TRUE(guard.violated());
}

TEST(DeterminismGuard, OtherThreadsAreNotWatched) {
  DeterminismGuard guard;
  std::thread other([] {
    startup_calls_time();
    startup_calls_rand();
    startup_calls_getenv();
    startup_reads_system_clock();
  });
  other.join();
  EXPECT_FALSE(guard.violated());
  EXPECT_NO_THROW(guard.check());
}

TEST(DeterminismGuard, AGuardOnAnotherThreadDoesNotWatchThisOne) {
  bool other_caught = false;
  std::thread other([&] {
    DeterminismGuard guard;
    startup_calls_time();
    other_caught = guard.violated();
  });
  other.join();
  EXPECT_TRUE(other_caught);
  DeterminismGuard guard;
  EXPECT_FALSE(guard.violated());
}

TEST(DeterminismGuard, AllowNondeterminismExemptsItsScopeOnly) {
  DeterminismGuard guard;
  {
    AllowNondeterminism allow("test: a deliberate raw read");
    startup_calls_time();
    startup_calls_getenv();
    {
      AllowNondeterminism nested("test: nested allowance");
      startup_calls_rand();
    }
    startup_calls_rand();  // still inside the outer allowance
  }
  EXPECT_FALSE(guard.violated());
  startup_calls_getenv();
  auto error = raised(guard);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->function(), "getenv");
  EXPECT_EQ(error->count(), 1u);
}

TEST(DeterminismGuard, AllowNondeterminismNeedsAReason) {
  try {
    AllowNondeterminism allow("");
    FAIL() << "an empty reason was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "AllowNondeterminism: say why the call is allowed");
  }
  // The refused scope left nothing behind: calls are caught again.
  DeterminismGuard guard;
  startup_calls_rand();
  EXPECT_TRUE(guard.violated());
}

TEST(DeterminismGuard, DisarmStopsWatchingAndArmResumes) {
  DeterminismGuard guard;
  EXPECT_TRUE(guard.armed());
  guard.disarm();
  EXPECT_FALSE(guard.armed());
  startup_calls_time();
  startup_calls_getenv();
  EXPECT_FALSE(guard.violated());
  guard.arm();
  startup_calls_rand();
  auto error = raised(guard);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->function(), "rand");
  EXPECT_EQ(error->count(), 1u);
}

TEST(DeterminismGuard, NothingIsWatchedOnceTheGuardIsGone) {
  { DeterminismGuard guard; }
  startup_calls_time();  // no guard: passes through
  DeterminismGuard later;
  EXPECT_FALSE(later.violated());
}

TEST(DeterminismGuard, NestedGuardsBothSeeAnInnerViolation) {
  DeterminismGuard outer;
  {
    DeterminismGuard inner;
    startup_calls_time();
    auto error = raised(inner);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->function(), "time");
  }
  startup_calls_rand();  // after the inner guard: only the outer one is watching
  auto error = raised(outer);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->function(), "time");
  EXPECT_EQ(error->count(), 2u);
}

TEST(DeterminismGuard, AnInnerGuardSeesNothingFromBeforeIt) {
  DeterminismGuard outer;
  startup_calls_rand();
  DeterminismGuard inner;
  EXPECT_FALSE(inner.violated());
  EXPECT_TRUE(outer.violated());
}

TEST(DeterminismGuard, ADisarmedInnerGuardQuietensTheThreadAndADisarmedOuterOneIsSkipped) {
  DeterminismGuard outer;
  {
    DeterminismGuard inner;
    inner.disarm();
    startup_calls_time();
  }
  EXPECT_FALSE(outer.violated());

  outer.disarm();
  {
    DeterminismGuard inner;  // an armed guard inside a disarmed one watches on its own
    startup_calls_rand();
    EXPECT_TRUE(inner.violated());
  }
  EXPECT_FALSE(outer.violated());
}

// ---- the membrane's own real reads are exempt ----

// Reads every source the membrane has, the way startup code should.
void read_everything_through(Membrane& m, const std::filesystem::path& dir) {
  g_sink = m.wall_now().time_since_epoch().count();
  g_sink = m.steady_now().time_since_epoch().count();
  g_sink = m.random_int(1, 6);
  g_sink = static_cast<long>(m.random_bytes(16).size());
  g_sink = static_cast<long>(m.uuid().size());
  g_sink = m.env("HOME").has_value();
  g_sink = m.env("SNAP_GUARD_TEST_NO_SUCH_VARIABLE").has_value();
  g_sink = static_cast<long>(m.read_file(dir / "config.txt").size());
  g_sink = m.file_exists(dir / "config.txt");
  g_sink = static_cast<long>(m.list_directory(dir).size());
  g_sink = static_cast<long>(m.secret("db-password").size());
  EXPECT_THROW(m.read_file(dir / "missing.txt"), FileError);
}

TEST(DeterminismGuard, TheLiveMembraneOverTheRealSystemIsExempt) {
  TempDir dir;
  testing::write_file(dir / "config.txt", "x");
  std::filesystem::create_directory(dir / "secrets");
  testing::write_file(dir / "secrets" / "db-password", "pw\n");
  Env* system = &real_env();
  auto secrets = secrets_from_directory(dir / "secrets", *system);
  LiveMembrane m(*system, *secrets);
  DeterminismGuard guard;
  read_everything_through(m, dir.path());
  EXPECT_NO_THROW(guard.check());
}

TEST(DeterminismGuard, TheRecordingMembraneOverTheRealSystemIsExempt) {
  TempDir dir;
  testing::write_file(dir / "config.txt", "x");
  ASSERT_EQ(::setenv("SNAP_GUARD_TEST_SECRET_DB_PASSWORD", "pw", 1), 0);
  Env* system = &real_env();
  auto secrets = secrets_from_env("SNAP_GUARD_TEST_SECRET_", *system);
  // The log is opened before startup begins, as the lifecycle does.
  RecordingMembrane m(*system, *secrets, LogWriter::create(dir / "startup.snaplog", testing::test_header()));
  {
    DeterminismGuard guard;
    read_everything_through(m, dir.path());
    EXPECT_NO_THROW(guard.check());
  }
  m.finish({});
  EXPECT_GT(m.event_count(), 10u);
}

TEST(DeterminismGuard, ACallsRealFunctionReadsFilesInsideAnAllowance) {
  TempDir dir;
  testing::write_file(dir / "config.txt", "from the file");
  Env* system = &real_env();
  auto secrets = secrets_from_map({});
  RecordingMembrane m(*system, *secrets, LogWriter::create(dir / "startup.snaplog", testing::test_header()));
  std::string reply;
  {
    DeterminismGuard guard;
    reply = m.call("config", "load", "", [&](std::string_view) {
      AllowNondeterminism allow("the reply is recorded and replayed");
      std::ifstream in(dir / "config.txt");
      std::string line;
      std::getline(in, line);
      return line;
    });
    EXPECT_NO_THROW(guard.check());
  }
  m.finish({});
  EXPECT_EQ(reply, "from the file");
}

TEST(DeterminismGuard, RawReadsBesideTheMembraneAreStillCaught) {
  TempDir dir;
  testing::write_file(dir / "config.txt", "x");
  Env* system = &real_env();
  auto secrets = secrets_from_map({{"db-password", "pw"}});
  LiveMembrane m(*system, *secrets);
  DeterminismGuard guard;
  g_sink = m.wall_now().time_since_epoch().count();
  startup_calls_getenv();
  auto error = raised(guard);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->function(), "getenv");
  EXPECT_EQ(error->count(), 1u);
}

// ---- linking ----

TEST(DeterminismGuard, TheInterposersAreExportedSoEveryLibraryReachesThem) {
  // What a library loaded later (or libstdc++) resolves is the program's definition.
  for (const auto& [name, address] : std::initializer_list<std::pair<const char*, void*>>{
           {"getenv", reinterpret_cast<void*>(&::getenv)},
           {"clock_gettime", reinterpret_cast<void*>(&::clock_gettime)},
           {"fopen64", reinterpret_cast<void*>(&::fopen64)},
           {"rand", reinterpret_cast<void*>(&::rand)}}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(::dlsym(RTLD_DEFAULT, name), address);
    EXPECT_NE(::dlsym(RTLD_NEXT, name), address);  // the real one, behind it
  }
}

}  // namespace
}  // namespace snap
