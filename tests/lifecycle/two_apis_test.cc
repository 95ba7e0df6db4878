// Issue 20's acceptance point, end to end: a program with two scopes each holding a server
// named "api" (two_apis_app.cc) builds, runs in dev and deploys; `run orders.api` picks one,
// `run api` names both and asks. The resolution rule itself is pinned in app_test
// (App.PersonasInDifferentScopesMayShareAShortName); here the whole program goes through
// build, dev, a --local build's processes and docker-compose.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "../format/log_test_util.h"
#include "../support/local_run.h"
#include "../support/subprocess.h"

namespace snap {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ProcessOptions;

const std::string kApp = SNAP_TWO_APIS_APP;

// What `check` prints, and what each server answers for id 7.
constexpr char kOrder[] = R"({"id":"7","item":"book"})";
constexpr char kInvoice[] = R"({"id":"7","cents":1250})";
const std::string kCheckOutput = std::string("order ") + kOrder + "\ninvoice " + kInvoice + "\n";
const std::string kAmbiguous =
    "two-apis: \"api\" names several personas (orders.api, billing.api): give the scoped name of one\n";

testing::RawHttpReply get(unsigned short port, const std::string& target) {
  return testing::raw_http_exchange(port,
                                    "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

// The container build: each server is a service named after its whole id below the app
// (Id::service_name: orders.api -> orders-api), with a network and listen alias of its own
// and an OpenAPI document of its own; the command reaches both networks.
TEST(TwoApis, TheContainerBuildGivesEachServerAServiceOfItsOwn) {
  testing::TempDir dir;
  ProcessOptions o;
  o.working_directory = dir.path();
  auto built = testing::run_process({kApp, "build", "--out", (dir / "out").string()}, o);
  ASSERT_EQ(built.exit_code, 0) << built.err;

  const std::string compose = testing::read_file(dir / "out/docker-compose.yml");
  for (const std::string scope : {"orders", "billing"}) {
    SCOPED_TRACE(scope);
    const std::string service = scope + "-api";
    EXPECT_THAT(compose, HasSubstr("\n  " + service + ":\n")) << compose;
    EXPECT_THAT(compose, HasSubstr("    command: [\"two-apis." + scope + ".api\"]\n"));
    EXPECT_THAT(compose, HasSubstr("      " + service + ": {aliases: [\"listen." + service + "\"]}\n"));
    EXPECT_THAT(compose,
                HasSubstr("      test: [\"CMD\", \"/app/two-apis\", \"health\", \"two-apis." + scope + ".api\"]\n"));
    EXPECT_THAT(compose, HasSubstr("\n  " + service + ":\n    internal: true\n")) << "its network";
  }
  EXPECT_THAT(compose, Not(HasSubstr("\n  api:\n"))) << "no service is named after the short name";
  EXPECT_THAT(compose, HasSubstr("    networks: [\"billing-api\", \"orders-api\"]\n")) << "check reaches both";

  const std::string stack = testing::read_file(dir / "out/docker-stack.yml");
  EXPECT_THAT(stack, HasSubstr("      replicas: ${SNAP_REPLICAS_ORDERS_API:-1}\n"));
  EXPECT_THAT(stack, HasSubstr("      replicas: ${SNAP_REPLICAS_BILLING_API:-1}\n"));

  const std::string orders = testing::read_file(dir / "out/openapi/orders-api.json");
  const std::string billing = testing::read_file(dir / "out/openapi/billing-api.json");
  EXPECT_THAT(orders, HasSubstr("\"/orders/{id}\""));
  EXPECT_THAT(orders, Not(HasSubstr("/invoices/")));
  EXPECT_THAT(billing, HasSubstr("\"/invoices/{id}\""));
  EXPECT_THAT(billing, Not(HasSubstr("/orders/")));
}

// --replicas takes a scoped name; the short name both servers have is refused, naming them.
TEST(TwoApis, ReplicasForTheSharedShortNameAreRefused) {
  testing::TempDir dir;
  ProcessOptions o;
  o.working_directory = dir.path();
  auto scoped = testing::run_process(
      {kApp, "build", "--out", (dir / "scoped").string(), "--replicas", "orders.api=2"}, o);
  ASSERT_EQ(scoped.exit_code, 0) << scoped.err;
  const std::string stack = testing::read_file(dir / "scoped/docker-stack.yml");
  EXPECT_THAT(stack, HasSubstr("      replicas: ${SNAP_REPLICAS_ORDERS_API:-2}\n"));
  EXPECT_THAT(stack, HasSubstr("      replicas: ${SNAP_REPLICAS_BILLING_API:-1}\n"));

  auto shared = testing::run_process({kApp, "build", "--out", (dir / "shared").string(), "--replicas", "api=2"}, o);
  EXPECT_EQ(shared.exit_code, 1);  // a deploy error, as a name that is no service
  EXPECT_THAT(shared.err, HasSubstr("deploy: --replicas: \"api\" names several personas (orders.api, billing.api): "
                                    "give the scoped name of one"));
  EXPECT_FALSE(std::filesystem::exists(dir / "shared/docker-compose.yml"));
}

// "Deploys": docker-compose accepts the file as written (nothing is started; the customer
// example's Docker test runs containers).
TEST(TwoApis, DockerComposeAcceptsTheFile) {
  if (std::system("command -v docker-compose >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "docker-compose is not installed";
  }
  testing::TempDir dir;
  ProcessOptions o;
  o.working_directory = dir.path();
  auto built = testing::run_process({kApp, "build", "--out", (dir / "out").string()}, o);
  ASSERT_EQ(built.exit_code, 0) << built.err;
  const std::string compose_file = (dir / "out/docker-compose.yml").string();
  auto checked = testing::run_process({"/bin/sh", "-c", "exec docker-compose -f \"$0\" config -q", compose_file}, o);
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  EXPECT_EQ(checked.err, "");
}

// Dev runs both servers in one process: the REPL's `check` gets an answer from each, and
// the shared short name is a question there too.
TEST(TwoApis, DevRunsBothServersInOneProcess) {
  testing::TempDir cwd;
  ProcessOptions o;
  o.working_directory = cwd.path();
  o.environment = std::map<std::string, std::string>{};
  o.keep_input_open = true;
  testing::ChildProcess dev({kApp, "dev", "--repl"}, o);
  dev.write_input("check\napi\nexit\n");
  dev.close_input();
  auto result = dev.wait();
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "snap> " + kCheckOutput +
                            "snap> error: \"api\" names several personas (orders.api, billing.api): give the scoped "
                            "name of one\n"
                            "snap> ");
  EXPECT_THAT(result.err, HasSubstr("snap: dev: the REPL has ended: stopping personas\nsnap: dev: stopped\n"));
}

// A --local build runs each server as a process of its own, chosen by its scoped name,
// each on its own port answering its own endpoint; the command reaches both.
TEST(TwoApis, RunPicksEachServerByItsScopedName) {
  testing::LocalBuild build(kApp);
  const unsigned short orders_port = build.port("two-apis.orders.api.port");
  const unsigned short billing_port = build.port("two-apis.billing.api.port");
  ASSERT_NE(orders_port, billing_port);
  testing::BackgroundProcess& orders = build.start("orders.api");
  testing::BackgroundProcess& billing = build.start("billing.api");
  testing::LocalBuild::wait_healthy(orders, orders_port);
  testing::LocalBuild::wait_healthy(billing, billing_port);

  const testing::RawHttpReply order = get(orders_port, "/orders/7");
  EXPECT_EQ(order.status, 200) << order.head << order.body;
  EXPECT_EQ(order.body, kOrder);
  const testing::RawHttpReply invoice = get(billing_port, "/invoices/7");
  EXPECT_EQ(invoice.status, 200) << invoice.head << invoice.body;
  EXPECT_EQ(invoice.body, kInvoice);
  // Each process became its own server, not the other one.
  EXPECT_EQ(get(orders_port, "/invoices/7").status, 404);
  EXPECT_EQ(get(billing_port, "/orders/7").status, 404);

  testing::BackgroundProcess& check = build.start("check");
  ASSERT_TRUE(check.wait_for_exit(std::chrono::seconds(60))) << build.describe();
  EXPECT_EQ(check.exit_code(), 0) << build.describe();
  EXPECT_EQ(check.out(), kCheckOutput) << build.describe();
}

// The short name both servers have is a usage error naming their scoped names (run and
// health, from the argument or $PERSONA); a name that is not a whole segment of an id is
// no persona at all.
TEST(TwoApis, TheSharedShortNameAsksWhichOneIsMeant) {
  testing::LocalBuild build(kApp);
  const std::string log = build.log().string();
  ProcessOptions o;
  o.working_directory = build.dir();
  o.environment = testing::LocalBuild::environment({});

  auto run = testing::run_process({kApp, "run", "api", "--log", log}, o);
  EXPECT_EQ(run.exit_code, 64);
  EXPECT_EQ(run.err, kAmbiguous);
  EXPECT_EQ(run.out, "");

  auto health = testing::run_process({kApp, "health", "api", "--log", log}, o);
  EXPECT_EQ(health.exit_code, 64);
  EXPECT_EQ(health.err, kAmbiguous);

  ProcessOptions from_variable = o;
  from_variable.environment = testing::LocalBuild::environment({{"PERSONA", "api"}});
  auto by_variable = testing::run_process({kApp, "run", "--log", log}, from_variable);
  EXPECT_EQ(by_variable.exit_code, 64);
  EXPECT_EQ(by_variable.err, kAmbiguous);

  auto unknown = testing::run_process({kApp, "run", "rders.api", "--log", log}, o);
  EXPECT_EQ(unknown.exit_code, 64);
  EXPECT_THAT(unknown.err, ::testing::StartsWith(
                               "two-apis: unknown persona \"rders.api\"; valid personas: orders.api, billing.api, check"));
}

}  // namespace
}  // namespace snap
