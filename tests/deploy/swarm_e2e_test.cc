// End to end on a single-node Docker Swarm: the customer example's generated
// docker-stack.yml, deployed with `docker stack deploy`, with its API server at 2
// replicas (endpoint mode dnsrr: the service name resolves to both). The client job
// posts a customer through the API server into PostgreSQL and reads it back; with one API
// replica's container killed, the client run again still succeeds (its typed client tries
// the other address); each container reaches exactly what its persona's `uses` allow; no
// secret value is anywhere it should not be.
//
// The swarm, and the removal of the stack, its secrets, networks and volume and the images
// whether the tests pass or not: swarm_support.h. Images are built locally (nothing pulled)
// and named after one unique tag. Skipped, with the reason, where no Docker engine answers
// or no swarm can be had.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "swarm_support.h"

namespace snap {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::ProcessResult;
using Clock = std::chrono::steady_clock;
using e2e::lines;
using e2e::must;
using e2e::poll_until;
using e2e::read_file;
using e2e::trim;

constexpr const char* kApi = "customer-server-api";
constexpr const char* kDb = "customer-server-db";
constexpr const char* kClient = "example-client";

// One stack shared by every test below (images and the stack take a while to start).
struct Stack : e2e::SwarmWork {
  double deploy_seconds = 0;  // `docker stack deploy` to the client's record read back
};

Stack* stack = nullptr;

class SwarmEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack = new Stack;
    Stack& s = *stack;
    if (!s.enter_swarm()) return;

    std::random_device random;
    // Short: a swarm secret's name (STACK_KEY) has at most 64 characters.
    const std::string unique = std::to_string(::getpid() % 100000) + "x" + std::to_string(random() % 10000);
    s.stack = "snapsw" + unique;
    s.env["SNAP_REPLICAS_CUSTOMER_SERVER_API"] = "2";
    // The same images as the compose test.
    s.build_customer_and_images(unique, "snaptest-swarm", "snaptest-swarm-postgres", "snap-swarm");

    const auto start = Clock::now();
    s.deploy_stack();
    // Swarm starts everything at once: the client job retries until the server answers.
    const bool complete = poll_until(std::chrono::seconds(180), [&] {
      const std::vector<std::string> states = s.task_states(kClient);
      return !states.empty() && states.front().rfind("Complete", 0) == 0;
    });
    if (!complete) {
      throw std::runtime_error("the client job did not complete within 180 s: " + s.docker({"stack", "ps", "--no-trunc", s.stack}).out);
    }
    s.deploy_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::cout << "[ FIGURE   ] docker stack deploy to the client's record read back: " << s.deploy_seconds << " s\n";
    const bool replicas = poll_until(std::chrono::seconds(120), [&] { return s.containers_of(kApi).size() == 2; });
    if (!replicas) throw std::runtime_error("the API server did not reach 2 running replicas");
  }

  static void TearDownTestSuite() {
    stack->remove_all();
    delete stack;
    stack = nullptr;
  }

  void SetUp() override {
    if (!stack->available) GTEST_SKIP() << stack->skip_reason;
  }

  static Stack& s() { return *stack; }

  // The client job run once more, now, as its own container on the API server's network
  // (it has no secrets), as a user would run a command against the stack.
  static ProcessResult run_client() {
    return s().docker({"run", "--rm", "--network", s().network(kApi), s().app_probe_image, "customer.example-client"}, 120);
  }

  static std::string select_customers() {
    const std::vector<std::string> db = s().containers_of(kDb);
    if (db.size() != 1) return "database containers: " + std::to_string(db.size());
    const ProcessResult r = s().docker({"exec", db.front(), "psql", "-h", "/var/run/postgresql", "-U", "snap", "-d", "snap",
                                        "-tAc", "SELECT key || ' ' || value::text FROM customer_customer_server_customers_0741b80c"},
                                       60);
    return trim(r.out) + trim(r.err);
  }
};

TEST_F(SwarmEndToEnd, TheClientJobReadsTheCustomerBackThroughTheApiServerFromPostgres) {
  const ProcessResult logs = s().docker({"service", "logs", "--raw", s().service(kClient)}, 60);
  EXPECT_THAT(logs.out + logs.err, HasSubstr(R"(Loaded customer: {"id":"1","name":"John Doe"})"));
  EXPECT_EQ(select_customers(), R"(1 {"id": "1", "name": "John Doe"})");
  EXPECT_EQ(s().containers_of(kApi).size(), 2u);
  EXPECT_EQ(s().containers_of(kDb).size(), 1u);
  for (const char* service : {kApi, kDb, kClient}) {  // the build's default limits
    EXPECT_EQ(trim(s().docker({"service", "inspect", "-f",
                               "{{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}} {{.Spec.TaskTemplate.Resources.Limits.Pids}}",
                               s().service(service)}).out),
              "1073741824 1024")
        << service;
  }
}

