// Rolling updates on a single-node Docker Swarm (docs/deploy.md, "Rolling updates on a
// swarm"), end to end: the generated docker-stack.yml's update_config and rollback_config
// as swarm runs them, with the program's own typed client calling through the update.
//
// upgrade_app.cc, built as v1: an API server at 2 replicas and a caller (a daemon) that
// calls it every 50 ms and logs each call's outcome. Deployed with `docker stack deploy`;
// then v2 (its handler answers differently) is built into the same directory, its image
// built under a new tag and deployed over v1 (SNAP_IMAGE): swarm replaces the tasks one at
// a time, each new one healthy before the old one stops, while the caller keeps calling.
// Every caller task's log is read (`docker service logs`): no call may fail. Then v3, the
// same program built with a pids limit on the server too low for it to start its threads,
// is deployed over v2: its server never becomes healthy, swarm rolls the service back by
// itself (rollback_completed), and v2 keeps serving the caller.
//
// The swarm, and the removal of the stack, its networks and volume and the images whether
// the tests pass or not: swarm_support.h. Skipped, with the reason, where no Docker engine
// answers or no swarm can be had.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "swarm_support.h"

namespace snap {
namespace {

using testing::ProcessResult;
using Clock = std::chrono::steady_clock;
using e2e::lines;
using e2e::poll_until;
using e2e::trim;

constexpr const char* kApi = "api";
constexpr const char* kCaller = "caller";
// The server's pids limit in v3, a limit meant for a small worker: the server starts a
// thread per CPU and 16 handler threads, so it cannot start and exits ("snap: persona api
// failed: Resource temporarily unavailable"), before its healthcheck ever passes.
constexpr const char* kTooFewPids = "api=16";

// One caller task's log, read back: how its calls went.
struct CallerLog {
  std::string task, image;
  int ok = 0;
  std::map<std::string, int> answered_by;  // ok calls, by the answering server's version
  std::map<std::string, int> failed;       // failed calls, by code (version skew apart)
  std::vector<std::string> failures;       // their lines
  int refused = 0;            // attempts refused by a server of another build (version skew)
  int refused_waiting = 0;    // of which with no replica of the caller's build answering: it waited
  int refused_then_ok = 0;    // calls refused at least once that then succeeded
  int refused_then_not = 0;   // calls refused at least once that did not
  double longest_wait = 0;    // seconds from a call's first refusal to its success (JSON log lines)
  int skew_failed = 0;        // calls that ended refused: no replica of the caller's build answered in time
  int cut = 0;                // calls cut short because the caller was being stopped
  std::string totals;         // its own "totals: ..." line, once it stopped
  int totals_ok = -1;         // the ok calls it counted itself

