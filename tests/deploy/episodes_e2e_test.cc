// A failing production request, replayed on the host (issue "Runtime record and replay",
// acceptance), on the machine's real Docker engine: the flaky program (flaky_app.cc: a
// charge over the balance throws at an odd second) is built with `--record-requests errors`,
// its images built locally, and its docker-compose.yml run. A client on the host charges
// an account through the published port until one charge fails; `bin/episodes fetch
// --failed` brings that request's episode out of the API server's volume; with the
// deployment stopped and no network at all, the build's binary replays it to the same 500,
// and the fixed program (flaky_fixed) replays it to a 412 and says what differs. No value of
// a secret is in an episode.
//
// Everything it creates is named after one unique project/tag and removed at the end,
// whether the tests pass or not. Skipped, with the reason, where no Docker engine answers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <random>
#include <thread>

#include "../api/raw_http.h"
#include "e2e_support.h"

namespace snap {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ProcessResult;
using e2e::lines;
using e2e::must;
using e2e::read_file;
using e2e::trim;
using Clock = std::chrono::steady_clock;

// The deployment every test below shares (images take seconds each to build).
struct Deployment : e2e::ComposeWork {
  unsigned short port = 0;  // the API server's, published on the host
  std::string ledger_key;   // the value of the secret the handler reads
  Clock::time_point started;
};

Deployment* deployment = nullptr;

using e2e::free_loopback_port;

struct Response {
  int status = 0;  // 0: no answer
  std::string body;
};

// POST `body` to `path` of the published API server, as a client outside the system would.
Response post(unsigned short port, const std::string& path, const std::string& body) {
  const std::string raw = apitest::raw_exchange(
      port,
      "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body,
      std::chrono::seconds(30));
  Response r;
  if (raw.rfind("HTTP/1.1 ", 0) == 0 && raw.size() >= 12) r.status = std::stoi(raw.substr(9, 3));
  const std::size_t end = raw.find("\r\n\r\n");
  if (end != std::string::npos) r.body = raw.substr(end + 4);
  return r;
}

// Sixteen random bytes as hex: a secret's value nobody could guess into a file.
std::string random_hex() {
  std::random_device random;
  std::string out;
  for (int i = 0; i < 32; ++i) out += "0123456789abcdef"[random() % 16];
  return out;
}

class EpisodesEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    deployment = new Deployment;
    Deployment& d = *deployment;
    d.started = Clock::now();
    const ProcessResult info = d.docker({"info", "--format", "{{.ServerVersion}}"}, 30);
    if (info.exit_code != 0) {
      d.skip_reason = "no Docker engine reachable (`docker info` failed: " + trim(info.err) + ")";
      return;
    }
    if (d.run({"/usr/bin/env", "docker-compose", "version", "--short"}, 30).exit_code != 0) {
      d.skip_reason = "docker-compose is not installed";
      return;
    }
    std::random_device random;
    const std::string unique = std::to_string(::getpid()) + "x" + std::to_string(random() % 100000);
    d.project = "snapepisodes" + unique;
    d.ledger_key = random_hex();
    d.build_app_and_images(SNAP_FLAKY_APP, "ledger.db.password", unique, "snaptest-flaky", "snaptest-postgres",
                           "snap-episodes",
                           {"--publish", "api=8080", "--record-requests", "errors", "--secret",
                            "ledger.ledger-key=" + d.ledger_key},
                           /*probes=*/false);
    d.port = free_loopback_port();
    d.env["SNAP_PUBLISH_LEDGER_API"] = std::to_string(d.port);
    must(d.compose({"up", "-d"}, 240), "docker-compose up");
    // Up once it answers (the database first, then the server's startup replay): polled,
    // with a deadline for a deployment that never comes up.
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    Response opened;
    while (Clock::now() < deadline) {
      opened = post(d.port, "/api/accounts", R"({"id":"alice","balance":10})");
      if (opened.status == 200 || opened.status == 204) break;
      // The poll's interval (a refused connection returns at once), not a synchronisation.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (opened.status != 200 && opened.status != 204) {
      const ProcessResult logs = d.compose({"logs", "--no-color"}, 60);
      throw std::runtime_error("the API server did not answer within 120 s: " + logs.out + logs.err);
    }
  }

  static void TearDownTestSuite() {
    Deployment& d = *deployment;
    if (d.available) d.compose({"down", "-v", "--remove-orphans"}, 120);
    d.remove_images_and_work();
    if (d.available) {
      std::cout << "[ episodes e2e: "
                << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - d.started).count()
                << " s, images and deployment included ]" << std::endl;
    }
    delete deployment;
    deployment = nullptr;
  }

  void SetUp() override {
    if (!deployment->available) GTEST_SKIP() << deployment->skip_reason;
  }

  static Deployment& d() { return *deployment; }

  // DIR/bin/episodes ARGS against this deployment.
  static ProcessResult episodes(const std::vector<std::string>& args) {
    testing::ProcessOptions options;
    options.environment = d().env;
    (*options.environment)["COMPOSE_PROJECT_NAME"] = d().project;
    std::vector<std::string> argv{"/usr/bin/timeout", "120", (d().out / "bin/episodes").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_process(argv, options);
  }
};