// The command persona on a swarm: the build's bin/stack/get-customer runs it once as a
// swarm job (its networks and secrets, as its service in the stack file), prints its
// output and exits with its status, and removes the job.
TEST_F(SwarmEndToEnd, TheStackCommandScriptRunsTheCommandAsAJobAgainstTheStack) {
  const std::string script = (s().out / "bin/stack/get-customer").string();
  const ProcessResult found = s().run({script, s().stack, "1"}, 180);
  EXPECT_EQ(found.exit_code, 0) << found.out << found.err;
  EXPECT_THAT(found.out, HasSubstr(R"({"id":"1","name":"John Doe"})"));
  const ProcessResult missing = s().run({script, s().stack, "2"}, 180);
  EXPECT_EQ(missing.exit_code, 1) << missing.out << missing.err;
  EXPECT_THAT(missing.out + missing.err, HasSubstr("not_found: no customer 2"));
  EXPECT_EQ(s().docker({"service", "ls", "-q", "--filter", "name=" + s().service("get-customer-run")}, 30).out, "")
      << "a job service was left behind";
  const ProcessResult usage = s().run({script}, 30);
  EXPECT_EQ(usage.exit_code, 64);
  EXPECT_THAT(usage.err, HasSubstr("STACK [ARGS...]"));
}

// bin/stack/episodes reads the recorded requests out of every running task of the API
// service on this node (its episodes volume): none failed here, so there is nothing to
// fetch, said so; a mistake in its arguments is a usage error.
TEST_F(SwarmEndToEnd, TheStackEpisodesScriptReadsEveryApiTaskOnThisNode) {
  ASSERT_TRUE(poll_until(std::chrono::seconds(120), [] { return s().containers_of(kApi).size() == 2; }));
  const std::string script = (s().out / "bin/stack/episodes").string();
  const ProcessResult listed = s().run({script, s().stack, "list"}, 120);
  EXPECT_EQ(listed.exit_code, 0) << listed.out << listed.err;
  EXPECT_THAT(listed.err, HasSubstr("no request recorded yet (in 2 container(s) of customer-server-api)"));
  const ProcessResult fetched = s().run({script, s().stack, "fetch", "--failed"}, 120);
  EXPECT_EQ(fetched.exit_code, 1) << fetched.out << fetched.err;
  const ProcessResult other = s().run({script, s().stack + "none", "list"}, 120);
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_THAT(other.err, HasSubstr("no container of customer-server-api (stack " + s().stack + "none) runs on this node"));
  EXPECT_EQ(s().run({script, s().stack}, 30).exit_code, 64);
}

TEST_F(SwarmEndToEnd, TheApiServiceNameResolvesToEachReplica) {
  // dnsrr: the name is the replicas' own addresses, not one virtual address.
  std::set<std::string> replica_addresses;
  for (const std::string& c : s().containers_of(kApi)) {
    const std::string ip = trim(s().docker({"inspect", "-f", "{{(index .NetworkSettings.Networks \"" + s().network(kApi) +
                                                                  "\").IPAddress}}", c}).out);
    replica_addresses.insert(ip);
  }
  ASSERT_EQ(replica_addresses.size(), 2u);
  const ProcessResult resolved = s().docker(
      {"run", "--rm", "--network", s().network(kApi), "--entrypoint", "/probe", s().app_probe_image, "resolve", kApi}, 60);
  ASSERT_EQ(resolved.exit_code, 0) << resolved.err;
  const std::vector<std::string> found = lines(resolved.out);
  EXPECT_EQ(std::set<std::string>(found.begin(), found.end()), replica_addresses) << resolved.out;
}

TEST_F(SwarmEndToEnd, KillingOneApiReplicaDoesNotFailTheClientsNextCalls) {
  const std::vector<std::string> replicas = s().containers_of(kApi);
  ASSERT_EQ(replicas.size(), 2u);
  ASSERT_EQ(s().docker({"kill", replicas.front()}, 60).exit_code, 0);
  for (int run = 0; run < 3; ++run) {
    const ProcessResult client = run_client();
    EXPECT_EQ(client.exit_code, 0) << "run " << run << ": " << client.err;
    EXPECT_THAT(client.out, HasSubstr(R"(Loaded customer: {"id":"1","name":"John Doe"})")) << "run " << run;
  }
  // Swarm replaces the killed replica (restart_policy: any).
  EXPECT_TRUE(poll_until(std::chrono::seconds(120), [] { return s().containers_of(kApi).size() == 2; }));
}

