// Upgrades on the machine's real Docker engine (docs/deploy.md, "Upgrading"): one app in
// three builds from one source (compose_upgrade_app.cc: v1; v2 with a changed handler, an
// index and an endpoint more; v3 with another index), each built into the same directory
// over the one before, its image rebuilt locally, and `docker-compose up -d` run over the
// deployment that is running -- what a user does to upgrade.
//
// - UpgradeKeepsDataAndRecreatesOnlyTheAppServices: v1 -> v2. The build says the API
//   changed compatibly. Every item v1 wrote is still there, read by v2's handler and
//   found through v2's new index; the database's container is the same one and its volume
//   was kept; the API server's container is new, a call in flight when it was stopped
//   was answered and the server exited cleanly, and a client outside saw no error, only
//   a gap; the job ran once for the new build; `up -d` again changes nothing.
// - ARollbacksWritesAreInTheIndexesOfTheBuildAfterIt: v3 -> v2 -> v3. The rollback is a
//   breaking API change (refused by --fail-on-breaking); what v2 wrote, changed and
//   deleted (v2 does not have v3's index `by-color`) is as it should be in `by-color`
//   once v3 is back.
//
// Both need stores to repair what a build without an index wrote (docs/store.md, "Builds
// with different indexes"): without it, both fail on an index's answer.
//
// Each test has its own project, directory and image, named after one unique tag with
// the PostgreSQL image the suite builds once, and removes exactly those (containers,
// networks, volumes, images) whether it passes or not. Skipped, with the reason, where no
// Docker engine answers. Each prints its wall time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <thread>

#include "../api/raw_http.h"
#include "e2e_support.h"

namespace snap {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ProcessResult;
using e2e::lines;
using e2e::must;
using e2e::trim;
using Clock = std::chrono::steady_clock;

// What the tests share: the engine's answer, the unique tag, the PostgreSQL image.
struct Suite : e2e::DockerWork {
  std::string unique;
};
Suite* suite = nullptr;

// The items PREFIX-0 .. PREFIX-(count-1), in the order the store's index gives them (by
// key, byte-wise: "p-10" before "p-2").
std::vector<std::string> ids(const std::string& prefix, int count) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) out.push_back(prefix + "-" + std::to_string(i));
  std::sort(out.begin(), out.end());
  return out;
}

long long wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One deployment of the app: a project, a build directory and an app image of its own
// (SNAP_IMAGE, rebuilt in place for each build as `docker-compose build` does), the
// suite's PostgreSQL image. The destructor removes everything of the project.
struct Upgrade : e2e::ComposeWork {
  std::vector<std::string> image_ids;  // every app image built: a rebuild leaves the last one untagged
  Clock::time_point started = Clock::now();
  std::string test_name;

  Upgrade(const std::string& suffix, const std::string& name) : test_name(name) {
    env = suite->env;
    project = "snapcatalog" + suite->unique + suffix;
    work = suite->work;
    out = work / ("out" + suite->unique + suffix);
    app_image = "snaptest-catalog-" + suite->unique + suffix + ":app";
    env["SNAP_IMAGE"] = app_image;
    env["SNAP_POSTGRES_IMAGE"] = suite->pg_image;
    available = true;
  }

  ~Upgrade() {
    // Everything compose made for the project, by its label (also what an earlier build's
    // file had and the last one does not), then the images built.
    if (fs::exists(out / "docker-compose.yml")) compose({"--profile", "commands", "down", "-v", "--remove-orphans"}, 180);
    const std::string label = "label=com.docker.compose.project=" + project;
    for (const std::string& c : lines(docker({"ps", "-aq", "--filter", label}, 60).out)) docker({"rm", "-f", c}, 60);
    for (const std::string& v : lines(docker({"volume", "ls", "-q", "--filter", label}, 60).out)) {
      docker({"volume", "rm", "-f", v}, 60);
    }
    for (const std::string& n : lines(docker({"network", "ls", "-q", "--filter", label}, 60).out)) {
      docker({"network", "rm", n}, 60);
    }
    for (const std::string& id : image_ids) docker({"rmi", "-f", id}, 60);
    std::error_code ignored;
    fs::remove_all(out, ignored);
    std::cout << "[ " << test_name << ": "
              << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count()
              << " s, its builds, images and deployments included ]" << std::endl;
  }