// Before anything failed: nothing to fetch, said plainly; a mistake in the arguments is a
// usage error.
TEST_F(EpisodesEndToEnd, TheScriptSaysWhenNothingIsRecordedAndRefusesAMistake) {
  const ProcessResult nothing = episodes({"fetch", "--failed"});
  EXPECT_EQ(nothing.exit_code, 1) << nothing.out << nothing.err;
  EXPECT_THAT(nothing.err, HasSubstr("no request recorded yet (in 1 container(s) of ledger-api)"));
  const ProcessResult listed = episodes({"list"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  const ProcessResult mistake = episodes({"fetch", "--failes"});
  EXPECT_EQ(mistake.exit_code, 64);
  EXPECT_THAT(mistake.err, HasSubstr("unknown flag --failes"));
}

TEST_F(EpisodesEndToEnd, AFailedRequestIsFetchedAndReplaysOnTheHostAndTheFixedProgramShowsTheDifference) {
  // Charges over the balance until the clock makes one fail (an odd second comes within
  // two; the bound is for a server that never fails).
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  Response failed;
  int charges = 0;
  while (Clock::now() < deadline && failed.status == 0) {
    const Response r = post(d().port, "/api/charge", R"({"account":"alice","amount":25})");
    ++charges;
    ASSERT_TRUE(r.status == 200 || r.status == 500) << r.status << " " << r.body;
    if (r.status == 500) failed = r;
  }
  ASSERT_EQ(failed.status, 500) << "no charge failed in 30 s (" << charges << " charges)";
  EXPECT_THAT(failed.body, HasSubstr(R"("code":"internal")"));

  const ProcessResult listed = episodes({"list", "--failed"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  ASSERT_EQ(lines(listed.out).size(), 2u) << listed.out;  // the header and the failed charge
  EXPECT_THAT(listed.out, HasSubstr("  500  "));
  EXPECT_THAT(listed.out, HasSubstr("  flaky.ledger.api  POST /api/charge  "));

  // Into the build's episodes/, where replay finds the build's log by itself.
  const ProcessResult fetched = episodes({"fetch", "--failed"});
  ASSERT_EQ(fetched.exit_code, 0) << fetched.err;
  const std::vector<std::string> paths = lines(fetched.out);
  ASSERT_EQ(paths.size(), 1u) << fetched.out;
  const fs::path episode = paths[0];
  EXPECT_EQ(episode.parent_path(), fs::canonical(d().out) / "episodes");
  ASSERT_TRUE(fs::exists(episode));
  EXPECT_THAT(fetched.err, HasSubstr("fetched 1 episode(s) into "));

  // No secret's value is in it: the ledger key the handler read is a handle, and the
  // database's password never entered it.
  const std::string bytes = read_file(episode);
  ASSERT_EQ(d().password.size(), 48u);
  EXPECT_EQ(bytes.find(d().password), std::string::npos);
  EXPECT_EQ(bytes.find(d().ledger_key), std::string::npos);
  for (const std::string& output : {listed.out, listed.err, fetched.out, fetched.err}) {
    EXPECT_EQ(output.find(d().password), std::string::npos);
    EXPECT_EQ(output.find(d().ledger_key), std::string::npos);
  }

  // Replay needs nothing of the deployment: it is stopped, and the replay runs with an
  // empty environment and, where the kernel lets this user make one, in a network
  // namespace of its own (no interface but a down loopback).
  must(d().compose({"stop"}, 120), "docker-compose stop");
  testing::ProcessOptions isolated;
  isolated.environment = std::map<std::string, std::string>{};
  isolated.working_directory = d().work;
  std::vector<std::string> prefix{"/usr/bin/timeout", "60"};
  if (testing::run_process({"/usr/bin/unshare", "-rn", "/bin/true"}).exit_code == 0) {
    prefix.insert(prefix.end(), {"/usr/bin/unshare", "-rn"});
  } else {
    std::cout << "[ unshare -rn is not allowed here: the replay runs with the host's network ]" << std::endl;
  }
  auto replay = [&](const std::string& binary) {
    std::vector<std::string> argv = prefix;
    argv.insert(argv.end(), {binary, "replay", episode.string()});
    return testing::run_process(argv, isolated);
  };

  const ProcessResult same = replay((d().out / "app/flaky").string());
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  EXPECT_THAT(same.out, HasSubstr("same: POST /api/charge (flaky.ledger.api) answered as recorded: 500 "));
  EXPECT_THAT(same.out, HasSubstr(R"("code":"internal")"));

  const ProcessResult fixed = replay(SNAP_FLAKY_FIXED_APP);
  EXPECT_EQ(fixed.exit_code, 1) << fixed.out << fixed.err;
  EXPECT_THAT(fixed.out, HasSubstr("response differs: POST /api/charge (flaky.ledger.api)"));
  EXPECT_THAT(fixed.out, HasSubstr("status: 500 -> 412"));
  EXPECT_THAT(fixed.out, HasSubstr("$.code: \"internal\" -> \"failed_precondition\""));
  std::cout << "[ " << charges << " charges until one failed; replayed by the fixed program:\n" << fixed.out << "]"
            << std::endl;
  for (const ProcessResult* r : {&same, &fixed}) {
    EXPECT_EQ((r->out + r->err).find(d().password), std::string::npos);
    EXPECT_EQ((r->out + r->err).find(d().ledger_key), std::string::npos);
  }
  must(d().compose({"start"}, 240), "docker-compose start");
}

// The flag, without an engine: a policy it does not take is a usage error naming it, and
// `off` leaves every trace of recording out of the deployment.
TEST(EpisodesBuild, TheRecordRequestsFlagIsCheckedAndOffAddsNothing) {
  const fs::path dir = fs::temp_directory_path() / ("snap-episodes-build-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::vector<std::string> build{SNAP_FLAKY_APP, "build", "--secret", "ledger.ledger-key=k", "--out"};
  std::vector<std::string> refused = build;
  refused.insert(refused.end(), {(dir / "refused").string(), "--record-requests", "sometimes"});
  const ProcessResult r = testing::run_process(refused);
  EXPECT_EQ(r.exit_code, 64) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--record-requests: the recording policy is off, errors, all or N%"));
  EXPECT_FALSE(fs::exists(dir / "refused"));

  std::vector<std::string> off = build;
  off.insert(off.end(), {(dir / "off").string(), "--record-requests", "off"});
  const ProcessResult built = testing::run_process(off);
  ASSERT_EQ(built.exit_code, 0) << built.err;
  EXPECT_THAT(read_file(dir / "off/docker-compose.yml"), Not(HasSubstr("SNAP_RECORD_REQUESTS")));
  EXPECT_THAT(read_file(dir / "off/docker-stack.yml"), Not(HasSubstr("episodes")));
  EXPECT_FALSE(fs::exists(dir / "off/bin/episodes"));
  EXPECT_FALSE(fs::exists(dir / "off/image/episodes"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace snap