// From inside each service's containers (docker exec; the client's by a container on its
// network, which it would share), try every service that listens, by name and by address.
TEST_F(SwarmEndToEnd, EachContainerReachesExactlyWhatItsPersonaUses) {
  ASSERT_TRUE(poll_until(std::chrono::seconds(120), [] { return s().containers_of(kApi).size() == 2; }));
  const std::map<std::string, std::string> listening{{kApi, "20000"}, {kDb, "5432"}};
  std::map<std::string, std::vector<std::string>> addresses;
  for (const auto& [service, port] : listening) {
    for (const std::string& c : s().containers_of(service)) {
      const std::string ips = s().docker({"inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", c}).out;
      std::istringstream in(ips);
      for (std::string ip; in >> ip;) addresses[service].push_back(ip + ":" + port);
    }
    addresses[service].push_back(service + ":" + port);
  }
  const std::map<std::string, std::set<std::string>> expected{
      {kClient, {kApi}},
      {kApi, {kDb}},
      // Shares the API server's network towards it, but the server listens only on its
      // own network's address (docs/deploy.md, "Least privilege from `uses`").
      {kDb, {}},
  };
  for (const auto& [from, allowed] : expected) {
    std::vector<std::string> targets;
    for (const auto& [service, port] : listening) {
      if (service != from) targets.insert(targets.end(), addresses[service].begin(), addresses[service].end());
    }
    std::vector<std::string> args;
    if (from == kClient) {
      args = {"run", "--rm", "--network", s().network(kApi), "--entrypoint", "/probe", s().app_probe_image, "connect"};
    } else {
      const std::vector<std::string> containers = s().containers_of(from);
      ASSERT_FALSE(containers.empty()) << from;
      args = {"exec", containers.front(), "/probe", "connect"};
    }
    args.insert(args.end(), targets.begin(), targets.end());
    const ProcessResult probed = s().docker(args, 120);
    ASSERT_EQ(probed.exit_code, 0) << probed.err;
    std::map<std::string, std::set<std::string>> verdicts;
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

TEST_F(SwarmEndToEnd, NoSecretValueAppearsOutsideTheContainersThatUseIt) {
  const std::string& secret = s().password;
  ASSERT_EQ(secret.size(), 48u);
  for (const char* file : {"snapshot.snaplog", "docker-stack.yml", "docker-compose.yml", "Dockerfile", "state/deploy.json"}) {
    EXPECT_EQ(read_file(s().out / file).find(secret), std::string::npos) << file;
  }
  for (const std::string& image : s().images) {
    const ProcessResult saved = s().docker({"save", image}, 120);
    ASSERT_EQ(saved.exit_code, 0) << saved.err;
    EXPECT_GT(saved.out.size(), 1000000u);
    EXPECT_EQ(saved.out.find(secret), std::string::npos) << image;
  }
  // The services, their secrets (swarm never shows a value; checked all the same), every
  // container of the stack and its output.
  for (const char* service : {kApi, kDb, kClient}) {
    const ProcessResult inspected = s().docker({"service", "inspect", s().service(service)});
    ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
    EXPECT_EQ(inspected.out.find(secret), std::string::npos) << service;
    const ProcessResult logs = s().docker({"service", "logs", "--raw", s().service(service)}, 60);
    EXPECT_EQ((logs.out + logs.err).find(secret), std::string::npos) << service;
  }
  const std::vector<std::string> secrets = s().labelled("secret");
  EXPECT_EQ(secrets.size(), 2u);  // the database's and the API server's copy of its password
  for (const std::string& id : secrets) {
    EXPECT_EQ(s().docker({"secret", "inspect", id}).out.find(secret), std::string::npos);
  }
  const std::vector<std::string> containers =
      lines(s().docker({"ps", "-a", "-q", "--filter", "label=com.docker.stack.namespace=" + s().stack}).out);
  ASSERT_GE(containers.size(), 4u);  // 2 API replicas, the database, the client job
  for (const std::string& container : containers) {
    EXPECT_EQ(s().docker({"inspect", container}).out.find(secret), std::string::npos) << container;
    const ProcessResult logs = s().docker({"logs", container});
    EXPECT_EQ((logs.out + logs.err).find(secret), std::string::npos) << container;
  }
  // Each container's /run/secrets holds its own secrets only; the client has none.
  for (const char* service : {kApi, kDb}) {
    for (const std::string& c : s().containers_of(service)) {
      EXPECT_EQ(trim(s().docker({"exec", c, "/probe", "ls", "/run/secrets"}).out), "customer-server.db.password") << service;
    }
  }
  EXPECT_EQ(trim(s().docker({"service", "inspect", "-f", "{{len .Spec.TaskTemplate.ContainerSpec.Secrets}}",
                             s().service(kClient)}).out),
            "0");
}

}  // namespace
}  // namespace snap
