// End to end on a single-node Docker Swarm: the customer example's generated
// docker-stack.yml, deployed with `docker stack deploy`, with its API server at 2
// replicas (endpoint mode dnsrr: the service name resolves to both). The client job
// posts a customer through the API server into PostgreSQL and reads it back; with one API
// replica's container killed, the client run again still succeeds (its typed client tries
// the other address); each container reaches exactly what its persona's `uses` allow; no
// secret value is anywhere it should not be.
//
// The swarm: the engine's own if it is already a manager; otherwise the test creates one
// (`docker swarm init --advertise-addr 127.0.0.1`). Leaving a swarm takes down every
// swarm network and what is attached to it, so the test leaves only a swarm it created,
// and only when nothing else uses it: no other service, no other swarm network, and no
// other run of this test (each holds a shared lock on a file in /tmp for as long as it
// uses the swarm; the one that would leave must get it exclusively). Otherwise the swarm
// stays, and the test says so. Images are built locally (nothing pulled) and named after
// one unique tag; the stack, its secrets, networks and volume and the images are removed
// whether the tests pass or not. Skipped, with the reason, where no Docker engine answers
// or no swarm can be had.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "e2e_support.h"

namespace snap {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::ProcessResult;
using Clock = std::chrono::steady_clock;
using e2e::lines;
using e2e::must;
using e2e::read_file;
using e2e::trim;

// Polls `done` until it holds or `limit` passes (a bound on a stuck engine; the pause
// between polls only spaces the queries out). True if it held.
bool poll_until(std::chrono::seconds limit, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return done();
}

constexpr const char* kApi = "customer-server-api";
constexpr const char* kDb = "customer-server-db";
constexpr const char* kClient = "example-client";

// One stack shared by every test below (images and the stack take a while to start).
struct Stack : e2e::DockerWork {
  int swarm_lock = -1;  // shared while this test uses the swarm (see the top of the file)
  bool created_swarm = false;
  bool created_gwbridge = false;  // swarm init's bridge, which `swarm leave` keeps
  bool deployed = false;
  std::string stack;
  double deploy_seconds = 0;  // `docker stack deploy` to the client's record read back