  int failed_calls() const {
    int n = 0;
    for (const auto& [code, count] : failed) n += count;
    return n;
  }
};

// The time of day of a JSON log line ("time":"2026-12-07T21:00:30.281193Z"), in seconds;
// negative for a line without one.
double time_of(const std::string& line) {
  static const std::regex time(R"("time":"[0-9-]+T(\d\d):(\d\d):(\d\d(\.\d+)?)Z")");
  std::smatch m;
  if (!std::regex_search(line, m, time)) return -1;
  return std::stoi(m[1]) * 3600 + std::stoi(m[2]) * 60 + std::stod(m[3]);
}

CallerLog parse_caller_log(const std::string& text) {
  // Text or JSON lines ($SNAP_LOG_FORMAT): the message is found within either.
  static const std::regex ok(R"(call \d+ ok: answered by ([a-z0-9]+))");
  static const std::regex failed(R"(call \d+ failed: ([a-z_]+))");
  static const std::regex cut(R"(call \d+ cut short by stop)");
  static const std::regex totals(R"(totals: \d+ calls, (\d+) ok[^"]*)");
  CallerLog log;
  bool refused_call = false;  // the call under way was refused at least once
  double refused_at = -1;     // when first
  for (const std::string& line : lines(text)) {
    std::smatch m;
    if (line.find("version skew; this is build") != std::string::npos) {
      ++log.refused;
      if (line.find("no replica of this build answered yet") != std::string::npos) ++log.refused_waiting;
      if (!refused_call) refused_at = time_of(line);
      refused_call = true;
    } else if (std::regex_search(line, m, ok)) {
      ++log.ok;
      ++log.answered_by[m[1]];
      if (refused_call) {
        ++log.refused_then_ok;
        if (refused_at >= 0 && time_of(line) >= refused_at) {
          log.longest_wait = std::max(log.longest_wait, time_of(line) - refused_at);
        }
      }
      refused_call = false;
    } else if (std::regex_search(line, m, failed)) {
      if (line.find("(version_skew)") != std::string::npos) {
        ++log.skew_failed;
      } else {
        ++log.failed[m[1]];
        log.failures.push_back(line);
      }
      if (refused_call) ++log.refused_then_not;
      refused_call = false;
    } else if (std::regex_search(line, cut)) {
      ++log.cut;
      if (refused_call) ++log.refused_then_not;
      refused_call = false;
    } else if (std::regex_search(line, m, totals)) {
      log.totals = m[0];
      log.totals_ok = std::stoi(m[1]);
    }
  }
  return log;
}

std::ostream& operator<<(std::ostream& out, const CallerLog& c) {
  out << "caller task " << c.task.substr(0, 12) << " (" << c.image.substr(c.image.rfind(':') + 1) << "): " << c.ok
      << " ok (";
  const char* separator = "";
  for (const auto& [version, count] : c.answered_by) {
    out << separator << "answered by " << version << " " << count;
    separator = ", ";
  }
  out << "), " << c.failed_calls() << " failed";
  for (const auto& [code, count] : c.failed) out << " [" << code << " " << count << "]";
  out << ", " << c.refused << " attempts refused by another build (" << c.refused_waiting
      << " with none of its own answering), " << c.refused_then_ok << " refused calls retried successfully (the longest "
      << c.longest_wait << " s after its first refusal), " << c.refused_then_not << " not, " << c.skew_failed
      << " failed as version skew, " << c.cut << " cut short by stop";
  if (!c.totals.empty()) out << "; its own " << c.totals;
  return out;
}

struct Upgrade : e2e::SwarmWork {
  std::string v1, v2, v3;  // the images, one per build
  bool v2_running = false;
  std::string setup_error;  // why v1 could not be deployed

