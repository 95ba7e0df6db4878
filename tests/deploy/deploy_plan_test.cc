// The deployment plan as a pure function: golden files for a small app with every kind
// of service, byte-identical output for the same input, least privilege from `uses`, and
// each error named. SNAP_UPDATE_GOLDEN=1 rewrites the golden files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include <boost/json/parse.hpp>

#include "snap/deploy.h"

namespace snap {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// shop: an API server with a store in a database, a worker with a supplied secret, a
// job and a command that call the API server.
DeployInput shop() {
  DeployInput in;
  in.app_name = "shop";
  in.components = {
      {"shop", "App", "", "{}", {}, {}},
      {"shop.db", "Postgres", "",
       R"({"user":"snap","database":"snap","port":5432,"password_secret":"db.password","service":"db"})",
       {"shop.db.password"}, {}},
      {"shop.db.password", "Password", "", "{}", {}, {"db.password"}},
      {"shop.orders", "KeyValueStore", "", R"({"table":"shop_orders_1a2b3c4d","indexes":{}})", {"shop.db"}, {}},
      {"shop.api", "ApiServer", "daemon", R"({"port":35000})", {"shop.orders"}, {}},
      {"shop.api.port", "Port", "", R"({"port":35000})", {}, {}},
      {"shop.stripe-key", "Secret", "", "{}", {}, {"stripe-key"}},
      {"shop.mailer", "Worker", "daemon", R"({"interval_ms":1000})", {"shop.stripe-key"}, {}},
      {"shop.seed", "Persona", "job", "{}", {"shop.api"}, {}},
      {"shop.report", "Persona", "command", "{}", {"shop.api"}, {}},
  };
  return in;
}

// `text` with every "DIR" replaced by `dir`.
std::string replace_dir(std::string text, const std::string& dir) {
  for (std::size_t at = text.find("DIR"); at != std::string::npos; at = text.find("DIR", at + dir.size())) {
    text.replace(at, 3, dir);
  }
  return text;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const DeployFile& file(const DeployPlan& plan, const std::string& path) {
  for (const DeployFile& f : plan.files) {
    if (f.path == path) return f;
  }
  throw std::runtime_error("no file " + path);
}

void expect_golden(const std::string& name, const std::string& content) {
  const fs::path golden = fs::path(SNAP_DEPLOY_GOLDEN_DIR) / name;
  if (std::getenv("SNAP_UPDATE_GOLDEN") != nullptr) {
    fs::create_directories(golden.parent_path());
    std::ofstream(golden, std::ios::binary) << content;
  }
  EXPECT_EQ(content, read_file(golden)) << "golden " << golden << " (SNAP_UPDATE_GOLDEN=1 rewrites it)";
}

TEST(DeployPlan, GeneratedFilesMatchTheGoldenFiles) {
  const DeployPlan plan = plan_deployment(shop(), {});
  std::vector<std::string> paths;
  for (const DeployFile& f : plan.files) {
    paths.push_back(f.path);
    expect_golden("shop/" + f.path, f.content);
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"Dockerfile", ".dockerignore", "docker-compose.yml", "docker-stack.yml",
                                             "image/etc/passwd",
                                             "image/etc/group", "image/etc/nsswitch.conf", "bin/seed", "bin/report", "bin/stack/report",
                                             "bin/episodes", "bin/stack/episodes", "state/deploy.json",
                                             "bin/remove-orphans"}));
  EXPECT_TRUE(file(plan, "bin/report").executable);
  EXPECT_TRUE(file(plan, "bin/remove-orphans").executable);
  EXPECT_FALSE(file(plan, "docker-compose.yml").executable);
  EXPECT_EQ(plan.binary, "app/shop");
}

TEST(DeployPlan, BaseImageDockerfileCarriesTheLibrariesBeyondTheCLibrary) {
  DeployOptions options;
  options.base_image = "debian:bookworm-slim";
  const DeployPlan plan = plan_deployment(shop(), options);
  expect_golden("shop-base-image/Dockerfile", file(plan, "Dockerfile").content);
  EXPECT_THAT(file(plan, "Dockerfile").content, HasSubstr("FROM debian:bookworm-slim\nCOPY image/lib/ /app/lib/\n"));
}

TEST(DeployPlan, LibrariesOutsideTheLoadersDirectoriesGoInLdLibraryPath) {
  DeployOptions options;
  options.extra_library_dirs = {"/opt/pq/lib", "/usr/local/lib"};
  EXPECT_THAT(file(plan_deployment(shop(), options), "Dockerfile").content,
              HasSubstr("ENV LD_LIBRARY_PATH=/opt/pq/lib:/usr/local/lib\n"));
}

TEST(DeployPlan, TheSameInputGivesByteIdenticalFiles) {
  const DeployPlan a = plan_deployment(shop(), {});
  const DeployPlan b = plan_deployment(shop(), {});
  ASSERT_EQ(a.files.size(), b.files.size());
  for (std::size_t i = 0; i < a.files.size(); ++i) {
    EXPECT_EQ(a.files[i].path, b.files[i].path);
    EXPECT_EQ(a.files[i].content, b.files[i].content) << a.files[i].path;
  }
}

TEST(DeployPlan, EachServiceReachesWhatItUsesAndNoFurther) {
  const DeployPlan plan = plan_deployment(shop(), {});
  // The job calls the API server but not the database behind it.
  EXPECT_EQ(plan.reaches, (std::vector<std::pair<std::string, std::vector<std::string>>>{
                              {"db", {}}, {"api", {"db"}}, {"mailer", {}}, {"seed", {"api"}}, {"report", {"api"}}}));
  const std::string compose = file(plan, "docker-compose.yml").content;
  EXPECT_THAT(compose, HasSubstr("  mailer:\n"));
  EXPECT_THAT(compose, HasSubstr("    network_mode: \"none\"\n"));  // the worker reaches nothing
  EXPECT_THAT(compose, HasSubstr("networks:\n  api:\n    internal: true\n  db:\n    internal: true\n"));
  // The API server shares the database's network; it listens only at listen.api, its
  // address on its own network, so the database cannot connect to it.
  EXPECT_THAT(compose, HasSubstr("    networks:\n      api: {aliases: [\"listen.api\"]}\n      db: {}\n"));
  EXPECT_THAT(compose, HasSubstr("    networks:\n      db: {aliases: [\"listen.db\"]}\n"));
  EXPECT_EQ(compose.find("ports:"), std::string::npos);  // nothing published
}