  // `APP build --out DIR FLAGS...` of one build of the app, into the same DIR every time.
  // Its output (stderr: what changed in the API) and exit status.
  ProcessResult try_build(const std::string& binary, std::vector<std::string> flags = {}) const {
    testing::ProcessOptions in_work;
    in_work.working_directory = work;
    std::vector<std::string> argv{"/usr/bin/timeout", "180", binary, "build", "--out", out.string()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return testing::run_process(argv, in_work);
  }
  ProcessResult build(const std::string& binary, std::vector<std::string> flags = {}) const {
    ProcessResult r = try_build(binary, std::move(flags));
    must(r, fs::path(binary).filename().string() + " build");
    return r;
  }

  // The image, rebuilt from DIR as the user does it (`docker-compose build`: SNAP_IMAGE is
  // the services' `image:`).
  void build_images() {
    must(compose({"build", "-q"}, 300), "docker-compose build");
    const std::string id = trim(docker({"image", "inspect", "-f", "{{.Id}}", app_image}, 60).out);
    ASSERT_FALSE(id.empty());
    image_ids.push_back(id);
  }

  void up() { must(compose({"up", "-d"}, 300), "docker-compose up -d"); }

  // The upgrade in one command, as docs/deploy.md gives it: the image rebuilt, then `up -d`.
  void up_with_build() {
    must(compose({"up", "-d", "--build", "--remove-orphans"}, 400), "docker-compose up -d --build --remove-orphans");
    const std::string id = trim(docker({"image", "inspect", "-f", "{{.Id}}", app_image}, 60).out);
    ASSERT_FALSE(id.empty());
    image_ids.push_back(id);
  }

  // DIR/bin/NAME ARGS against this project.
  ProcessResult bin(const std::string& name, const std::vector<std::string>& args) const {
    testing::ProcessOptions options;
    options.environment = env;
    (*options.environment)["COMPOSE_PROJECT_NAME"] = project;
    std::vector<std::string> argv{"/usr/bin/timeout", "180", (out / "bin" / name).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_process(argv, options);
  }
  // Its non-empty output lines; fails the test on a non-zero exit.
  std::vector<std::string> bin_lines(const std::string& name, const std::vector<std::string>& args) const {
    const ProcessResult r = bin(name, args);
    EXPECT_EQ(r.exit_code, 0) << "bin/" << name << ": " << r.out << r.err;
    return lines(r.out);
  }
  // Several independent bin/NAME ARGS at once (each its own container: a few seconds each,
  // mostly waiting on the engine), their output lines in the order given.
  std::vector<std::vector<std::string>> bins_lines(
      const std::vector<std::pair<std::string, std::vector<std::string>>>& runs) const {
    testing::ProcessOptions options;
    options.environment = env;
    (*options.environment)["COMPOSE_PROJECT_NAME"] = project;
    std::vector<std::unique_ptr<testing::ChildProcess>> children;
    for (const auto& [name, args] : runs) {
      std::vector<std::string> argv{"/usr/bin/timeout", "180", (out / "bin" / name).string()};
      argv.insert(argv.end(), args.begin(), args.end());
      children.push_back(std::make_unique<testing::ChildProcess>(argv, options));
    }
    std::vector<std::vector<std::string>> outputs;
    for (std::size_t i = 0; i < children.size(); ++i) {
      const ProcessResult r = children[i]->wait();
      EXPECT_EQ(r.exit_code, 0) << "bin/" << runs[i].first << ": " << r.out << r.err;
      outputs.push_back(lines(r.out));
    }
    return outputs;
  }
  // The ids bin/NAME prints (an index's answer), sorted as the index gives them.
  std::vector<std::string> index_ids(const std::string& name, const std::string& key) const {
    return bin_lines(name, {key});
  }

  // The job's container: waits for it to exit (bounded) and returns its exit status and log.
  std::pair<int, std::string> job_result() const {
    const std::string job = container_of("count-runs");
    const ProcessResult waited = docker({"wait", job}, 180);
    const ProcessResult logs = docker({"logs", job}, 30);
    return {waited.exit_code == 0 ? std::stoi(trim(waited.out)) : -1, logs.out + logs.err};
  }

  std::string volume_created(const std::string& volume) const {
    return trim(docker({"volume", "inspect", "-f", "{{.CreatedAt}}", project + "_" + volume}, 30).out);
  }
};

class UpgradeEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    suite = new Suite;
    Suite& s = *suite;
    const ProcessResult info = s.docker({"info", "--format", "{{.ServerVersion}}"}, 30);
    if (info.exit_code != 0) {
      s.skip_reason = "no Docker engine reachable (`docker info` failed: " + trim(info.err) + ")";
      return;
    }
    if (s.run({"/usr/bin/env", "docker-compose", "version", "--short"}, 30).exit_code != 0) {
      s.skip_reason = "docker-compose is not installed";
      return;
    }
    std::random_device random;
    s.unique = std::to_string(::getpid()) + "x" + std::to_string(random() % 100000);
    s.work = fs::temp_directory_path() / ("snap-compose-upgrade-" + s.unique);
    fs::create_directories(s.work);
    s.available = true;
    // One PostgreSQL image for every build of every test: it is what an upgrade keeps.
    s.pg_image = "snaptest-postgres-" + s.unique + ":15";
    s.images.push_back(s.pg_image);
    must(s.run({SNAP_POSTGRES_IMAGE_SCRIPT, s.pg_image}, 300), "building the PostgreSQL image");
  }