  // `{{.UpdateStatus.State}}` of a service: "" before its first update, then updating,
  // completed, paused, rollback_started, rollback_completed...
  std::string update_state(const std::string& name) const {
    return trim(docker({"service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", service(name)},
                       30)
                    .out);
  }
  // The images of a service's tasks that are meant to run (desired state running).
  std::vector<std::string> running_images(const std::string& name) const {
    return lines(docker({"service", "ps", "--no-trunc", "--filter", "desired-state=running", "--format", "{{.Image}}",
                         service(name)},
                        30)
                     .out);
  }
  // Every caller task's log, the old ones' included (swarm keeps the last tasks of a slot).
  std::vector<CallerLog> caller_logs() const {
    std::vector<CallerLog> out;
    for (const std::string& row :
         lines(docker({"service", "ps", "--no-trunc", "--format", "{{.ID}} {{.Image}}", service(kCaller)}, 30).out)) {
      const std::string task = row.substr(0, row.find(' '));
      const ProcessResult logs = docker({"service", "logs", "--raw", "--no-trunc", task}, 60);
      CallerLog log = parse_caller_log(logs.out + logs.err);
      log.task = task;
      log.image = row.substr(row.find(' ') + 1);
      out.push_back(std::move(log));
    }
    return out;
  }
  // Ok calls answered by `version`, over every caller task.
  int answered_by(const std::string& version) const {
    int n = 0;
    for (const CallerLog& c : caller_logs()) n += c.answered_by.count(version) ? c.answered_by.at(version) : 0;
    return n;
  }
  // `APP build` of `binary` into the build directory (2 API replicas, and `flags`), its image
  // built as `image` and deployed over what runs.
  void build_and_deploy(const std::string& binary, const std::string& image, std::vector<std::string> flags = {}) {
    flags.insert(flags.begin(), {"--replicas", std::string(kApi) + "=2"});
    build_program(binary, flags);
    build_app_image(image);
    env["SNAP_IMAGE"] = image;
    deploy_stack();
  }
};

Upgrade* upgrade = nullptr;

class SwarmUpgradeEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    upgrade = new Upgrade;
    try {
      deploy_v1(*upgrade);
    } catch (const std::exception& e) {
      // Said by each test as its failure: gtest would skip them, and ctest would then
      // report a skipped test (SKIP_REGULAR_EXPRESSION), not a failed one.
      upgrade->setup_error = e.what();
    }
  }

  static void deploy_v1(Upgrade& u) {
    if (!u.enter_swarm()) return;
    std::random_device random;
    const std::string unique = std::to_string(::getpid() % 100000) + "x" + std::to_string(random() % 10000);
    u.stack = "snapup" + unique;
    u.make_work(unique, "snap-swarm-upgrade");
    const std::string repo = "snaptest-upgrade-" + unique;
    u.v1 = repo + ":v1";
    u.v2 = repo + ":v2";
    u.v3 = repo + ":v3";

    u.build_and_deploy(SNAP_UPGRADE_V1_APP, u.v1);
    // Swarm starts everything at once: the caller's first calls wait for the server.
    if (!poll_until(std::chrono::seconds(180), [&] { return u.answered_by("v1") >= 20; })) {
      throw std::runtime_error("the caller made no 20 calls to v1 within 180 s: " +
                               u.docker({"stack", "ps", "--no-trunc", u.stack}).out);
    }
    if (!poll_until(std::chrono::seconds(120), [&] { return u.containers_of(kApi).size() == 2; })) {
      throw std::runtime_error("the API server did not reach 2 running replicas");
    }
  }

  static void TearDownTestSuite() {
    upgrade->remove_all();
    delete upgrade;
    upgrade = nullptr;
  }

  void SetUp() override {
    if (!upgrade->setup_error.empty()) FAIL() << upgrade->setup_error;
    if (!upgrade->available) GTEST_SKIP() << upgrade->skip_reason;
  }

  static Upgrade& u() { return *upgrade; }

  // Prints every caller task's counts and expects no call to have failed: none for
  // another reason than version skew, and none because of it either (a refused call is
  // retried until a replica of its caller's build answers).
  static void expect_no_call_failed(const std::string& when) {
    const std::vector<CallerLog> logs = u().caller_logs();
    CallerLog all;
    for (const CallerLog& c : logs) {
      std::cout << "[ COUNTS   ] " << when << ": " << c << "\n";
      all.ok += c.ok;
      for (const auto& [code, count] : c.failed) all.failed[code] += count;
      all.refused += c.refused;
      all.refused_waiting += c.refused_waiting;
      all.refused_then_ok += c.refused_then_ok;
      all.refused_then_not += c.refused_then_not;
      all.longest_wait = std::max(all.longest_wait, c.longest_wait);
      all.skew_failed += c.skew_failed;
      all.cut += c.cut;
      EXPECT_EQ(c.failed_calls(), 0) << c << "\n" << ::testing::PrintToString(c.failures);
      EXPECT_EQ(c.skew_failed, 0) << c;
      EXPECT_EQ(c.refused_then_not, 0) << c;  // every refused call was retried until it succeeded
      // Every call's line was read back (a stopped task has counted its calls itself).
      if (c.totals_ok >= 0) {
        EXPECT_EQ(c.totals_ok, c.ok) << c;
      }
    }
    std::cout << "[ COUNTS   ] " << when << ", all caller tasks: " << all.ok << " calls ok, " << all.failed_calls()
              << " failed, " << all.refused << " attempts refused by another build (version skew; "
              << all.refused_waiting << " with no replica of the caller's build answering), " << all.refused_then_ok
              << " refused calls retried successfully (the longest " << all.longest_wait << " s after its first refusal), "
              << all.refused_then_not << " not, " << all.skew_failed << " failed as version skew, " << all.cut
              << " cut short by stop\n";
    EXPECT_GT(all.ok, 0);
  }
};

