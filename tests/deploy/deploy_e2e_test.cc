// End to end on the machine's real Docker engine: the customer example is built, its
// images are built locally (nothing pulled: the app image FROM scratch, PostgreSQL from
// the host's installed server binaries), and its generated docker-compose.yml runs.
// The client job posts a customer through the API server into PostgreSQL and reads it
// back; the record survives `down` and `up`; each container reaches exactly what its
// persona's `uses` allow; no secret value is anywhere it should not be; a database
// outage under a calling client is `unavailable` within the store's budget, and over
// once the database is back.
//
// Everything it creates is named after one unique project/tag and removed at the end,
// whether the tests pass or not. Skipped, with the reason, where no Docker engine answers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>

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

// One deployment shared by every test below (built once: images take seconds each).
struct Deployment : e2e::ComposeWork {
  unsigned short published_port = 0;  // the API server's, on the host
};

Deployment* deployment = nullptr;

using e2e::free_loopback_port;

class DeployEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    deployment = new Deployment;
    Deployment& d = *deployment;
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
    d.project = "snapdeploy" + unique;
    // The API server published on a host port (`--publish`): the one way in from outside.
    d.build_customer_and_images(unique, "snaptest-customer", "snaptest-postgres", "snap-deploy",
                                {"--publish", "api=8080"});
    d.published_port = free_loopback_port();
    d.env["SNAP_PUBLISH_CUSTOMER_SERVER_API"] = std::to_string(d.published_port);
    must(d.compose({"up", "-d"}, 240), "docker-compose up");
  }

  static void TearDownTestSuite() {
    Deployment& d = *deployment;
    if (d.available) d.compose({"down", "-v", "--remove-orphans"}, 120);
    d.remove_images_and_work();
    delete deployment;
    deployment = nullptr;
  }

  void SetUp() override {
    if (!deployment->available) GTEST_SKIP() << deployment->skip_reason;
  }

  static Deployment& d() { return *deployment; }

  // Waits for the client job's container to exit (bounded) and returns its status and output.
  static std::pair<int, std::string> client_result() {
    const std::string client = d().container_of("example-client");
    const ProcessResult waited = d().docker({"wait", client}, 120);
    const ProcessResult logs = d().docker({"logs", client}, 30);
    return {waited.exit_code == 0 ? std::stoi(trim(waited.out)) : -1, logs.out + logs.err};
  }

  static std::string select_customers() {
    const ProcessResult r = d().compose({"exec", "-T", "customer-server-db", "psql", "-h", "/var/run/postgresql", "-U",
                                         "snap", "-d", "snap", "-tAc",
                                         "SELECT key || ' ' || value::text FROM customer_customer_server_customers_0741b80c"},
                                        60);
    return trim(r.out) + trim(r.err);
  }
};

TEST_F(DeployEndToEnd, TheClientJobReadsTheCustomerBackThroughTheApiServerFromPostgres) {
  const auto [status, output] = client_result();
  EXPECT_EQ(status, 0) << output;
  EXPECT_THAT(output, HasSubstr(R"(Loaded customer: {"id":"1","name":"John Doe"})"));
  EXPECT_EQ(select_customers(), R"(1 {"id": "1", "name": "John Doe"})");
}

// From outside the system, as curl would: the published port leads to the API server,
// and the customer's id is the path's last segment.
TEST_F(DeployEndToEnd, ThePublishedApiServerAnswersAClientOnTheHost) {
  client_result();  // the customer is stored
  const std::string response = apitest::raw_exchange(
      d().published_port, "GET /api/customer/1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
      std::chrono::seconds(30));
  EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(response, HasSubstr(R"({"id":"1","name":"John Doe"})"));
  const std::string missing = apitest::raw_exchange(
      d().published_port, "GET /api/customer/2 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
      std::chrono::seconds(30));
  EXPECT_THAT(missing, ::testing::StartsWith("HTTP/1.1 404"));
  EXPECT_THAT(missing, HasSubstr(R"({"code":"not_found","message":"no customer 2"})"));
}