  std::string service(const std::string& name) const { return stack + "_" + name; }
  std::string network(const std::string& name) const { return stack + "_" + name; }
  // The running containers of a service on this node.
  std::vector<std::string> containers_of(const std::string& name) const {
    return lines(docker({"ps", "-q", "--filter", "label=com.docker.swarm.service.name=" + service(name)}, 30).out);
  }
  // The states of a service's tasks, newest first ("Running 3 seconds ago", "Complete ...").
  std::vector<std::string> task_states(const std::string& name) const {
    return lines(docker({"service", "ps", "--no-trunc", "--format", "{{.CurrentState}}", service(name)}, 30).out);
  }
  std::vector<std::string> labelled(const std::string& kind) const {
    return lines(docker({kind, "ls", "-q", "--filter", "label=com.docker.stack.namespace=" + stack}, 30).out);
  }
};

Stack* stack = nullptr;

class SwarmEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack = new Stack;
    Stack& s = *stack;
    s.swarm_lock = ::open((fs::temp_directory_path() / "snap-swarm-e2e.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (s.swarm_lock < 0 || ::flock(s.swarm_lock, LOCK_SH) != 0) {
      s.skip_reason = "cannot lock " + (fs::temp_directory_path() / "snap-swarm-e2e.lock").string();
      return;
    }
    const ProcessResult info = s.docker({"info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"}, 30);
    if (info.exit_code != 0) {
      s.skip_reason = "no Docker engine reachable (`docker info` failed: " + trim(info.err) + ")";
      return;
    }
    const std::string state = trim(info.out);
    if (state.rfind("active", 0) == 0) {
      if (state != "active true") {
        s.skip_reason = "this Docker engine is a swarm worker, not a manager: it cannot deploy a stack";
        return;
      }
    } else if (state.rfind("inactive", 0) == 0) {
      s.created_gwbridge = s.docker({"network", "inspect", "docker_gwbridge"}, 30).exit_code != 0;
      const ProcessResult init = s.docker({"swarm", "init", "--advertise-addr", "127.0.0.1"}, 60);
      const bool other_made_one =
          init.exit_code != 0 &&
          trim(s.docker({"info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"}, 30).out) == "active true";
      if (init.exit_code != 0 && !other_made_one) {
        s.skip_reason = "cannot initialise a single-node swarm (`docker swarm init --advertise-addr 127.0.0.1` "
                        "failed: " + trim(init.err) + ")";
        return;
      }
      s.created_swarm = !other_made_one;  // another run of this test made it at the same moment: theirs
    } else {
      s.skip_reason = "the engine's swarm is in state \"" + state + "\"; not touching it";
      return;
    }

    std::random_device random;
    // Short: a swarm secret's name (STACK_KEY) has at most 64 characters.
    const std::string unique = std::to_string(::getpid() % 100000) + "x" + std::to_string(random() % 10000);
    s.stack = "snapsw" + unique;
    s.env["SNAP_REPLICAS_CUSTOMER_SERVER_API"] = "2";
    // The same images as the compose test.
    s.build_customer_and_images(unique, "snaptest-swarm", "snaptest-swarm-postgres", "snap-swarm");

    const auto start = Clock::now();
    s.deployed = true;
    must(s.docker({"stack", "deploy", "--resolve-image", "never", "-c", (s.out / "docker-stack.yml").string(), s.stack}, 120),
         "docker stack deploy");
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
    Stack& s = *stack;
    if (s.deployed) {
      s.docker({"stack", "rm", s.stack}, 60);
      // `stack rm` returns before its containers are gone; the volume and the networks
      // can be removed only after them.
      poll_until(std::chrono::seconds(90), [&] {
        return lines(s.docker({"ps", "-a", "-q", "--filter", "label=com.docker.stack.namespace=" + s.stack}, 30).out).empty();
      });
      poll_until(std::chrono::seconds(60), [&] {
        for (const char* kind : {"network", "volume", "secret"}) {
          for (const std::string& id : s.labelled(kind)) s.docker({kind, "rm", id}, 30);
        }
        return s.labelled("network").empty() && s.labelled("volume").empty() && s.labelled("secret").empty();
      });
    }
    s.remove_images_and_work();
    if (s.created_swarm) {
      const std::string busy = swarm_in_use_by_others(s);
      if (busy.empty()) {
        s.docker({"swarm", "leave", "--force"}, 60);
        if (s.created_gwbridge) s.docker({"network", "rm", "docker_gwbridge"}, 30);
      } else {
        std::cout << "[ NOTE     ] the swarm this test created stays: " << busy << " (`docker swarm leave --force` ends it)\n";
      }
    }
    if (s.swarm_lock >= 0) ::close(s.swarm_lock);
    delete stack;
    stack = nullptr;
  }

  void SetUp() override {
    if (!stack->available) GTEST_SKIP() << stack->skip_reason;
  }

  // Why the swarm must not be left now (empty: nothing else uses it). Leaving removes
  // every swarm network, disconnecting whatever is attached to one. Called with this
  // test's own stack gone; on success this run holds the lock exclusively, so no other
  // run of the test can start using the swarm before the leave.
  static std::string swarm_in_use_by_others(const Stack& s) {
    if (::flock(s.swarm_lock, LOCK_EX | LOCK_NB) != 0) return "another run of this test is using it";
    const ProcessResult services = s.docker({"service", "ls", "-q"}, 30);
    if (services.exit_code != 0) return "`docker service ls` failed: " + trim(services.err);
    if (!lines(services.out).empty()) return std::to_string(lines(services.out).size()) + " other service(s) run on it";
    const ProcessResult networks = s.docker({"network", "ls", "--filter", "scope=swarm", "--format", "{{.Name}}"}, 30);
    if (networks.exit_code != 0) return "`docker network ls` failed: " + trim(networks.err);
    for (const std::string& n : lines(networks.out)) {
      if (n != "ingress") return "the swarm network " + n + " is not this test's";
    }
    return "";
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