TEST(DeployPlan, EachServiceMountsOnlyTheSecretsOfWhatItReaches) {
  const DeployPlan plan = plan_deployment(shop(), {});
  std::vector<std::string> mounted;
  for (const DeploySecretFile& f : plan.secret_files) {
    mounted.push_back(f.service + " " + f.path + (f.copy_from_state ? " (copied)" : ""));
  }
  EXPECT_THAT(mounted, ::testing::ElementsAre(
                           ::testing::MatchesRegex("db runtime-secrets/shop_db_[0-9a-f]{8}/db\\.password \\(copied\\)"),
                           ::testing::MatchesRegex("api runtime-secrets/shop_api_[0-9a-f]{8}/db\\.password"),
                           ::testing::MatchesRegex("mailer runtime-secrets/shop_mailer_[0-9a-f]{8}/stripe-key")));
  for (const DeploySecretFile& f : plan.secret_files) {
    if (f.service == "db") {
      EXPECT_EQ(f.uid, 999u);  // the official postgres image's user, owner of its data
    } else {
      EXPECT_GE(f.uid, 20000u);
      EXPECT_LT(f.uid, 60000u);
    }
  }
}

TEST(DeployPlan, ACycleOfUsesIsAnErrorNamingTheCycle) {
  DeployInput in = shop();
  in.components.push_back({"shop.a", "Persona", "daemon", "{}", {"shop.b"}, {}});
  in.components.push_back({"shop.b", "Persona", "daemon", "{}", {"shop.c"}, {}});
  in.components.push_back({"shop.c", "Persona", "daemon", "{}", {"shop.a"}, {}});
  try {
    plan_deployment(in, {});
    FAIL() << "no DeployError";
  } catch (const DeployError& e) {
    EXPECT_THAT(e.what(), HasSubstr("services use each other in a cycle, so none can start first: a -> b -> c -> a"));
  }
}

TEST(DeployPlan, TwoServicesWithOneNameAreRefused) {
  DeployInput in = shop();
  in.components.push_back({"shop.x-db", "Persona", "daemon", "{}", {}, {}});
  in.components.push_back({"shop.x%2Edb", "Postgres", "",
                           R"({"user":"u","database":"d","port":5432,"password_secret":"p","service":"x-db"})", {}, {}});
  try {
    plan_deployment(in, {});
    FAIL() << "no DeployError";
  } catch (const DeployError& e) {
    EXPECT_THAT(e.what(), HasSubstr("shop.x-db and shop.x%2Edb would both be the service \"x-db\"; rename one"));
  }
}

TEST(DeployPlan, ADatabaseWithoutItsPasswordInItsConfigIsAnError) {
  DeployInput in = shop();
  in.components[1].config = R"({"user":"snap","database":"snap"})";
  try {
    plan_deployment(in, {});
    FAIL() << "no DeployError";
  } catch (const DeployError& e) {
    EXPECT_THAT(e.what(), HasSubstr("shop.db (Postgres) has no \"password_secret\" in its config"));
  }
}

TEST(DeployPlan, AVolumeOfARemovedDatabaseIsReportedAndRemovableUntilItReturns) {
  DeployInput in = shop();
  in.previous = boost::json::parse(R"({"volumes":{"db-data":"shop.db","old-db-data":"shop.old-db"}})");
  DeployPlan plan = plan_deployment(in, {});
  EXPECT_EQ(plan.orphaned_volumes, (std::vector<std::string>{
                                       "volume old-db-data (database shop.old-db, no longer in this build) keeps its "
                                       "data; bin/remove-orphans deletes it"}));
  EXPECT_EQ(file(plan, "state/deploy.json").content,
            "{\"volumes\":{\"db-data\":\"shop.db\"},\"orphaned_volumes\":{\"old-db-data\":\"shop.old-db\"}}\n");
  EXPECT_THAT(file(plan, "bin/remove-orphans").content, HasSubstr("docker volume rm \"${project}_old-db-data\""));
  // A later build still reports it (its data is still there) ...
  in.previous = boost::json::parse(file(plan, "state/deploy.json").content);
  EXPECT_EQ(plan_deployment(in, {}).orphaned_volumes.size(), 1u);
  // ... until a database with that volume is back.
  in.components.push_back({"shop.old-db", "Postgres", "",
                           R"({"user":"u","database":"d","port":5432,"password_secret":"old-db.password"})", {}, {}});
  EXPECT_TRUE(plan_deployment(in, {}).orphaned_volumes.empty());
}

TEST(DeployPlan, DockerComposeAcceptsTheGoldenFile) {
  if (std::system("docker-compose version --short > /dev/null 2>&1") != 0) GTEST_SKIP() << "docker-compose is not installed";
  const std::string dir = std::string(SNAP_DEPLOY_GOLDEN_DIR) + "/shop";
  EXPECT_EQ(std::system(("docker-compose -p snapgolden -f " + dir + "/docker-compose.yml config -q").c_str()), 0);
  EXPECT_EQ(std::system(("docker-compose -p snapgolden -f " + dir +
                         "/docker-compose.yml --profile commands config --services > /dev/null")
                            .c_str()),
            0);
}

// The swarm stack: the same services as compose, in the form `docker stack deploy` takes.
TEST(DeployPlan, TheStackRunsDaemonsReplicatedTheDatabaseOnceAndJobsABoundedNumberOfTimes) {
  DeployOptions options;
  options.replicas = {{"api", 3}};
  const std::string stack = file(plan_deployment(shop(), options), "docker-stack.yml").content;
  EXPECT_THAT(stack, HasSubstr("  api:\n    image: \"${SNAP_IMAGE:-snap-shop}\"\n    command: [\"shop.api\"]\n"));
  EXPECT_THAT(stack, HasSubstr("      endpoint_mode: \"${SNAP_ENDPOINT_MODE:-dnsrr}\"\n      replicas: ${SNAP_REPLICAS_API:-3}\n"
                               "      restart_policy: {condition: \"any\", delay: \"2s\"}\n"));
  EXPECT_THAT(stack, HasSubstr("      replicas: ${SNAP_REPLICAS_MAILER:-1}\n"));
  EXPECT_THAT(stack, HasSubstr("      # One replica: its data is one volume, on the node it runs on (pin it there).\n"
                               "      replicas: 1\n"));
  EXPECT_THAT(stack, HasSubstr("  seed:\n"));
  EXPECT_THAT(stack, HasSubstr("      replicas: 1\n      restart_policy: {condition: \"on-failure\", delay: \"5s\", max_attempts: 3}\n"));
  EXPECT_THAT(stack, HasSubstr("      replicas: 0\n      restart_policy: {condition: \"none\"}\n"));  // the command
  EXPECT_THAT(stack, HasSubstr("volumes:\n  db-data: {}\n"));
  // What swarm ignores or refuses is not there.
  for (const char* key : {"build:", "restart:", "depends_on:", "profiles:", "network_mode:", "security_opt:", "tmpfs:",
                          "container_name:", "ports:"}) {
    EXPECT_EQ(stack.find(key), std::string::npos) << key;
  }
}