// v1 -> v2 while the caller calls: one task at a time, start-first; no call fails.
TEST_F(SwarmUpgradeEndToEnd, ARollingUpdateToTheNextBuildLosesNoCall) {
  const auto start = Clock::now();
  u().build_and_deploy(SNAP_UPGRADE_V2_APP, u().v2);
  const bool completed = poll_until(std::chrono::seconds(400), [] {
    return u().update_state(kApi) == "completed" && u().update_state(kCaller) == "completed";
  });
  ASSERT_TRUE(completed) << "api: " << u().update_state(kApi) << ", caller: " << u().update_state(kCaller) << "\n"
                         << u().docker({"stack", "ps", "--no-trunc", u().stack}).out;
  std::cout << "[ FIGURE   ] docker stack deploy of v2 to both updates completed: "
            << std::chrono::duration<double>(Clock::now() - start).count() << " s\n";
  // The new caller has called the new server.
  ASSERT_TRUE(poll_until(std::chrono::seconds(60), [] {
    for (const CallerLog& c : u().caller_logs()) {
      if (c.image == u().v2 && c.answered_by.count("v2") && c.answered_by.at("v2") >= 20) return true;
    }
    return false;
  }));
  EXPECT_THAT(u().running_images(kApi), ::testing::ElementsAre(u().v2, u().v2));
  EXPECT_THAT(u().running_images(kCaller), ::testing::ElementsAre(u().v2));
  u().v2_running = true;
  expect_no_call_failed("v1 -> v2");
}

// v3's server never becomes healthy: swarm rolls it back by itself, v2 keeps serving.
TEST_F(SwarmUpgradeEndToEnd, ABuildWhoseServerNeverBecomesHealthyIsRolledBack) {
  if (!u().v2_running) GTEST_SKIP() << "v2 is not running (the previous test failed)";
  const auto start = Clock::now();
  // The mistake: a pids limit meant for a small service applied to the server. The
  // program starts, replays its log, and cannot start the server's threads.
  u().build_and_deploy(SNAP_UPGRADE_V2_APP, u().v3, {"--pids-limit", kTooFewPids});
  std::vector<std::string> states;  // the API service's update states, as they came
  const bool rolled_back = poll_until(std::chrono::seconds(400), [&] {
    const std::string state = u().update_state(kApi);
    if (states.empty() || states.back() != state) states.push_back(state);
    return state == "rollback_completed";
  });
  std::cout << "[ FIGURE   ] docker stack deploy of v3 to the API server rolled back: "
            << std::chrono::duration<double>(Clock::now() - start).count() << " s (states: "
            << ::testing::PrintToString(states) << ")\n";
  std::cout << "[ TASKS    ] " << u().docker({"service", "ps", "--no-trunc", "--format",
                                              "{{.Image}} {{.DesiredState}} | {{.CurrentState}} | {{.Error}}",
                                              u().service(kApi)}).out;
  ASSERT_TRUE(rolled_back) << u().docker({"service", "inspect", "--format", "{{json .UpdateStatus}}", u().service(kApi)}).out;
  EXPECT_THAT(trim(u().docker({"service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
                               u().service(kApi)}).out),
              ::testing::StartsWith(u().v2));
  EXPECT_THAT(u().running_images(kApi), ::testing::ElementsAre(u().v2, u().v2));
  // The whole previous spec is back, not only the image (v3's image is v2's under another
  // tag: the same binary and log; what differs is the stack file's pids limit).
  EXPECT_EQ(trim(u().docker({"service", "inspect", "--format", "{{.Spec.TaskTemplate.Resources.Limits.Pids}}",
                             u().service(kApi)}).out),
            "1024");
  // The caller (now v3's image, the same program: its update completed) keeps calling v2.
  const int before = u().answered_by("v2");
  EXPECT_TRUE(poll_until(std::chrono::seconds(60), [&] { return u().answered_by("v2") >= before + 20; }));
  expect_no_call_failed("v2 -> v3 rolled back");
}

}  // namespace
}  // namespace snap