  static void TearDownTestSuite() {
    suite->remove_images_and_work();
    delete suite;
    suite = nullptr;
  }

  void SetUp() override {
    if (!suite->available) GTEST_SKIP() << suite->skip_reason;
  }
};

struct Response {
  int status = 0;  // 0: no answer
  std::string body;
  long long at_ms = 0;  // wall clock, when it arrived
};

Response get(unsigned short port, const std::string& path) {
  const std::string raw = apitest::raw_exchange(
      port, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", std::chrono::seconds(5));
  Response r;
  r.at_ms = wall_ms();
  if (raw.rfind("HTTP/1.1 ", 0) == 0 && raw.size() >= 12) r.status = std::stoi(raw.substr(9, 3));
  const std::size_t end = raw.find("\r\n\r\n");
  if (end != std::string::npos) r.body = raw.substr(end + 4);
  return r;
}

Response post(unsigned short port, const std::string& path, const std::string& body) {
  const std::string raw = apitest::raw_exchange(
      port,
      "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body,
      std::chrono::seconds(60));
  Response r;
  r.at_ms = wall_ms();
  if (raw.rfind("HTTP/1.1 ", 0) == 0 && raw.size() >= 12) r.status = std::stoi(raw.substr(9, 3));
  const std::size_t end = raw.find("\r\n\r\n");
  if (end != std::string::npos) r.body = raw.substr(end + 4);
  return r;
}

TEST_F(UpgradeEndToEnd, UpgradeKeepsDataAndRecreatesOnlyTheAppServices) {
  Upgrade u("keep", "UpgradeKeepsDataAndRecreatesOnlyTheAppServices");
  const unsigned short port = e2e::free_loopback_port();
  u.env["SNAP_PUBLISH_API"] = std::to_string(port);

  // v1, deployed; items written through its API server.
  const ProcessResult v1 = u.build(SNAP_COMPOSE_UPGRADE_V1_APP, {"--publish", "api=8080"});
  const std::string password = e2e::read_file(u.out / "state" / "secrets" / "db.password");
  ASSERT_NO_FATAL_FAILURE(u.build_images());
  u.up();
  {
    const auto [status, log] = u.job_result();
    EXPECT_EQ(status, 0) << log;
    EXPECT_THAT(log, HasSubstr("count-runs: run 1 (v1)"));
  }
  {
    const auto put = u.bins_lines({{"put-items", {"a", "20", "alice", "red"}}, {"put-items", {"b", "5", "bob", "blue"}}});
    EXPECT_THAT(put[0], ElementsAreArray({"put 20 items"}));
    EXPECT_THAT(put[1], ElementsAreArray({"put 5 items"}));
  }
  const std::vector<std::string> before = u.bin_lines("get-items", {"a", "20"});
  ASSERT_EQ(before.size(), 20u);
  EXPECT_EQ(before[7], "a-7 alice red 7 v1");

  const std::string db = u.container_of("db");
  const std::string api = u.container_of("api");
  const std::string job = u.container_of("count-runs");
  const std::string db_volume = u.volume_created("db-data");
  ASSERT_FALSE(db.empty());
  ASSERT_FALSE(api.empty());
  ASSERT_FALSE(db_volume.empty());

  // v2 into the same directory: the database's password is the one the volume holds, and
  // the build says the API changed compatibly (refusing a breaking change, as a CI would).
  const ProcessResult v2 = u.build(SNAP_COMPOSE_UPGRADE_V2_APP, {"--publish", "api=8080", "--fail-on-breaking"});
  EXPECT_EQ(e2e::read_file(u.out / "state" / "secrets" / "db.password"), password);
  EXPECT_THAT(v1.err, Not(HasSubstr("api:")));  // a first build has nothing to compare with
  EXPECT_THAT(v2.err, HasSubstr("api: 1 compatible change, no breaking change\n"
                                "  compatible: GET /api/owners/{owner}/items (catalog.api): new endpoint\n"));
  EXPECT_THAT(v2.err, Not(HasSubstr("breaking:")));
  ASSERT_NO_FATAL_FAILURE(u.build_images());

  // A call in flight on v1's server while `up -d` replaces it: started, and seen started
  // on the server's log, before the upgrade begins; its handler takes 8 s, less than the
  // server's stop deadline (10 s), so the stopping server finishes it.
  testing::ProcessOptions docker_options;
  docker_options.environment = u.env;
  testing::ChildProcess api_log({"/usr/bin/env", "docker", "logs", "-f", api}, docker_options);
  std::future<Response> in_flight = std::async(std::launch::async, [port] {
    return post(port, "/api/slow-items",
                R"({"item":{"id":"in-flight","owner":"alice","color":"red","n":99},"delay_ms":8000})");
  });
  ASSERT_TRUE(api_log.wait_for_output("slow-items: in-flight started", std::chrono::seconds(60)));
  api_log.send_signal(SIGTERM);
  api_log.wait();
  testing::ChildProcess api_events({"/usr/bin/env", "docker", "events", "--since", std::to_string(wall_ms() / 1000),
                                    "--filter", "container=" + api, "--filter", "event=kill", "--filter", "event=die",
                                    "--format", "{{.TimeNano}} {{.Action}} signal={{.Actor.Attributes.signal}} exit={{.Actor.Attributes.exitCode}}"},
                                   docker_options);
  // A client outside the system, calling GET every 100 ms (its rate, not a synchronisation)
  // from before the upgrade until v2 answers: how long nothing answered.
  std::promise<void> v2_answered;
  std::atomic<bool> sampling{true};
  std::vector<std::pair<long long, Response>> samples;  // sent at (wall ms), answer
  std::thread sampler([&] {
    bool seen = false;
    while (sampling.load()) {
      const long long sent = wall_ms();
      Response r = get(port, "/api/items/a-0");
      if (!seen && r.status == 200 && r.body.find(R"("served_by":"v2")") != std::string::npos) {
        seen = true;
        v2_answered.set_value();
      }
      samples.emplace_back(sent, std::move(r));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  struct StopSampler {
    std::atomic<bool>& sampling;
    std::thread& sampler;
    ~StopSampler() {
      sampling = false;
      if (sampler.joinable()) sampler.join();
    }
  } stop_sampler{sampling, sampler};

  const auto upgrade_started = Clock::now();
  u.up();
  const double up_seconds = std::chrono::duration<double>(Clock::now() - upgrade_started).count();
  const Response answered = in_flight.get();
  const bool v2_up = v2_answered.get_future().wait_for(std::chrono::seconds(120)) == std::future_status::ready;
  sampling = false;
  sampler.join();
  ASSERT_TRUE(v2_up) << "v2's server did not answer within 120 s of the upgrade";
  long long last_v1 = 0, first_v2 = 0;
  int unanswered = 0;
  for (const auto& [sent, r] : samples) {
    // Answered by v1 or v2, or not at all (refused while neither listens): never an error.
    EXPECT_TRUE(r.status == 0 || r.status == 200) << r.status << " " << r.body;
    if (r.status == 0) ++unanswered;
    if (r.status == 200 && r.body.find(R"("served_by":"v1")") != std::string::npos) last_v1 = r.at_ms;
    if (r.status == 200 && r.body.find(R"("served_by":"v2")") != std::string::npos && first_v2 == 0) first_v2 = sent;
  }
  ASSERT_GT(last_v1, 0);
  ASSERT_TRUE(api_events.wait_for_output(" die ", std::chrono::seconds(60)));
  api_events.send_signal(SIGTERM);
  const std::vector<std::string> events = lines(api_events.wait().out);
  EXPECT_EQ(answered.status, 204) << answered.body;
  ASSERT_EQ(events.size(), 2u) << ::testing::PrintToString(events);
  EXPECT_THAT(events[0], HasSubstr(" kill signal=15 "));  // SIGTERM, and no SIGKILL after it
  EXPECT_THAT(events[1], HasSubstr(" die signal=<no value> exit=0"));  // a clean exit
  EXPECT_LT(std::stoll(events[0]) / 1'000'000, answered.at_ms) << "the call ended before its server was stopped";
  std::cout << "[ up -d of v2 over v1: " << up_seconds << " s; the in-flight call answered "
            << answered.at_ms - std::stoll(events[0]) / 1'000'000
            << " ms after its server got SIGTERM; a client on the host had no answer from the last by v1 to the first by v2 for "
            << first_v2 - last_v1 << " ms (" << unanswered << " of " << samples.size() << " calls) ]" << std::endl;

  // Recreated: the app's services (a new image). Kept: the database's container and volume.
  EXPECT_EQ(u.container_of("db"), db) << "the database's container was recreated";
  EXPECT_EQ(u.volume_created("db-data"), db_volume);
  EXPECT_NE(u.container_of("api"), api);
  EXPECT_NE(u.container_of("count-runs"), job);
  {
    const auto [status, log] = u.job_result();  // a new build: the job runs once more
    EXPECT_EQ(status, 0) << log;
    EXPECT_THAT(log, HasSubstr("count-runs: run 2 (v2)"));
  }

  // Every item v1 wrote, read by v2's handler and found through v2's new index (built from
  // the data when v2 opened the store).
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) expected.push_back("a-" + std::to_string(i) + " alice red " + std::to_string(i) + " v2");
  std::vector<std::string> alices = ids("a", 20);
  alices.push_back("in-flight");
  const auto read = u.bins_lines({{"get-items", {"a", "20"}},
                                  {"owner-items", {"alice"}},
                                  {"owner-items", {"bob"}},
                                  {"get-item", {"in-flight"}}});
  EXPECT_THAT(read[0], ElementsAreArray(expected));
  // The item the call in flight wrote: v1 wrote it after v2's job had opened the store
  // (and built the new index), so v2's server must repair what v1 left out.
  EXPECT_THAT(read[1], ElementsAreArray(alices));
  EXPECT_THAT(read[2], ElementsAreArray(ids("b", 5)));
  EXPECT_THAT(read[3], ElementsAreArray({"in-flight alice red 99 v2"}));
  // Written by v2: in the index at once.
  EXPECT_THAT(u.bin_lines("put-items", {"c", "3", "carol", "green"}), ElementsAreArray({"put 3 items"}));
  EXPECT_THAT(u.index_ids("owner-items", "carol"), ElementsAreArray(ids("c", 3)));

  // `up -d` of the same build again: nothing is recreated, the job does not run again.
  const std::string api2 = u.container_of("api");
  u.up();
  EXPECT_EQ(u.container_of("db"), db);
  EXPECT_EQ(u.container_of("api"), api2);
  EXPECT_THAT(u.bin_lines("get-item", {"job-runs"}), ElementsAreArray({"job-runs jobs none 2 v2"}));
}

// v3 has the index `by-color`; v2, deployed over it (a rollback), writes without it; v3
// deployed again must find in `by-color` exactly what the data says: what v2 added, under
// its color; what v2 changed, under its new color only; what v2 deleted, nowhere.
TEST_F(UpgradeEndToEnd, ARollbacksWritesAreInTheIndexesOfTheBuildAfterIt) {
  Upgrade u("mixed", "ARollbacksWritesAreInTheIndexesOfTheBuildAfterIt");
  const auto sorted = [](std::vector<std::vector<std::string>> parts) {
    std::vector<std::string> all;
    for (const auto& part : parts) all.insert(all.end(), part.begin(), part.end());
    std::sort(all.begin(), all.end());
    return all;
  };

  u.build(SNAP_COMPOSE_UPGRADE_V3_APP);
  ASSERT_NO_FATAL_FAILURE(u.up_with_build());
  {
    const auto put = u.bins_lines({{"put-items", {"kept", "4", "carol", "red"}},
                                   {"put-items", {"changed", "4", "carol", "red"}},
                                   {"put-items", {"gone", "4", "carol", "red"}}});
    EXPECT_THAT(put, ::testing::Each(ElementsAreArray({"put 4 items"})));
  }
  ASSERT_THAT(u.index_ids("color-items", "red"), ElementsAreArray(sorted({ids("changed", 4), ids("gone", 4), ids("kept", 4)})));

  // The rollback: v2 over v3, writing, changing and deleting items while v3's index
  // `by-color` is not there to be kept in step. It removes an endpoint v3's clients call:
  // refused with --fail-on-breaking (the directory is still v3's), said and done without.
  const std::string v3_compose = e2e::read_file(u.out / "docker-compose.yml");
  const ProcessResult refused = u.try_build(SNAP_COMPOSE_UPGRADE_V2_APP, {"--fail-on-breaking"});
  EXPECT_EQ(refused.exit_code, 5) << refused.err;
  const std::string breaking =
      "api: 1 breaking change\n"
      "  breaking: GET /api/colors/{color}/items (catalog.api): removed: old clients calling it will get 404 not_found\n";
  EXPECT_THAT(refused.err, HasSubstr(breaking));
  EXPECT_THAT(refused.err, HasSubstr("is the previous build, unchanged"));
  EXPECT_EQ(e2e::read_file(u.out / "docker-compose.yml"), v3_compose);
  EXPECT_THAT(u.build(SNAP_COMPOSE_UPGRADE_V2_APP).err, HasSubstr(breaking));
  ASSERT_NO_FATAL_FAILURE(u.up_with_build());
  {
    const auto written = u.bins_lines({{"put-items", {"added", "6", "dave", "green"}},
                                       {"put-items", {"changed", "4", "carol", "blue"}},
                                       {"delete-items", {"gone", "4"}}});
    EXPECT_THAT(written[0], ElementsAreArray({"put 6 items"}));
    EXPECT_THAT(written[1], ElementsAreArray({"put 4 items"}));
    EXPECT_THAT(written[2], ElementsAreArray({"deleted 4 items"}));
  }
  EXPECT_THAT(u.index_ids("owner-items", "dave"), ElementsAreArray(ids("added", 6)));  // an index both builds have

  // v3 again: its index says what the data says.
  EXPECT_THAT(u.build(SNAP_COMPOSE_UPGRADE_V3_APP).err,
              HasSubstr("api: 1 compatible change, no breaking change\n"
                        "  compatible: GET /api/colors/{color}/items (catalog.api): new endpoint\n"));
  ASSERT_NO_FATAL_FAILURE(u.up_with_build());
  const auto read = u.bins_lines({{"get-items", {"added", "6"}},
                                  {"color-items", {"green"}},
                                  {"color-items", {"blue"}},
                                  {"color-items", {"red"}},
                                  {"owner-items", {"carol"}},
                                  {"get-item", {"job-runs"}}});
  EXPECT_THAT(read[0], ::testing::Each(HasSubstr(" dave green ")));
  EXPECT_THAT(read[1], ElementsAreArray(ids("added", 6))) << "items the rollback wrote are missing from v3's index";
  EXPECT_THAT(read[2], ElementsAreArray(ids("changed", 4)))
      << "items the rollback changed are missing under their new color";
  EXPECT_THAT(read[3], ElementsAreArray(ids("kept", 4)))
      << "v3's index still lists items the rollback changed or deleted under their old color";
  EXPECT_THAT(read[4], ElementsAreArray(sorted({ids("changed", 4), ids("kept", 4)})));
  // Each build is new to the job, the rollback's and v3's second one too (each build's log
  // is its own): it ran once for each.
  EXPECT_THAT(read[5], ElementsAreArray({"job-runs jobs none 3 v3"}));
}

}  // namespace
}  // namespace snap