// Rolling updates (docs/deploy.md, "Rolling updates on a swarm"): a daemon's new task is
// started first and its old one stopped once it is healthy, a task at a time, and a failed
// update rolls back; the database is stopped first (one data directory); a job's ending is
// no failure of its update; a command has no task to update.
TEST(DeployPlan, TheStackUpdatesDaemonsStartFirstTheDatabaseStopFirstAndRollsBackAFailedUpdate) {
  const std::string stack = file(plan_deployment(shop(), {}), "docker-stack.yml").content;
  // The service's `deploy:` block.
  const auto deploy_of = [&](const std::string& service) {
    const std::size_t at = stack.find("\n  " + service + ":\n");
    EXPECT_NE(at, std::string::npos) << service;
    const std::size_t from = stack.find("    deploy:\n", at);
    return stack.substr(from, stack.find("      resources:", from) - from);
  };
  const std::string daemon_update =
      "      update_config: {parallelism: 1, delay: \"10s\", order: \"start-first\", failure_action: \"rollback\", "
      "monitor: \"70s\"}\n      rollback_config: {parallelism: 1, order: \"start-first\"}\n";
  EXPECT_THAT(deploy_of("api"), HasSubstr(daemon_update));
  EXPECT_THAT(deploy_of("mailer"), HasSubstr(daemon_update));
  EXPECT_THAT(deploy_of("db"),
              HasSubstr("      # Stop-first: start-first would run two PostgreSQL servers on one data directory.\n"
                        "      update_config: {parallelism: 1, order: \"stop-first\", failure_action: \"rollback\", "
                        "monitor: \"70s\"}\n      rollback_config: {parallelism: 1, order: \"stop-first\"}\n"));
  EXPECT_THAT(deploy_of("seed"),
              HasSubstr("      update_config: {parallelism: 1, order: \"stop-first\", failure_action: \"continue\"}\n"));
  EXPECT_EQ(deploy_of("seed").find("rollback_config"), std::string::npos);
  EXPECT_EQ(deploy_of("report").find("update_config"), std::string::npos);
  EXPECT_EQ(deploy_of("report").find("rollback_config"), std::string::npos);
  // The monitor period covers a task that passed its healthcheck and then fails every
  // probe to its timeout: 5 x (2 s + 10 s), and 10 s for its node to say so.
  const std::string compose = file(plan_deployment(shop(), {}), "docker-compose.yml").content;
  EXPECT_THAT(compose, HasSubstr("      interval: \"2s\"\n      timeout: \"10s\"\n      retries: 5\n"));
}

TEST(DeployPlan, TheStackKeepsLeastPrivilegeOnOverlayNetworksAndSwarmSecrets) {
  const std::string stack = file(plan_deployment(shop(), {}), "docker-stack.yml").content;
  EXPECT_THAT(stack, HasSubstr("  api:\n    driver: \"overlay\"\n    internal: true\n    attachable: true\n"));
  EXPECT_THAT(stack, HasSubstr("  db:\n    driver: \"overlay\"\n    internal: true\n    attachable: true\n"));
  // The worker reaches nothing: a network of its own instead of network_mode "none".
  EXPECT_THAT(stack, HasSubstr("    networks: [\"mailer-alone\"]\n"));
  // The API server: on its own network also listen.api, the address it listens on.
  EXPECT_THAT(stack, HasSubstr("    networks:\n      api: {aliases: [\"listen.api\"]}\n      db: {}\n"));
  // A secret readable by its service's user only.
  EXPECT_THAT(stack, ::testing::ContainsRegex("      - source: \"api--db.password\"\n        target: \"db.password\"\n"
                                              "        uid: \"[0-9]+\"\n        gid: \"[0-9]+\"\n        mode: 0400\n"));
  EXPECT_THAT(stack, ::testing::ContainsRegex("secrets:\n  \"db--db.password\":\n    file: \"./runtime-secrets/shop_db_[0-9a-f]{8}/db.password\"\n"));
}

TEST(DeployPlan, LongSwarmSecretNamesAreShortenedToLeaveRoomForTheStackName) {
  DeployInput in = shop();
  in.components[2].secrets = {"a-rather-long-database-password-name"};
  in.components[1].config =
      R"({"user":"snap","database":"snap","port":5432,"password_secret":"a-rather-long-database-password-name"})";
  const std::string stack = file(plan_deployment(in, {}), "docker-stack.yml").content;
  // "api--a-rather-long-database-password-name" is 41 characters: 31 kept, then a hash.
  EXPECT_THAT(stack, ::testing::ContainsRegex("      - source: \"api--a-rather-long-database-pas-[0-9a-f]{8}\"\n"
                                              "        target: \"a-rather-long-database-password-name\"\n"));
  EXPECT_THAT(stack, HasSubstr("      - source: \"db--a-rather-long-database-password-name\"\n"));  // 40: kept whole
}

TEST(DeployPlan, TheEndpointModeIsAnOptionAtBuildAndAtDeploy) {
  DeployOptions options;
  options.endpoint_mode = "vip";
  const std::string stack = file(plan_deployment(shop(), options), "docker-stack.yml").content;
  EXPECT_THAT(stack, HasSubstr("      endpoint_mode: \"${SNAP_ENDPOINT_MODE:-vip}\"\n"));
  EXPECT_EQ(stack.find("dnsrr"), std::string::npos);
  options.endpoint_mode = "round-robin";
  try {
    plan_deployment(shop(), options);
    FAIL() << "no DeployError";
  } catch (const DeployError& e) {
    EXPECT_THAT(e.what(), HasSubstr("endpoint mode \"round-robin\" is neither \"dnsrr\" nor \"vip\""));
  }
}

TEST(DeployPlan, ReplicasForAnythingButADaemonServiceAreRefused) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"nope", "replicas for \"nope\", which is no service of this app"},
      {"db", "the database shop.db runs one replica (its data is one volume); it cannot be given 2"},
      {"seed", "replicas for shop.seed, which is a job persona: only daemon personas scale"},
  };
  for (const auto& [service, message] : cases) {
    DeployOptions options;
    options.replicas = {{service, 2}};
    try {
      plan_deployment(shop(), options);
      ADD_FAILURE() << "no DeployError for " << service;
    } catch (const DeployError& e) {
      EXPECT_THAT(e.what(), HasSubstr(message));
    }
  }
}

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