TEST_F(DeployEndToEnd, TheRecordSurvivesDownAndUp) {
  client_result();  // the first run has written it
  ASSERT_EQ(d().compose({"down"}, 120).exit_code, 0);
  EXPECT_EQ(d().compose({"ps", "-q"}).out, "");
  // New containers: what the database holds now came from its volume. Starting the API
  // server starts the database first and waits until it is healthy (depends_on).
  ASSERT_EQ(d().compose({"up", "-d", "customer-server-api"}, 240).exit_code, 0);
  EXPECT_EQ(select_customers(), R"(1 {"id": "1", "name": "John Doe"})");
  ASSERT_EQ(d().compose({"up", "-d"}, 240).exit_code, 0);
  const auto [status, output] = client_result();
  EXPECT_EQ(status, 0) << output;
}

// From inside each service's container (same image, networks and secrets, via
// `docker-compose run`), try every service that listens, by name and by address.
TEST_F(DeployEndToEnd, EachContainerReachesExactlyWhatItsPersonaUses) {
  ASSERT_EQ(d().compose({"up", "-d"}, 240).exit_code, 0);
  const std::map<std::string, std::string> listening{{"customer-server-api", "20000"}, {"customer-server-db", "5432"}};
  std::map<std::string, std::vector<std::string>> addresses;
  for (const auto& [service, port] : listening) {
    const std::string ips = d().docker({"inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                                        d().container_of(service)}).out;
    std::istringstream in(ips);
    for (std::string ip; in >> ip;) addresses[service].push_back(ip + ":" + port);
    addresses[service].push_back(service + ":" + port);
  }
  // The declared uses, exactly: the client uses the server; the server's store uses the
  // database; the command uses the server. The database shares a network with the API
  // server (the server's way to it) but cannot connect to it: the server listens only
  // on its own network's address (docs/deploy.md, "Least privilege from `uses`").
  const std::map<std::string, std::set<std::string>> expected{
      {"example-client", {"customer-server-api"}},
      {"customer-server-api", {"customer-server-db"}},
      {"customer-server-db", {}},
      {"get-customer", {"customer-server-api"}},
  };
  for (const auto& [from, allowed] : expected) {
    std::vector<std::string> args{"run", "--rm", "--no-deps", "-T", "--entrypoint", "/probe", from, "connect"};
    for (const auto& [service, port] : listening) {
      if (service != from) args.insert(args.end(), addresses[service].begin(), addresses[service].end());
    }
    const ProcessResult probed = d().compose(args, 120);
    ASSERT_EQ(probed.exit_code, 0) << probed.err;
    std::map<std::string, std::set<std::string>> verdicts;  // target service -> verdicts
    for (const std::string& line : lines(probed.out)) {
      const std::string target = line.substr(0, line.find(' '));
      const std::string verdict = line.substr(line.find(' ') + 1);
      for (const auto& [service, list] : addresses) {
        if (std::find(list.begin(), list.end(), target) != list.end()) verdicts[service].insert(verdict);
      }
    }
    for (const auto& [service, port] : listening) {
      if (service == from) continue;
      if (allowed.count(service)) {
        EXPECT_TRUE(verdicts[service].count("open")) << from << " cannot reach " << service << ":\n" << probed.out;
      } else {
        EXPECT_FALSE(verdicts[service].count("open")) << from << " reaches " << service << ":\n" << probed.out;
      }
    }
  }
}

TEST_F(DeployEndToEnd, NoSecretValueAppearsOutsideTheContainersThatUseIt) {
  const std::string& secret = d().password;
  ASSERT_EQ(secret.size(), 48u);
  for (const char* file : {"snapshot.snaplog", "docker-compose.yml", "Dockerfile", ".dockerignore", "state/deploy.json",
                           "state/build-state.json", "image/etc/passwd"}) {
    EXPECT_EQ(read_file(d().out / file).find(secret), std::string::npos) << file;
  }
  // Every layer of every image: `docker save` writes them uncompressed.
  for (const std::string& image : d().images) {
    const ProcessResult saved = d().docker({"save", image}, 120);
    ASSERT_EQ(saved.exit_code, 0) << saved.err;
    EXPECT_GT(saved.out.size(), 1000000u);
    EXPECT_EQ(saved.out.find(secret), std::string::npos) << image;
    const ProcessResult inspected = d().docker({"image", "inspect", image});
    EXPECT_EQ(inspected.out.find(secret), std::string::npos) << image;
  }
  const ProcessResult containers = d().compose({"ps", "-a", "-q"});
  ASSERT_FALSE(lines(containers.out).empty());
  for (const std::string& container : lines(containers.out)) {
    const ProcessResult inspected = d().docker({"inspect", container});
    EXPECT_EQ(inspected.out.find(secret), std::string::npos) << container;
    const ProcessResult logs = d().docker({"logs", container});
    EXPECT_EQ((logs.out + logs.err).find(secret), std::string::npos) << container;
  }
  // Each container's /run/secrets holds its own secrets only.
  const std::map<std::string, std::string> mounted{
      {"example-client", "missing"},
      {"customer-server-api", "customer-server.db.password"},
      {"customer-server-db", "customer-server.db.password"},
  };
  for (const auto& [service, expected] : mounted) {
    const ProcessResult listed =
        d().compose({"run", "--rm", "--no-deps", "-T", "--entrypoint", "/probe", service, "ls", "/run/secrets"}, 120);
    EXPECT_EQ(trim(listed.out), expected) << service << ": " << listed.err;
  }
}

TEST_F(DeployEndToEnd, DockerComposeAcceptsTheGeneratedFile) {
  const ProcessResult config = d().compose({"config", "-q"}, 60);
  EXPECT_EQ(config.exit_code, 0) << config.err;
  const ProcessResult services = d().compose({"config", "--services"}, 60);
  // get-customer is a command: in the file under the "commands" profile, which `up` leaves
  // out; bin/get-customer starts it.
  EXPECT_EQ(lines(services.out),
            (std::vector<std::string>{"customer-server-db", "customer-server-api", "example-client", "get-customer"}));
}

// The command persona, deployed: the build's bin/get-customer runs it in its own container
// against the running system, and its exit status is the script's.
TEST_F(DeployEndToEnd, TheCommandScriptRunsTheCommandAgainstTheDeployment) {
  client_result();  // the client job has posted customer 1
  testing::ProcessOptions options;
  options.environment = d().env;
  (*options.environment)["COMPOSE_PROJECT_NAME"] = d().project;
  options.working_directory = d().out;
  const std::string script = (d().out / "bin/get-customer").string();
  const ProcessResult found = testing::run_process({"/usr/bin/timeout", "180", script, "1"}, options);
  EXPECT_EQ(found.exit_code, 0) << found.err;
  EXPECT_THAT(found.out, HasSubstr(R"({"id":"1","name":"John Doe"})"));
  const ProcessResult missing = testing::run_process({"/usr/bin/timeout", "180", script, "2"}, options);
  EXPECT_EQ(missing.exit_code, 1) << missing.out;
  EXPECT_THAT(missing.out + missing.err, HasSubstr("not_found: no customer 2"));
}

// How many times `part` occurs in `text`.
std::size_t occurrences(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

// bin/NAME without $COMPOSE_PROJECT_NAME runs against the deployment of its directory; a
// copy of it elsewhere, or a project name that runs nothing, is refused, and no second
// deployment is started.
TEST_F(DeployEndToEnd, TheCommandScriptFindsItsDeploymentOrRefusesWithoutStartingAnother) {
  client_result();  // the client job has posted customer 1
  testing::ProcessOptions options;
  options.environment = d().env;
  options.environment->erase("COMPOSE_PROJECT_NAME");
  const std::string script = (d().out / "bin/get-customer").string();
  const ProcessResult found = testing::run_process({"/usr/bin/timeout", "180", script, "1"}, options);
  EXPECT_EQ(found.exit_code, 0) << found.err;
  EXPECT_THAT(found.out, HasSubstr(R"({"id":"1","name":"John Doe"})"));

  const fs::path elsewhere = d().work / "elsewhere";
  fs::create_directories(elsewhere / "bin");
  fs::copy_file(d().out / "docker-compose.yml", elsewhere / "docker-compose.yml");
  fs::copy_file(script, elsewhere / "bin/get-customer");
  const ProcessResult copy = testing::run_process({"/usr/bin/timeout", "60", (elsewhere / "bin/get-customer").string(), "1"}, options);
  EXPECT_EQ(copy.exit_code, 69) << copy.out;
  EXPECT_THAT(copy.err, HasSubstr("no deployment of customer from " + fs::canonical(elsewhere).string() + " is running"));
  EXPECT_THAT(copy.err, HasSubstr("COMPOSE_PROJECT_NAME=" + d().project + " "));

  const std::string nothing = d().project + "none";
  (*options.environment)["COMPOSE_PROJECT_NAME"] = nothing;
  const ProcessResult named = testing::run_process({"/usr/bin/timeout", "60", script, "1"}, options);
  EXPECT_EQ(named.exit_code, 69) << named.out;
  EXPECT_THAT(named.err, HasSubstr("no deployment of customer named " + nothing + " ($COMPOSE_PROJECT_NAME) is running"));

  // What compose would have named the second deployment: nothing of it exists (were it
  // there, it is removed: the test removes what it caused).
  for (const std::string& project : {nothing, std::string("elsewhere"), d().out.filename().string()}) {
    const ProcessResult left = d().docker({"ps", "-a", "-q", "--filter", "label=com.docker.compose.project=" + project}, 30);
    EXPECT_EQ(left.out, "") << "a deployment " << project << " was started";
    if (!left.out.empty()) {
      d().run({"/usr/bin/env", "docker-compose", "-p", project, "-f", (d().out / "docker-compose.yml").string(), "down", "-v"},
              120);
    }
  }
}

// `up` of the same build starts the exited job's container again, or recreates it; the
// job finds its record and does not run again. bin/NAME runs it again on purpose.
TEST_F(DeployEndToEnd, TheClientJobRunsOncePerBuildAndAgainOnlyWhenAsked) {
  const auto [first, first_output] = client_result();
  ASSERT_EQ(first, 0) << first_output;
  const std::string ran = R"(Loaded customer: {"id":"1","name":"John Doe"})";
  const std::string skipped = "snap: job example-client already ran to completion for this build";

  ASSERT_EQ(d().compose({"up", "-d"}, 240).exit_code, 0);  // starts the exited container again
  auto [again, again_output] = client_result();
  EXPECT_EQ(again, 0) << again_output;
  EXPECT_EQ(occurrences(again_output, ran), occurrences(first_output, ran)) << again_output;  // the same runs
  EXPECT_THAT(again_output, HasSubstr(skipped));

  ASSERT_EQ(d().compose({"up", "-d", "--no-deps", "--force-recreate", "example-client"}, 240).exit_code, 0);
  auto [recreated, recreated_output] = client_result();
  EXPECT_EQ(recreated, 0) << recreated_output;
  EXPECT_EQ(recreated_output.find(ran), std::string::npos) << recreated_output;
  EXPECT_THAT(recreated_output, HasSubstr(skipped));

  testing::ProcessOptions options;
  options.environment = d().env;
  options.environment->erase("COMPOSE_PROJECT_NAME");
  const ProcessResult asked = testing::run_process({"/usr/bin/timeout", "180", (d().out / "bin/example-client").string()}, options);
  EXPECT_EQ(asked.exit_code, 0) << asked.err;
  EXPECT_THAT(asked.out + asked.err, HasSubstr(ran));
}

// Every container runs under the build's default memory and pids limits.
TEST_F(DeployEndToEnd, EveryContainerHasTheDefaultMemoryAndPidsLimits) {
  const ProcessResult containers = d().compose({"ps", "-a", "-q"});
  ASSERT_GE(lines(containers.out).size(), 3u);
  for (const std::string& container : lines(containers.out)) {
    EXPECT_EQ(trim(d().docker({"inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", container}).out),
              "1073741824 1024")
        << container;
  }
}

// One run of the command in the outage loop (probe repeat).
struct LoopRun {
  long long start_ms = 0;  // wall clock, the container's (the host's kernel's)
  long long ms = 0;
  int exit = -1;
  std::string out;
  std::string line;
};

std::vector<LoopRun> loop_runs(const std::string& output) {
  std::vector<LoopRun> runs;
  for (const std::string& line : lines(output)) {
    if (line.rfind("run=", 0) != 0) continue;
    LoopRun r;
    r.line = line;
    std::sscanf(line.c_str(), "run=%*d start_ms=%lld ms=%lld exit=%d", &r.start_ms, &r.ms, &r.exit);
    const std::size_t out = line.find(" out=");
    if (out != std::string::npos) r.out = line.substr(out + 5);
    runs.push_back(std::move(r));
  }
  return runs;
}

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The database container stops while a client calls the API in a loop: every call
// either succeeds or fails as `unavailable` within the store's documented budget (a
// stopped container's name does not resolve on its internal network: the case that
// took 10 s per connection attempt), the API server stays healthy, the outage is logged
// once, and calls succeed again within 2 s of the database being healthy. The client is
// the real command persona (typed client, HTTP, handler, store), run again and again in
// its own container by the probe: bin/get-customer would start the database again
// (`run` starts dependencies), so the loop's `run` has --no-deps.
TEST_F(DeployEndToEnd, ADatabaseOutageIsUnavailableToCallersWithinTheBudgetAndEndsWhenTheDatabaseIsBack) {
  // docs/store.md, "Retries": 5 attempts of at most 2 s, 0.75 s of backoff.
  constexpr long long kStoreBudgetMs = 10'750;
  // Starting the command (its replay) and its HTTP round trip, on top of the store's wait.
  constexpr long long kCommandMarginMs = 1'500;
  ASSERT_EQ(d().compose({"up", "-d"}, 240).exit_code, 0);
  ASSERT_EQ(client_result().first, 0);  // customer 1 is there
  const std::string api = d().container_of("customer-server-api");
  const std::string db = d().container_of("customer-server-db");
  ASSERT_FALSE(api.empty());
  ASSERT_FALSE(db.empty());

  testing::ProcessOptions options;
  options.environment = d().env;
  options.working_directory = d().out;
  const std::string loop_name = d().project + "-outage-loop";
  // Whatever happens below: no loop container left, the database running again.
  struct Cleanup {
    const Deployment& d;
    std::string loop_name;
    ~Cleanup() {
      d.docker({"rm", "-f", loop_name}, 60);
      d.compose({"start", "customer-server-db"}, 120);
    }
  } cleanup{d(), loop_name};
  const auto compose_argv = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{"/usr/bin/timeout", "300", "/usr/bin/env", "docker-compose", "-p", d().project, "-f",
                                  (d().out / "docker-compose.yml").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  };
  testing::ChildProcess loop(compose_argv({"run", "--rm", "--no-deps", "-T", "--name", loop_name, "--entrypoint",
                                           "/probe", "get-customer", "repeat", "180", "/app/customer", "run",
                                           "customer.get-customer", "1"}),
                             options);
  ASSERT_TRUE(loop.wait_for_output(" exit=0 ", std::chrono::seconds(120))) << loop.wait().out;

  // The API server's health and life, as Docker sees them, from now until the end.
  const std::string events_since = std::to_string(now_ms() / 1000);
  testing::ProcessOptions docker_options;
  docker_options.environment = d().env;
  testing::ChildProcess api_events({"/usr/bin/env", "docker", "events", "--since", events_since, "--filter",
                                    "container=" + api, "--filter", "event=health_status", "--filter", "event=die",
                                    "--filter", "event=restart", "--filter", "event=stop", "--format", "{{.Status}}"},
                                   docker_options);

  // The server may see the database go while `stop` still waits for it to exit: its log is
  // read from before the stop.
  const long long stopping_ms = now_ms();
  must(d().compose({"stop", "customer-server-db"}, 120), "docker-compose stop customer-server-db");
  const long long stopped_ms = now_ms();
  // Down until two calls have failed: the second ran entirely in the outage.
  ASSERT_TRUE(loop.wait_for_output(" failures=2 ", std::chrono::seconds(120))) << loop.wait().out;

  testing::ChildProcess db_events({"/usr/bin/env", "docker", "events", "--since", std::to_string(now_ms() / 1000),
                                   "--filter", "container=" + db, "--filter", "event=health_status", "--format",
                                   "{{.TimeNano}} {{.Status}}"},
                                  docker_options);
  must(d().compose({"start", "customer-server-db"}, 120), "docker-compose start customer-server-db");
  ASSERT_TRUE(db_events.wait_for_output("health_status: healthy", std::chrono::seconds(120)));
  db_events.send_signal(SIGTERM);
  long long healthy_ms = 0;
  for (const std::string& line : lines(db_events.wait().out)) {
    if (line.find("health_status: healthy") != std::string::npos && healthy_ms == 0) {
      healthy_ms = std::stoll(line.substr(0, line.find(' '))) / 1'000'000;
    }
  }
  ASSERT_GT(healthy_ms, stopped_ms);

  const ProcessResult looped = loop.wait();  // ends once 3 calls have succeeded after a failure
  const std::vector<LoopRun> runs = loop_runs(looped.out);
  ASSERT_FALSE(runs.empty()) << looped.out << looped.err;
  int failed = 0;
  long long first_success_after_outage_ms = 0;
  for (const LoopRun& r : runs) {
    if (r.exit == 0) {
      EXPECT_THAT(r.out, HasSubstr(R"({"id":"1","name":"John Doe"})")) << r.line;
      if (failed > 0 && first_success_after_outage_ms == 0) first_success_after_outage_ms = r.start_ms + r.ms;
    } else {
      ++failed;
      EXPECT_THAT(r.out, HasSubstr("error: unavailable: the database is unavailable; retry later")) << r.line;
      EXPECT_LE(r.ms, kStoreBudgetMs + kCommandMarginMs) << r.line;
    }
    if (r.start_ms > healthy_ms) {
      EXPECT_EQ(r.exit, 0) << "after the database was healthy: " << r.line;
    }
  }
  EXPECT_GE(failed, 2) << looped.out;
  ASSERT_GT(first_success_after_outage_ms, 0) << looped.out;
  EXPECT_LE(first_success_after_outage_ms, healthy_ms + 2'000)
      << "the database was healthy at " << healthy_ms << ":\n" << looped.out;
  std::cout << "[ outage: " << runs.size() << " calls, " << failed << " unavailable (longest "
            << [&] {
                 long long m = 0;
                 for (const LoopRun& r : runs) m = r.exit != 0 ? std::max(m, r.ms) : m;
                 return m;
               }()
            << " ms); database healthy at +" << healthy_ms - stopped_ms << " ms after the stop, calls succeed again at "
            << first_success_after_outage_ms - healthy_ms << " ms from then ]" << std::endl;
  for (const LoopRun& r : runs) {
    if (r.exit != 0) std::cout << "  " << r.line << std::endl;
  }

  // The server stayed up and healthy: no health change, no restart, the same container.
  api_events.send_signal(SIGTERM);
  const std::string api_changes = api_events.wait().out;
  EXPECT_EQ(api_changes, "") << "health changes, stops or restarts of the API server";
  EXPECT_EQ(trim(d().docker({"inspect", "-f", "{{.State.Health.Status}} {{.RestartCount}}", api}).out), "healthy 0");
  EXPECT_EQ(d().container_of("customer-server-api"), api);

  // The outage is in the server's log once, and so is its end.
  const ProcessResult logs = d().docker({"logs", "--since", std::to_string(stopping_ms / 1000), api}, 60);
  std::vector<std::string> outage_lines;
  for (const std::string& line : lines(logs.out + logs.err)) {
    if (line.find("snap: store ") != std::string::npos) outage_lines.push_back(line);
  }
  ASSERT_EQ(outage_lines.size(), 2u) << logs.out << logs.err;
  EXPECT_THAT(outage_lines[0], HasSubstr(") is unavailable; calls fail with kUnavailable until it answers again: "));
  EXPECT_THAT(outage_lines[1], HasSubstr(") answers again, after "));

  // The server recorded the calls that failed (the build's default, --record-requests
  // errors): bin/episodes brings them out, none holds the database's password, and one
  // replays on the host to the same `unavailable`, its store read's recorded error.
  const fs::path fetched_dir = d().work / "outage-episodes";
  options.environment->insert_or_assign("COMPOSE_PROJECT_NAME", d().project);
  const ProcessResult fetched = testing::run_process(
      {"/usr/bin/timeout", "120", (d().out / "bin/episodes").string(), "fetch", "--failed", fetched_dir.string()},
      options);
  ASSERT_EQ(fetched.exit_code, 0) << fetched.err;
  const std::vector<std::string> episodes = lines(fetched.out);
  EXPECT_GE(episodes.size(), static_cast<std::size_t>(failed)) << fetched.out;
  for (const std::string& episode : episodes) {
    EXPECT_EQ(read_file(episode).find(d().password), std::string::npos) << episode;
  }
  ASSERT_FALSE(episodes.empty());
  const ProcessResult replayed = testing::run_process(
      {"/usr/bin/timeout", "60", (d().out / "app/customer").string(), "replay", "--log",
       (d().out / "snapshot.snaplog").string(), episodes.front()},
      testing::ProcessOptions{d().work, std::map<std::string, std::string>{}, std::nullopt, false});
  EXPECT_EQ(replayed.exit_code, 0) << replayed.out << replayed.err;
  EXPECT_THAT(replayed.out, HasSubstr("same: GET /api/customer/{id} (customer.customer-server.api) answered as "
                                      "recorded: 503 "));
}

}  // namespace
}  // namespace snap