// One runaway service must not take the host: every service, databases included, has a
// memory and a pids limit, by default and as the options say.
TEST(DeployPlan, EveryServiceHasAMemoryAndPidsLimitWhichTheOptionsChange) {
  const DeployPlan defaults = plan_deployment(shop(), {});
  const std::string compose = file(defaults, "docker-compose.yml").content;
  const std::string stack = file(defaults, "docker-stack.yml").content;
  EXPECT_EQ(count(compose, "    mem_limit: \"1g\"\n    pids_limit: 1024\n"), 5u) << compose;  // db, api, mailer, seed, report
  EXPECT_EQ(count(stack, "      resources:\n        limits: {memory: \"1g\", pids: 1024}\n"), 5u) << stack;
  EXPECT_THAT(stack, HasSubstr("version: \"3.9\"\n"));  // the first stack format with a pids limit

  DeployOptions options;
  options.memory_limit_bytes = std::uint64_t{256} << 20;
  options.pids_limit = 200;
  options.memory_limits_bytes = {{"db", std::uint64_t{3} << 30}, {"api", (std::uint64_t{64} << 20) + 512}};
  options.pids_limits = {{"db", 300}};
  const DeployPlan changed = plan_deployment(shop(), options);
  const std::string c = file(changed, "docker-compose.yml").content;
  EXPECT_THAT(c, HasSubstr("    init: true\n    mem_limit: \"3g\"\n    pids_limit: 300\n    secrets:\n      - source: \"db--"));
  EXPECT_THAT(c, HasSubstr("    mem_limit: \"67109376\"\n    pids_limit: 200\n    secrets:\n      - source: \"api--"));
  EXPECT_EQ(count(c, "    mem_limit: \"256m\"\n    pids_limit: 200\n"), 3u);  // mailer, seed, report
  const std::string st = file(changed, "docker-stack.yml").content;
  EXPECT_THAT(st, HasSubstr("        limits: {memory: \"3g\", pids: 300}\n"));
  EXPECT_EQ(count(st, "        limits: {memory: \"256m\", pids: 200}\n"), 3u);

  const std::vector<std::pair<std::function<void(DeployOptions&)>, std::string>> refused{
      {[](DeployOptions& o) { o.memory_limits_bytes = {{"nope", 1u << 30}}; },
       "a memory limit for \"nope\", which is no service of this app"},
      {[](DeployOptions& o) { o.pids_limits = {{"nope", 10}}; }, "a pids limit for \"nope\", which is no service of this app"},
      {[](DeployOptions& o) { o.memory_limit_bytes = 1u << 20; },
       "the memory limit of every service (1048576 bytes) is below Docker's minimum of 6 MiB"},
      {[](DeployOptions& o) { o.memory_limits_bytes = {{"api", 5u << 20}}; },
       "the memory limit of api (5242880 bytes) is below Docker's minimum of 6 MiB"},
      {[](DeployOptions& o) { o.pids_limits = {{"seed", 0}}; }, "the pids limit of seed is 0: no process could start"},
  };
  for (const auto& [set, message] : refused) {
    DeployOptions bad;
    set(bad);
    try {
      plan_deployment(shop(), bad);
      ADD_FAILURE() << "no DeployError: " << message;
    } catch (const DeployError& e) {
      EXPECT_THAT(e.what(), HasSubstr(message));
    }
  }
}

// A job runs once per build: the compose file gives it a volume of its own (owned by its
// user through the image's directory) where the binary records a completed run, and
// bin/JOB runs it again.
TEST(DeployPlan, AJobRecordsItsRunsInAVolumeOfItsOwnAndBinJobRunsItAgain) {
  const DeployPlan plan = plan_deployment(shop(), {});
  const std::string compose = file(plan, "docker-compose.yml").content;
  EXPECT_THAT(compose, HasSubstr("    environment:\n      SNAP_JOB_RUNS: \"/var/lib/snap/jobs/seed\"\n"
                                 "    volumes:\n      - \"seed-runs:/var/lib/snap/jobs/seed\"\n    user: \"47564:47564\"\n"));
  EXPECT_THAT(compose, HasSubstr("volumes:\n  db-data: {}\n  api-episodes: {}\n  seed-runs: {}\n"));
  EXPECT_EQ(count(compose, "SNAP_JOB_RUNS"), 1u);  // jobs only
  EXPECT_THAT(file(plan, "Dockerfile").content,
              HasSubstr("COPY --chown=47564:47564 image/jobs/seed/ /var/lib/snap/jobs/seed/\n"));
  EXPECT_EQ(plan.directories, (std::vector<std::string>{"image/episodes/api", "image/jobs/seed"}));
  EXPECT_TRUE(file(plan, "bin/seed").executable);
  EXPECT_THAT(file(plan, "bin/seed").content, HasSubstr(" run --rm $tty seed --again 'shop.seed' \"$@\"\n"));
  // A swarm service runs its task once per spec already: no record there.
  EXPECT_EQ(file(plan, "docker-stack.yml").content.find("SNAP_JOB_RUNS"), std::string::npos);
}

// An upgrade (`up -d` of a new build) stops every API server: Docker waits for the
// server's own stop deadline, which answers the calls in flight, and 5 s more before it
// kills it -- 10 s and 5 when the config does not record the deadline. Nothing else gets it.
TEST(DeployPlan, AnApiServerIsGivenItsStopDeadlineAndFiveSecondsToStop) {
  EXPECT_EQ(count(file(plan_deployment(shop(), {}), "docker-compose.yml").content, "    stop_grace_period: \"15s\"\n"),
            1u);
  DeployInput in = shop();
  for (DeployComponent& c : in.components) {
    if (c.id == "shop.api") c.config = R"({"port":35000,"limits":{"stop_deadline_ms":29500}})";
  }
  const std::string compose = file(plan_deployment(in, {}), "docker-compose.yml").content;
  EXPECT_THAT(compose, HasSubstr("      start_period: \"60s\"\n"
                                 "    # Its stop deadline (the calls in flight) and 5 s: an upgrade does not kill it "
                                 "mid-answer.\n    stop_grace_period: \"35s\"\n"));
  EXPECT_EQ(count(compose, "stop_grace_period"), 1u);
}

// bin/NAME against a stand-in `docker` that lists the given running containers (project and
// working directory, as `docker ps --format` prints them) and a `docker-compose` that
// records how it was called.
struct ScriptRun {
  int status = -1;
  std::string err;
  std::string compose_args;  // empty: docker-compose was not run
};

ScriptRun run_script(const std::string& script, const std::string& running, const std::string& project_variable = "") {
  const fs::path dir = fs::temp_directory_path() / ("snap-deploy-script-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const fs::path out = dir / "build";
  const fs::path fake = dir / "fake-bin";
  fs::create_directories(out / "bin");
  fs::create_directories(fake);
  const DeployPlan plan = plan_deployment(shop(), {});
  std::ofstream(out / script) << file(plan, script).content;
  std::ofstream(dir / "running") << replace_dir(running, out.string());
  std::ofstream(fake / "docker") << "#!/bin/sh\n[ \"$1\" = ps ] || exit 99\necho \"$@\" > '" << (dir / "docker-args").string()
                                 << "'\ncat '" << (dir / "running").string() << "'\n";
  std::ofstream(fake / "docker-compose") << "#!/bin/sh\necho \"$@\" > '" << (dir / "compose-args").string() << "'\n";
  fs::permissions(fake / "docker", fs::perms::owner_all);
  fs::permissions(fake / "docker-compose", fs::perms::owner_all);
  const std::string command = "cd '" + dir.string() + "' && env -u COMPOSE_PROJECT_NAME " +
                              (project_variable.empty() ? "" : "COMPOSE_PROJECT_NAME=" + project_variable + " ") + "PATH='" +
                              fake.string() + ":/usr/bin:/bin' sh build/" + script + " 7 </dev/null 2>err";
  const int status = std::system(command.c_str());
  ScriptRun run;
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.err = read_file(dir / "err");
  run.compose_args = read_file(dir / "compose-args");
  const std::string docker_args = read_file(dir / "docker-args");
  EXPECT_THAT(docker_args, HasSubstr("ps --filter label=snap.app=shop --filter label=com.docker.compose.oneoff=False"));
  fs::remove_all(dir);
  return run;
}

TEST(DeployPlan, TheCommandScriptRunsAgainstTheOneDeploymentOfItsDirectoryOrRefusesSayingHowToNameOne) {
  const std::string here = (fs::canonical(fs::temp_directory_path()) / ("snap-deploy-script-" + std::to_string(::getpid())) / "build").string();
  // One deployment from this directory (two containers), another elsewhere: that one.
  ScriptRun one = run_script("bin/report", "shop1 DIR\nshop1 DIR\nother /elsewhere\n");
  EXPECT_EQ(one.status, 0) << one.err;
  EXPECT_EQ(one.compose_args, "-p shop1 -f " + here + "/docker-compose.yml run --rm -T report shop.report 7\n");
  // None running at all: refused (never `docker-compose run`, which would start a new,
  // empty deployment), saying how to start and name one.
  ScriptRun none = run_script("bin/report", "");
  EXPECT_EQ(none.status, 69);
  EXPECT_EQ(none.compose_args, "");
  EXPECT_THAT(none.err, HasSubstr("no deployment of shop from " + here + " is running"));
  EXPECT_THAT(none.err, HasSubstr("start it first: docker-compose -p NAME -f " + here +
                                  "/docker-compose.yml up -d, then COMPOSE_PROJECT_NAME=NAME build/bin/report ..."));
  // Only one from another directory: not taken silently; named in the refusal.
  ScriptRun elsewhere = run_script("bin/report", "other /elsewhere\n");
  EXPECT_EQ(elsewhere.status, 69);
  EXPECT_EQ(elsewhere.compose_args, "");
  EXPECT_THAT(elsewhere.err, HasSubstr("COMPOSE_PROJECT_NAME=other build/bin/report ...   (running from /elsewhere)"));
  // Two from this directory: which one is the user's to say.
  ScriptRun several = run_script("bin/report", "shop1 DIR\nshop2 DIR\n");
  EXPECT_EQ(several.status, 64);
  EXPECT_EQ(several.compose_args, "");
  EXPECT_THAT(several.err, HasSubstr("several deployments of shop from " + here + " are running (shop1 shop2)"));
  EXPECT_THAT(several.err, HasSubstr("COMPOSE_PROJECT_NAME=shop2 build/bin/report ..."));
  // $COMPOSE_PROJECT_NAME names a running one, from anywhere; a name that runs nothing is refused.
  ScriptRun named = run_script("bin/report", "shop1 DIR\nother /elsewhere\n", "other");
  EXPECT_EQ(named.status, 0) << named.err;
  EXPECT_THAT(named.compose_args, ::testing::StartsWith("-p other -f "));
  ScriptRun typo = run_script("bin/report", "shop1 DIR\n", "shpo1");
  EXPECT_EQ(typo.status, 69);
  EXPECT_EQ(typo.compose_args, "");
  EXPECT_THAT(typo.err, HasSubstr("no deployment of shop named shpo1 ($COMPOSE_PROJECT_NAME) is running"));
  // A job's script finds its deployment the same way and runs the job again.
  ScriptRun job = run_script("bin/seed", "shop1 DIR\n");
  EXPECT_EQ(job.status, 0) << job.err;
  EXPECT_EQ(job.compose_args, "-p shop1 -f " + here + "/docker-compose.yml run --rm -T seed --again shop.seed 7\n");
}

// ---- build --record-requests ----

DeployOptions recording(const std::string& policy) {
  DeployOptions options;
  options.record_requests = policy;
  return options;
}

// Each API server (and nothing else) records into a volume of its own that its user owns,
// with the build's policy unless the container is told otherwise; bin/episodes and
// bin/stack/episodes get them out.
TEST(DeployPlanEpisodes, EachApiServerRecordsErrorsByDefaultIntoAVolumeOfItsOwn) {
  const DeployPlan plan = plan_deployment(shop(), {});
  const std::string compose = file(plan, "docker-compose.yml").content;
  EXPECT_THAT(compose, HasSubstr("    environment:\n"
                                 "      SNAP_RECORD_REQUESTS: \"${SNAP_RECORD_REQUESTS_API:-errors}\"\n"
                                 "      SNAP_EPISODES: \"/var/lib/snap/episodes/api\"\n"
                                 "      SNAP_EPISODES_MAX_BYTES: \"${SNAP_EPISODES_MAX_BYTES_API:-256m}\"\n"
                                 "      SNAP_VERSION_SKEW: \"${SNAP_VERSION_SKEW_API:-warn}\"\n"
                                 "    volumes:\n      - \"api-episodes:/var/lib/snap/episodes/api\"\n"
                                 "    user: \"54567:54567\"\n"));
  EXPECT_EQ(count(compose, "SNAP_RECORD_REQUESTS:"), 1u);  // the API server only: not the worker
  EXPECT_THAT(file(plan, "Dockerfile").content,
              HasSubstr("COPY --chown=54567:54567 image/episodes/api/ /var/lib/snap/episodes/api/\n"));
  EXPECT_THAT(plan.directories, ::testing::Contains("image/episodes/api"));
  const std::string stack = file(plan, "docker-stack.yml").content;
  EXPECT_THAT(stack, HasSubstr("      SNAP_RECORD_REQUESTS: \"${SNAP_RECORD_REQUESTS_API:-errors}\"\n"
                               "      SNAP_EPISODES: \"/var/lib/snap/episodes/api\"\n"));
  EXPECT_THAT(stack, HasSubstr("    volumes:\n      - \"api-episodes:/var/lib/snap/episodes/api\"\n"
                               "      - {type: \"tmpfs\", target: \"/tmp\"}\n"));
  EXPECT_THAT(stack, HasSubstr("volumes:\n  db-data: {}\n  api-episodes: {}\n"));
  EXPECT_TRUE(file(plan, "bin/episodes").executable);
  EXPECT_TRUE(file(plan, "bin/stack/episodes").executable);
}

TEST(DeployPlanEpisodes, APolicyIsWrittenAsItsCanonicalTextAndOffAddsNothing) {
  EXPECT_THAT(file(plan_deployment(shop(), recording("5%")), "docker-compose.yml").content,
              HasSubstr("SNAP_RECORD_REQUESTS: \"${SNAP_RECORD_REQUESTS_API:-5%}\"\n"));
  EXPECT_THAT(file(plan_deployment(shop(), recording("100%")), "docker-stack.yml").content,
              HasSubstr("SNAP_RECORD_REQUESTS: \"${SNAP_RECORD_REQUESTS_API:-all}\"\n"));
  const DeployPlan off = plan_deployment(shop(), recording("off"));
  for (const DeployFile& f : off.files) {
    EXPECT_EQ(f.content.find("episodes"), std::string::npos) << f.path;
    EXPECT_EQ(f.content.find("SNAP_RECORD_REQUESTS"), std::string::npos) << f.path;
  }
  EXPECT_EQ(off.directories, std::vector<std::string>{"image/jobs/seed"});
}

TEST(DeployPlanEpisodes, AnUnknownPolicyIsADeployErrorNamingTheFlag) {
  try {
    plan_deployment(shop(), recording("sometimes"));
    FAIL() << "no DeployError";
  } catch (const DeployError& e) {
    EXPECT_THAT(e.what(), HasSubstr("deploy: --record-requests: the recording policy is off, errors, all or N%"));
    EXPECT_THAT(e.what(), HasSubstr("not \"sometimes\""));
  }
}

// bin/episodes is the script's; a command of that name would be overwritten by it.
TEST(DeployPlanEpisodes, ACommandNamedLikeTheScriptIsRefusedUnlessNothingIsRecorded) {
  DeployInput in = shop();
  in.components.push_back({"shop.episodes", "Persona", "command", "{}", {"shop.api"}, {}});
  try {
    plan_deployment(in, {});
    FAIL() << "no DeployError";
  } catch (const DeployError& e) {
    EXPECT_THAT(e.what(), HasSubstr("deploy: shop.episodes would be the script bin/episodes, which lists and fetches "
                                    "the recorded requests; rename it, or build with --record-requests off"));
  }
  EXPECT_NO_THROW(plan_deployment(in, recording("off")));
}

// bin/episodes against stand-ins: `docker` (ps lists the running deployments, cp copies a
// container's volume from VOLUMES/CONTAINER), `docker-compose` (ps -q SERVICE lists
// CONTAINERS/SERVICE) and the build's binary (`episodes DIR`: its files, --failed those
// named *-failed*, --id a prefix of the name; --paths their paths, else a line each).
struct EpisodesRun {
  int status = -1;
  std::string out, err;
  std::string docker_args;  // every call, one a line
  std::vector<std::string> fetched;  // file names in the directory fetched into
};

EpisodesRun run_episodes(const std::string& args, const std::string& running,
                         const std::map<std::string, std::vector<std::string>>& volumes, const std::string& into = "") {
  const fs::path dir = fs::temp_directory_path() / ("snap-deploy-episodes-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const fs::path out = dir / "build";
  const fs::path fake = dir / "fake-bin";
  fs::create_directories(out / "bin");
  fs::create_directories(out / "app");
  fs::create_directories(fake);
  fs::create_directories(dir / "containers");
  std::ofstream(out / "bin/episodes") << file(plan_deployment(shop(), {}), "bin/episodes").content;
  std::ofstream(dir / "running") << replace_dir(running, out.string());
  for (const auto& [container, files] : volumes) {
    std::ofstream(dir / "containers" / "api", std::ios::app) << container << "\n";
    fs::create_directories(dir / "volumes" / container);
    for (const std::string& name : files) std::ofstream(dir / "volumes" / container / name) << container;
  }
  std::ofstream(fake / "docker") << "#!/bin/sh\necho \"$@\" >> '" << (dir / "docker-args").string()
                                 << "'\ncase $1 in\n"
                                    "  ps) cat '" << (dir / "running").string() << "' ;;\n"
                                    "  cp) c=${2%%:*}; cp '" << (dir / "volumes").string() << "'/$c/* \"$3\" 2>/dev/null; exit 0 ;;\n"
                                    "  *) exit 99 ;;\nesac\n";
  std::ofstream(fake / "docker-compose") << "#!/bin/sh\nfor last; do :; done\ncat '" << (dir / "containers").string()
                                         << "'/\"$last\" 2>/dev/null\nexit 0\n";
  std::ofstream(out / "app/shop") << "#!/bin/sh\n[ \"$1\" = episodes ] || exit 99\nfrom=$2\nshift 2\n"
                                     "paths= failed= id=\n"
                                     "while [ $# -gt 0 ]; do case $1 in --paths) paths=1 ;; --failed) failed=1 ;;"
                                     " --id) id=$2; shift ;; --since) shift ;; esac; shift; done\n"
                                     "for f in \"$from\"/*.episode; do\n"
                                     "  name=${f##*/}\n"
                                     "  [ -z \"$failed\" ] || case $name in *-failed*) ;; *) continue ;; esac\n"
                                     "  case $name in \"$id\"*) ;; *) continue ;; esac\n"
                                     "  if [ -n \"$paths\" ]; then echo \"$f\"; else echo \"listed $name\"; fi\n"
                                     "done\n";
  for (const fs::path& p : {fake / "docker", fake / "docker-compose", out / "app/shop"}) fs::permissions(p, fs::perms::owner_all);
  const std::string command = "cd '" + dir.string() + "' && env -u COMPOSE_PROJECT_NAME PATH='" + fake.string() +
                              ":/usr/bin:/bin' TMPDIR='" + dir.string() + "' sh build/bin/episodes " + args +
                              " </dev/null >stdout 2>stderr";
  const int status = std::system(command.c_str());
  EpisodesRun run;
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out = read_file(dir / "stdout");
  run.err = read_file(dir / "stderr");
  run.docker_args = read_file(dir / "docker-args");
  const fs::path fetched = into.empty() ? out / "episodes" : dir / into;
  if (fs::exists(fetched)) {
    for (const auto& entry : fs::directory_iterator(fetched)) run.fetched.push_back(entry.path().filename().string());
  }
  std::sort(run.fetched.begin(), run.fetched.end());
  // The temporary directory it copied into is gone.
  for (const auto& entry : fs::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename().string().rfind("shop-episodes.", 0), std::string::npos) << "left behind";
  }
  fs::remove_all(dir);
  return run;
}

TEST(DeployPlanEpisodes, TheScriptRefusesAMistakeInItsArgumentsBeforeAskingDocker) {
  for (const std::string args : {"", "show", "list --bogus", "list extra", "fetch", "fetch --since", "fetch a b c",
                                 "list --id ''"}) {
    const EpisodesRun run = run_episodes(args, "shop1 DIR\n", {});
    EXPECT_EQ(run.status, 64) << args << ": " << run.err;
    EXPECT_THAT(run.err, HasSubstr("usage: build/bin/episodes list [--failed] [--since TIME] [--id ID]")) << args;
    EXPECT_EQ(run.docker_args, "") << args;
  }
}

TEST(DeployPlanEpisodes, TheScriptSaysWhenThereIsNothingToReadOrNothingMatches) {
  // No deployment: refused as bin/NAME refuses.
  EpisodesRun none = run_episodes("list", "", {});
  EXPECT_EQ(none.status, 69);
  EXPECT_THAT(none.err, HasSubstr("no deployment of shop from "));
  // A deployment without a container of the API server.
  EpisodesRun no_server = run_episodes("list", "shop1 DIR\n", {});
  EXPECT_EQ(no_server.status, 1);
  EXPECT_THAT(no_server.err, HasSubstr("no container of api in the deployment shop1: nothing to read recorded requests from"));
  // Nothing recorded yet: an empty list, but nothing to fetch.
  EpisodesRun empty_list = run_episodes("list", "shop1 DIR\n", {{"c1", {}}});
  EXPECT_EQ(empty_list.status, 0) << empty_list.err;
  EXPECT_THAT(empty_list.err, HasSubstr("no request recorded yet (in 1 container(s) of api)"));
  EpisodesRun empty_fetch = run_episodes("fetch --failed", "shop1 DIR\n", {{"c1", {}}});
  EXPECT_EQ(empty_fetch.status, 1);
  // Episodes, none of them the one asked for.
  EpisodesRun unmatched = run_episodes("fetch 2027", "shop1 DIR\n", {{"c1", {"2026-a-ok.episode"}}});
  EXPECT_EQ(unmatched.status, 1);
  EXPECT_THAT(unmatched.err, HasSubstr("no recorded request matches"));
  EXPECT_TRUE(unmatched.fetched.empty());
}

TEST(DeployPlanEpisodes, TheScriptListsAndFetchesFromEveryContainerOfTheServer) {
  const std::map<std::string, std::vector<std::string>> volumes{
      {"c1", {"2026-1-ok.episode", "2026-2-failed.episode", "2026-2-failed.episode.partial"}},
      {"c2", {"2026-3-failed.episode"}}};
  EpisodesRun list = run_episodes("list --failed", "shop1 DIR\n", volumes);
  EXPECT_EQ(list.status, 0) << list.err;
  EXPECT_EQ(list.out, "listed 2026-2-failed.episode\nlisted 2026-3-failed.episode\n");
  EXPECT_THAT(list.docker_args, HasSubstr("cp c1:/var/lib/snap/episodes/api/. "));
  EXPECT_THAT(list.docker_args, HasSubstr("cp c2:/var/lib/snap/episodes/api/. "));
  // Into the build's episodes/ (where `APP replay` finds the build's log two levels up).
  EpisodesRun failed = run_episodes("fetch --failed", "shop1 DIR\n", volumes);
  EXPECT_EQ(failed.status, 0) << failed.err;
  EXPECT_EQ(failed.fetched, (std::vector<std::string>{"2026-2-failed.episode", "2026-3-failed.episode"}));
  EXPECT_THAT(failed.out, HasSubstr("/build/episodes/2026-2-failed.episode\n"));
  EXPECT_THAT(failed.err, HasSubstr("fetched 2 episode(s) into "));
  EXPECT_THAT(failed.err, HasSubstr("/build/app/shop replay "));
  // One by its id, into a directory of the user's.
  EpisodesRun one = run_episodes("fetch 2026-1 mine", "shop1 DIR\n", volumes, "mine");
  EXPECT_EQ(one.status, 0) << one.err;
  EXPECT_EQ(one.fetched, std::vector<std::string>{"2026-1-ok.episode"}) << one.out << one.err;
}

TEST(DeployPlan, DockerStackConfigAcceptsTheGoldenFile) {
  if (std::system("docker stack config --help > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "this docker CLI has no `docker stack config`";
  }
  const std::string dir = std::string(SNAP_DEPLOY_GOLDEN_DIR) + "/shop";
  EXPECT_EQ(std::system(("docker stack config -c " + dir + "/docker-stack.yml > /dev/null").c_str()), 0);
  // The deploy-time variables give the values they name.
  const std::string config = "SNAP_REPLICAS_API=2 SNAP_ENDPOINT_MODE=vip docker stack config -c " + dir + "/docker-stack.yml";
  EXPECT_EQ(std::system((config + " | grep -q '^      replicas: 2$'").c_str()), 0);
  EXPECT_EQ(std::system((config + " | grep -q '^      endpoint_mode: vip$'").c_str()), 0);
  // Swarm reads the update and rollback settings as written (a monitor of 1m10s).
  EXPECT_EQ(std::system((config + " | grep -A5 '^      update_config:$' | grep -q '^        order: start-first$'").c_str()), 0);
  EXPECT_EQ(std::system((config + " | grep -A5 '^      update_config:$' | grep -q '^        monitor: 1m10s$'").c_str()), 0);
  EXPECT_EQ(std::system((config + " | grep -A3 '^      rollback_config:$' | grep -q '^        order: stop-first$'").c_str()), 0);
}


// ---- build --observability ----

DeployOptions observability() {
  DeployOptions options;
  options.observability = true;
  return options;
}

TEST(DeployPlanObservability, GeneratedFilesMatchTheGoldenFiles) {
  const DeployPlan plan = plan_deployment(shop(), observability());
  for (const std::string path : {"docker-compose.yml", "docker-stack.yml", "observability/jaeger.yaml",
                                 "observability/prometheus.yml", "bin/stack/report"}) {
    expect_golden("shop-observability/" + path, file(plan, path).content);
  }
  // Off, nothing of it is there.
  const DeployPlan plain = plan_deployment(shop(), {});
  for (const DeployFile& f : plain.files) {
    EXPECT_EQ(f.path.rfind("observability/", 0), std::string::npos) << f.path;
    EXPECT_EQ(f.content.find("OTEL_"), std::string::npos) << f.path;
    EXPECT_EQ(f.content.find("jaeger"), std::string::npos) << f.path;
  }
}

// Every app service reaches Jaeger, Prometheus reaches each API server; nothing else is added.
TEST(DeployPlanObservability, JaegerIsReachedByEveryAppServiceAndPrometheusReachesEachApiServer) {
  const DeployPlan plan = plan_deployment(shop(), observability());
  EXPECT_EQ(plan.reaches, (std::vector<std::pair<std::string, std::vector<std::string>>>{
                              {"db", {}},
                              {"api", {"db", "jaeger"}},
                              {"mailer", {"jaeger"}},
                              {"seed", {"api", "jaeger"}},
                              {"report", {"api", "jaeger"}},
                              {"jaeger", {}},
                              {"prometheus", {"api"}}}));
  const std::string compose = file(plan, "docker-compose.yml").content;
  // The API server: its callers' network, its database's, telemetry, and a metrics network
  // of its own where its address is metrics.api.
  EXPECT_THAT(compose, HasSubstr("    networks:\n      api: {aliases: [\"listen.api\"]}\n      api-metrics: {aliases: "
                                 "[\"metrics.api\"]}\n      db: {}\n      telemetry: {}\n"));
  EXPECT_THAT(compose, HasSubstr("      OTEL_EXPORTER_OTLP_ENDPOINT: \"http://jaeger:4318\"\n"
                                 "      SNAP_METRICS_HOST: \"metrics.api\"\n"));
  // The worker reached nothing; now it reaches Jaeger only.
  EXPECT_THAT(compose, HasSubstr("  mailer:\n"));
  EXPECT_EQ(compose.find("network_mode: \"none\""), std::string::npos);
  EXPECT_THAT(compose, HasSubstr("  telemetry:\n    internal: true\n"));
  EXPECT_THAT(compose, HasSubstr("  api-metrics:\n    internal: true\n"));
  // The database exports nothing and joins none of it.
  const std::string db = compose.substr(compose.find("\n  db:\n"), compose.find("\n  api:\n") - compose.find("\n  db:\n"));
  EXPECT_EQ(db.find("telemetry"), std::string::npos) << db;
  EXPECT_EQ(db.find("OTEL_"), std::string::npos) << db;
  // Prometheus scrapes every replica of the server by name, at its port.
  EXPECT_THAT(file(plan, "observability/prometheus.yml").content,
              HasSubstr("  - job_name: \"api\"\n    metrics_path: \"/metrics\"\n    dns_sd_configs:\n"
                        "      - names: [\"metrics.api\"]\n        type: \"A\"\n        port: 35000\n"));
}

TEST(DeployPlanObservability, TheImagesAndPublishedPortsAreVariables) {
  DeployOptions options = observability();
  options.jaeger_image = "example/jaeger:1";
  const std::string compose = file(plan_deployment(shop(), options), "docker-compose.yml").content;
  EXPECT_THAT(compose, HasSubstr("    image: \"${SNAP_JAEGER_IMAGE:-example/jaeger:1}\"\n"));
  EXPECT_THAT(compose, HasSubstr("    image: \"${SNAP_PROMETHEUS_IMAGE:-prom/prometheus:v2.42.0}\"\n"));
  EXPECT_THAT(compose, HasSubstr("      - \"127.0.0.1:${SNAP_JAEGER_PORT-16686}:16686\"\n"));
  EXPECT_THAT(compose, HasSubstr("      - \"127.0.0.1:${SNAP_PROMETHEUS_PORT-9090}:9090\"\n"));
}

// A swarm config cannot change in place: its name carries its content's hash, so a
// build whose servers changed gives a new config, which a redeploy accepts.
TEST(DeployPlanObservability, AStackConfigIsNamedAfterItsContent) {
  const std::string before = file(plan_deployment(shop(), observability()), "docker-stack.yml").content;
  DeployInput more = shop();
  more.components.push_back({"shop.admin", "ApiServer", "daemon", R"({"port":35001})", {}, {}});
  const std::string after = file(plan_deployment(more, observability()), "docker-stack.yml").content;
  const auto config_name = [](const std::string& stack) {
    const auto at = stack.find("\"prometheus-config-");
    return stack.substr(at, stack.find('"', at + 1) - at);
  };
  EXPECT_NE(config_name(before), config_name(after));
  EXPECT_THAT(after, HasSubstr("      admin-metrics: {}\n"));
}

TEST(DeployPlanObservability, AServiceNamedLikeAnObservabilityServiceIsRefused) {
  for (const std::string name : {"jaeger", "prometheus", "telemetry", "jaeger-ui", "prometheus-ui", "shop-metrics"}) {
    DeployInput in = shop();
    in.components.push_back({"shop." + name, "Persona", "job", "{}", {}, {}});
    try {
      plan_deployment(in, observability());
      ADD_FAILURE() << name << " was accepted";
    } catch (const DeployError& e) {
      EXPECT_THAT(e.what(), HasSubstr("shop." + name + " would be the service \"" + name + "\"")) << e.what();
      EXPECT_THAT(e.what(), HasSubstr("--observability")) << e.what();
    }
    EXPECT_NO_THROW(plan_deployment(in, {})) << name;  // without it, the name is free
  }
}

TEST(DeployPlanObservability, DockerComposeAcceptsTheGoldenFile) {
  if (std::system("docker-compose version --short > /dev/null 2>&1") != 0) GTEST_SKIP() << "docker-compose is not installed";
  const std::string dir = std::string(SNAP_DEPLOY_GOLDEN_DIR) + "/shop-observability";
  EXPECT_EQ(std::system(("docker-compose -p snapgoldenobs -f " + dir + "/docker-compose.yml config -q").c_str()), 0);
}

TEST(DeployPlanObservability, DockerStackConfigAcceptsTheGoldenFile) {
  if (std::system("docker stack config --help > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "this docker CLI has no `docker stack config`";
  }
  const std::string dir = std::string(SNAP_DEPLOY_GOLDEN_DIR) + "/shop-observability";
  EXPECT_EQ(std::system(("docker stack config -c " + dir + "/docker-stack.yml > /dev/null").c_str()), 0);
}

// ApiServer::publish(8080) in the program is `build --publish api=8080`: the same files.
// The flag, given too, overrides the program's port for that server.
DeployInput shop_publishing(unsigned port) {
  DeployInput in = shop();
  for (DeployComponent& c : in.components) {
    if (c.id == "shop.api") c.config = R"({"port":35000,"publish":)" + std::to_string(port) + "}";
  }
  return in;
}

void expect_same_files(const DeployPlan& a, const DeployPlan& b) {
  ASSERT_EQ(a.files.size(), b.files.size());
  for (std::size_t i = 0; i < a.files.size(); ++i) {
    EXPECT_EQ(a.files[i].path, b.files[i].path);
    EXPECT_EQ(a.files[i].content, b.files[i].content) << a.files[i].path;
  }
}

TEST(DeployPlan, PublishInTheProgramGivesTheFilesOfThePublishFlag) {
  DeployOptions flag;
  flag.published = {{"api", 8080}};
  const DeployPlan by_flag = plan_deployment(shop(), flag);
  const DeployPlan in_code = plan_deployment(shop_publishing(8080), {});
  expect_same_files(in_code, by_flag);
  EXPECT_THAT(file(in_code, "docker-compose.yml").content,
              HasSubstr("    ports:\n      - \"${SNAP_PUBLISH_API:-8080}:35000\"\n"));
  EXPECT_THAT(file(in_code, "docker-stack.yml").content,
              HasSubstr("      - {target: 35000, published: ${SNAP_PUBLISH_API:-8080}, protocol: \"tcp\", mode: \"host\"}\n"));
}

TEST(DeployPlan, ThePublishFlagOverridesTheProgramsPort) {
  DeployOptions flag;
  flag.published = {{"api", 9090}};
  expect_same_files(plan_deployment(shop_publishing(8080), flag), plan_deployment(shop(), flag));
}

TEST(DeployPlan, APublishedPortOutOfRangeInAManifestIsADeployError) {
  try {
    plan_deployment(shop_publishing(70000), {});
    FAIL() << "port 70000 published";
  } catch (const DeployError& e) {
    EXPECT_STREQ(e.what(), "deploy: shop.api publishes 70000: a port is from 1 to 65535");
  }
}

}  // namespace
}  // namespace snap
