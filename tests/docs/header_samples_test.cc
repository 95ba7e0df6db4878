// Every code sample in a public header's comment (*/include/snap/*.h), verbatim inside a
// small real program that runs in-process. tests/docs/check_header_samples.py fails when
// a header's sample is not found here line for line, so a sample cannot drift from the API.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/describe.hpp>
#include <boost/json.hpp>

#include "../support/fake_system.h"
#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/memory_env.h"
#include "snap/metrics.h"
#include "snap/cli_command.h"
#include "snap/component.h"
#include "snap/determinism_guard.h"
#include "snap/environment.h"
#include "snap/job.h"
#include "snap/json_struct.h"
#include "snap/key_value_store.h"
#include "snap/lifecycle.h"
#include "snap/logging.h"
#include "snap/main.h"
#include "snap/membrane.h"
#include "snap/password.h"
#include "snap/persona.h"
#include "snap/port.h"
#include "snap/postgres.h"
#include "snap/regression.h"
#include "snap/store.h"
#include "snap/trace.h"
#include "snap/worker.h"

namespace {

namespace fs = std::filesystem;

// Runs a server persona on a thread while `client` runs on the calling thread.
int run_beside(snap::App& app, const char* server, const char* client, std::vector<std::string> args = {}) {
  snap::PersonaContext server_ctx(app, *app.find_persona(server), {});
  std::thread daemon([&] { server_ctx.persona().run(server_ctx); });
  snap::PersonaContext ctx(app, *app.find_persona(client), std::move(args));
  const int status = ctx.persona().run(ctx);
  server_ctx.request_stop();
  daemon.join();
  return status;
}

// ---- replay/include/snap/app.h -------------------------------------------------------
namespace app_sample {
std::uint16_t served_port = 0;
std::chrono::system_clock::time_point served_started;
void serve(std::uint16_t port, std::chrono::system_clock::time_point started, snap::PersonaContext&) {
  served_port = port;
  served_started = started;
}

void define_app(snap::App& app) {
  auto& port = app.add<snap::Port>("api-port");
  const auto started = app.membrane().wall_now();  // recorded at build, replayed at runtime
  app.add<snap::Persona>("api", snap::PersonaKind::kDaemon, [&port, started](snap::PersonaContext& ctx) {
    serve(port.number(), started, ctx);             // live inputs: ctx.membrane()
    return 0;
  }).uses(port);
}
int main(int argc, char** argv) { return snap::run(argc, argv, "my-app", define_app); }
}  // namespace app_sample

TEST(header_samples, AppDefinesAndRunsAPersona) {
  const fs::path dir = fs::temp_directory_path() / "snap-header-samples-app";
  fs::remove_all(dir);
  snap::testing::FakeSystem system;
  snap::BuildOptions options;
  options.out_dir = dir;
  const snap::BuildSummary summary = snap::build_app("my-app", app_sample::define_app, system, options);
  EXPECT_EQ(summary.personas, std::vector<std::string>{"api"});

  snap::testing::FakeSystem later(7);  // replay reads startup from the log, not the system
  auto app = snap::replay_app("my-app", app_sample::define_app, later, {summary.log, snap::Mode::kVerify});
  snap::PersonaContext ctx(*app, *app->find_persona("api"), {});
  EXPECT_EQ(app->find_persona("api")->run(ctx), 0);
  EXPECT_NE(app_sample::served_port, 0);
  const auto recorded = app_sample::served_started;

  auto again = snap::replay_app("my-app", app_sample::define_app, later, {summary.log, snap::Mode::kVerify});
  snap::PersonaContext ctx2(*again, *again->find_persona("api"), {});
  again->find_persona("api")->run(ctx2);
  EXPECT_EQ(app_sample::served_started, recorded);  // the startup value is the recorded one

  std::string a0 = "my-app", a1 = "--help";
  char* argv[] = {a0.data(), a1.data(), nullptr};
  EXPECT_EQ(app_sample::main(2, argv), 0);  // `my-app --help`
  fs::remove_all(dir);
}

// ---- components/include/snap/main.h --------------------------------------------------
namespace main_sample {
void define_app(snap::App& app) {
  app.add<snap::Job>("hello", [](snap::PersonaContext&) { return 0; });
}
int main(int argc, char** argv) { return snap::run(argc, argv, "my-app", define_app); }
}  // namespace main_sample

TEST(header_samples, MainRunsTheLifecycle) {
  std::string a0 = "my-app", a1 = "--help";
  char* argv[] = {a0.data(), a1.data(), nullptr};
  EXPECT_EQ(main_sample::main(2, argv), 0);  // `my-app --help`
  std::string a2 = "no-such-subcommand";
  char* bad[] = {a0.data(), a2.data(), nullptr};
  EXPECT_EQ(main_sample::main(2, bad), 64);  // usage error
}

// ---- replay/include/snap/component.h -------------------------------------------------
namespace component_sample {
class MyServer final : public snap::Component {
 public:
  MyServer(const Init& init, snap::Port& port) : Component(init, "MyServer"), port_(&port) {}
  const snap::Port& port() const { return *port_; }

 private:
  snap::Port* port_;
};
}  // namespace component_sample

TEST(header_samples, ComponentsAreMadeByTheirParent) {
  using component_sample::MyServer;
  snap::Env& system = snap::real_env();
  MyServer* made = nullptr;
  snap::Port* made_port = nullptr;
  auto dev = snap::start_dev_app("components", [&made, &made_port](snap::App& app) {
    auto& port = app.add<snap::Port>("api-port");
    auto& api  = app.add<MyServer>("api", port);   // MyServer(Component::Init, Port&)
    api.uses(port);
    made = &api;
    made_port = &port;
  }, system, {});
  ASSERT_NE(made, nullptr);
  EXPECT_EQ(&made->port(), made_port);
  EXPECT_NE(made_port->number(), 0);
}

// ---- replay/include/snap/environment.h -----------------------------------------------
TEST(header_samples, EnvironmentAnswersWhereComponentsRun) {
  snap::Env& system = snap::real_env();
  bool asked = false;
  auto dev = snap::start_dev_app("where", [&asked](snap::App& app) {
    auto& server = app.add<snap::Persona>("api", snap::PersonaKind::kDaemon, [](snap::PersonaContext&) { return 0; });
    const snap::Environment& where = app.environment();
    const bool in_memory = where.in_memory_stores();  // no database in this process
    const std::string host = where.host_of(server);   // 127.0.0.1, or listen.SERVICE in containers
    EXPECT_TRUE(in_memory);
    EXPECT_EQ(host, "127.0.0.1");
    asked = true;
  }, system, {});
  EXPECT_TRUE(asked);
}

// ---- replay/include/snap/persona.h ---------------------------------------------------
namespace persona_sample {
std::string connected_password, connected_instance;
void connect(const std::string& password, const std::string& instance) {
  connected_password = password;
  connected_instance = instance;
}
void define_app(snap::App& app) {
  auto& password = app.add<snap::Password>("db-password");
  const std::string instance = app.membrane().uuid();         // startup value
  app.add<snap::Persona>("api", snap::PersonaKind::kDaemon,
                         [&password, instance](snap::PersonaContext& ctx) {
                           connect(password.value(ctx), instance);  // needs .uses(password)
                           ctx.wait_for_stop();
                           return 0;
                         })
      .uses(password);
}
}  // namespace persona_sample

TEST(header_samples, PersonaReadsWhatItUses) {
  snap::testing::FakeSystem system;
  auto app = snap::start_dev_app("persona", persona_sample::define_app, system, {});
  snap::PersonaContext ctx(*app, *app->find_persona("api"), {});
  std::thread daemon([&ctx] { EXPECT_EQ(ctx.persona().run(ctx), 0); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ctx.request_stop();
  daemon.join();
  EXPECT_FALSE(persona_sample::connected_password.empty());
  EXPECT_EQ(persona_sample::connected_instance.size(), 36u);  // a UUID
}

// ---- components/include/snap/password.h ----------------------------------------------
namespace password_sample {
std::string connected;
void connect(const std::string& password) { connected = password; }
void define_app(snap::App& app) {
  auto& db_password = app.add<snap::Password>("db-password");
  app.add<snap::Persona>("api", snap::PersonaKind::kDaemon, [&db_password](snap::PersonaContext& ctx) {
    connect(db_password.value(ctx));
    return 0;
  }).uses(db_password);
}
}  // namespace password_sample

TEST(header_samples, PasswordValueInABody) {
  snap::testing::FakeSystem system;
  auto app = snap::start_dev_app("password", password_sample::define_app, system, {});
  snap::PersonaContext ctx(*app, *app->find_persona("api"), {});
  EXPECT_EQ(app->find_persona("api")->run(ctx), 0);
  EXPECT_GE(password_sample::connected.size(), 16u);
}

// ---- components/include/snap/job.h ---------------------------------------------------
TEST(header_samples, JobSeedsAStore) {
  snap::testing::FakeSystem system;
  snap::KeyValueStore* store = nullptr;
  auto app = snap::start_dev_app("job", [&store](snap::App& app) {
    auto& customers = app.add<snap::KeyValueStore>("customers");
    store = &customers;
    app.add<snap::Job>("seed", [&customers](snap::PersonaContext& ctx) {
      customers.open(ctx).set("1", {{"name", "John Doe"}});
      return 0;
    }).uses(customers);
  }, system, {});
  snap::PersonaContext ctx(*app, *app->find_persona("seed"), {});
  EXPECT_EQ(app->find_persona("seed")->run(ctx), 0);
  const auto value = store->open(ctx).get("1");
  ASSERT_TRUE(value);
  EXPECT_EQ(value->at("name").as_string(), "John Doe");
}

// ---- components/include/snap/key_value_store.h ---------------------------------------
namespace kv_sample {
struct Order {
  std::string id;
  std::string customer;
  double total = 0;
};
BOOST_DESCRIBE_STRUCT(Order, (), (id, customer, total))
}  // namespace kv_sample

TEST(header_samples, KeyValueStoreOnPostgres) {
  using kv_sample::Order;
  snap::testing::FakeSystem system;
  snap::KeyValueStore* store = nullptr;
  auto app = snap::start_dev_app("kv", [&store](snap::App& app) {
    auto by_customer = snap::typed_index<Order>("by-customer", 1, [](std::string_view, const Order& o) {
      return std::vector<snap::IndexEntry>{{o.customer, o.total}};
    });
    auto& db = app.add<snap::Postgres>("db");
    auto& orders = app.add<snap::KeyValueStore>("orders", db, std::vector<snap::IndexSpec>{by_customer});
    app.add<snap::Job>("api", [&orders](snap::PersonaContext& ctx) {
      orders.open<Order>(ctx).set("o-1", Order{"o-1", "alice", 12.5});
      return 0;
    }).uses(orders);
    store = &orders;
  }, system, {});
  snap::PersonaContext ctx(*app, *app->find_persona("api"), {});
  EXPECT_EQ(app->find_persona("api")->run(ctx), 0);
  const auto matches = store->open(ctx).index("by-customer").get("alice");
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].key, "o-1");
  EXPECT_EQ(matches[0].inline_value.as_double(), 12.5);
}

// ---- components/include/snap/postgres.h ----------------------------------------------
TEST(header_samples, PostgresSharedThroughAStore) {
  snap::testing::FakeSystem system;
  const snap::Postgres* database = nullptr;
  const snap::KeyValueStore* store = nullptr;
  auto app = snap::start_dev_app("pg", [&database, &store](snap::App& app) {
    snap::Component& scope = app;
    auto& api = app.add<snap::Job>("api", [](snap::PersonaContext&) { return 0; });
    auto& db = scope.add<snap::Postgres>("db");                   // a local of its owner
    auto& customers = scope.add<snap::KeyValueStore>("customers", db);
    api.uses(customers);                                          // reaches db through the store
    database = &db;
    store = &customers;
  }, system, {});
  EXPECT_EQ(store->database(), database);
  snap::PersonaContext ctx(*app, *app->find_persona("api"), {});
  EXPECT_TRUE(ctx.reaches(*database));
}

// ---- components/include/snap/worker.h ------------------------------------------------
namespace worker_sample {
std::atomic<int> sent{0};
void send_pending_mail(snap::PersonaContext&) { ++sent; }
}  // namespace worker_sample

TEST(header_samples, WorkerTicksUntilStopped) {
  using worker_sample::send_pending_mail;
  snap::testing::FakeSystem system;
  auto app = snap::start_dev_app("worker", [](snap::App& app) {
    app.add<snap::Worker>("mailer", std::chrono::seconds(1), [](snap::PersonaContext& ctx) {
      send_pending_mail(ctx);
    });
  }, system, {});
  snap::PersonaContext ctx(*app, *app->find_persona("mailer"), {});
  std::thread daemon([&ctx] { EXPECT_EQ(ctx.persona().run(ctx), 0); });
  for (int i = 0; i < 200 && worker_sample::sent == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ctx.request_stop();
  daemon.join();
  EXPECT_GE(worker_sample::sent.load(), 1);
}

// ---- components/api/include/snap/api_server.h ----------------------------------------
namespace api_sample {
struct Customer { std::string id; std::string name; };
BOOST_DESCRIBE_STRUCT(Customer, (), (id, name))

snap::KeyValueStore* stored = nullptr;
void define_app(snap::App& app) {
  auto& server = app.add<snap::ApiServer>("api");
  auto& db = server.add<snap::KeyValueStore>("db");
  server.uses(db);
  snap::Endpoint<Customer, void> post = server.endpoint<Customer, void>(
      "POST", "/api/customer", [&db](snap::PersonaContext& ctx, const Customer& c) {
        db.open(ctx).set(c.id, snap::to_json(c));
      });
  app.add<snap::Persona>("client", snap::PersonaKind::kCommand, [post](snap::PersonaContext& ctx) {
    post(ctx, Customer{"1", "John Doe"});     // direct in dev, HTTP when deployed
    return 0;
  }).uses(server);
  stored = &db;
}
}  // namespace api_sample

TEST(header_samples, ApiServerEndpointCalledByAClient) {
  snap::testing::FakeSystem system;
  auto app = snap::start_dev_app("api", api_sample::define_app, system, {});
  EXPECT_EQ(run_beside(*app, "api", "client"), 0);
  snap::PersonaContext ctx(*app, *app->find_persona("api"), {});
  const auto value = api_sample::stored->open(ctx).get("1");
  ASSERT_TRUE(value);
  EXPECT_EQ(value->at("name").as_string(), "John Doe");
}

// ---- components/include/snap/cli_command.h -------------------------------------------
namespace cli_sample {
struct Customer { std::string id; std::string name; };
BOOST_DESCRIBE_STRUCT(Customer, (), (id, name))
struct CustomerId { std::string id; };
BOOST_DESCRIBE_STRUCT(CustomerId, (), (id))
struct CustomerServer {
  snap::Endpoint<CustomerId, Customer> get_customer;
};

void define_app(snap::App& app) {
  auto& server_component = app.add<snap::ApiServer>("api");
  const CustomerServer server{server_component.endpoint<CustomerId, Customer>(
      "GET", "/api/customer", [](snap::PersonaContext&, const CustomerId& request) {
        return Customer{request.id, "John Doe"};
      })};
  app.add<snap::CliCommand>("get-customer", "Print a customer",
                            std::vector{snap::Arg::text("id", "the customer's id")},
                            [server](snap::PersonaContext& ctx, const snap::CommandArgs& args) {
                              std::cout << server.get_customer(ctx, {args.text("id")}).name << "\n";
                              return 0;
                            })
      .uses(server_component);
}
}  // namespace cli_sample

TEST(header_samples, CliCommandPrintsACustomer) {
  snap::testing::FakeSystem system;
  auto app = snap::start_dev_app("cli", cli_sample::define_app, system, {});
  testing::internal::CaptureStdout();
  const int status = run_beside(*app, "api", "get-customer", {"1"});
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(status, 0);
  EXPECT_EQ(out, "John Doe\n");
}

namespace cli_typed_sample {
struct GetCustomerArgs {
  std::string id;
  std::optional<int> limit;  // optional: may be left out
};
BOOST_DESCRIBE_STRUCT(GetCustomerArgs, (), (id, limit))

void define_app(snap::App& app) {
  app.add<snap::CliCommand>("get-customer", "Print a customer",
                            snap::args_of<GetCustomerArgs>({{"id", "the customer's id"}, {"limit", "at most"}}),
                            [](snap::PersonaContext&, const GetCustomerArgs& args) {
                              std::cout << args.id << "\n";
                              return 0;
                            });
}
}  // namespace cli_typed_sample

// The typed form: positional or named, the optional one absent or given.
TEST(header_samples, CliCommandWithTypedArguments) {
  snap::testing::FakeSystem system;
  auto app = snap::start_dev_app("cli", cli_typed_sample::define_app, system, {});
  const auto& command = dynamic_cast<const snap::CliCommand&>(*app->find_persona("get-customer"));
  using cli_typed_sample::GetCustomerArgs;
  const auto parsed = [&](std::vector<std::string> words) { return command.parse(words).as<GetCustomerArgs>(); };
  EXPECT_EQ(parsed({"7"}).id, "7");
  EXPECT_FALSE(parsed({"7"}).limit.has_value());
  EXPECT_EQ(parsed({"7", "3"}).limit, 3);
  EXPECT_EQ(parsed({"--limit", "3", "7"}).id, "7");
  EXPECT_EQ(parsed({"--limit=3", "--id=7"}).limit, 3);
  EXPECT_EQ(command.help(),
            "get-customer ID [LIMIT]  Print a customer\n    ID (text)  the customer's id\n    LIMIT (integer)  at most");
  const auto refused = [&](std::vector<std::string> words) -> std::string {
    try {
      parsed(std::move(words));
    } catch (const snap::UsageError& e) {
      return std::string(e.what()).substr(0, std::string(e.what()).find('\n'));
    }
    return "accepted";
  };
  EXPECT_EQ(refused({}), "get-customer: expected 1 to 2 arguments, got 0");
  EXPECT_EQ(refused({"--limit", "x", "7"}), "get-customer: argument LIMIT must be an integer, got \"x\"");
  EXPECT_EQ(refused({"--nope", "1"}), "get-customer: unknown option --nope");
  EXPECT_EQ(refused({"--id", "1", "--id", "2"}), "get-customer: --id given twice");
  EXPECT_EQ(refused({"7", "--limit"}), "get-customer: --limit needs a value");
  EXPECT_EQ(refused({"7", "99999999999"}), "argument LIMIT is out of range: 99999999999");
  EXPECT_THROW(snap::args_of<GetCustomerArgs>({{"idd", "typo"}}), std::invalid_argument);
  testing::internal::CaptureStdout();
  snap::PersonaContext ctx(*app, command, {"--id", "42"});
  EXPECT_EQ(command.run(ctx), 0);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "42\n");
}

// ---- components/api/include/snap/json_struct.h ---------------------------------------
namespace json_sample {
struct Customer { std::string id; std::string name; std::optional<int> age; };
BOOST_DESCRIBE_STRUCT(Customer, (), (id, name, age))
}  // namespace json_sample

TEST(header_samples, JsonStructRoundTrip) {
  using json_sample::Customer;
  std::string text = snap::encode_json(Customer{"1", "John Doe", {}});
  Customer back   = snap::decode_json<Customer>(text);   // throws snap::JsonError
  EXPECT_EQ(text, R"({"id":"1","name":"John Doe"})");
  EXPECT_EQ(back.name, "John Doe");
  EXPECT_FALSE(back.age);
  EXPECT_THROW(snap::decode_json<Customer>(R"({"id":1})"), snap::JsonError);
}

// ---- components/store/include/snap/store.h -------------------------------------------
namespace store_sample {
using json = boost::json::value;
struct Order {
  std::string customer;
  double total = 0;
};
BOOST_DESCRIBE_STRUCT(Order, (), (customer, total))
}  // namespace store_sample

TEST(header_samples, StoreWithAnIndex) {
  using store_sample::json;
  using store_sample::Order;
  std::vector<std::string> keys;
  snap::StoreOptions options{"orders", {snap::typed_index<Order>("by-customer", 1, [](std::string_view, const Order& o) {
    return std::vector<snap::IndexEntry>{{o.customer, o.total}};
  })}};
  auto orders = snap::open_memory_store(options);          // or open_postgres_store(pg, options)
  snap::Store<Order> typed(*orders);
  typed.set("o-1", Order{"alice", 12.5});
  for (auto& m : orders->index("by-customer").get("alice")) keys.push_back(m.key);  // {key, inline value}
  EXPECT_EQ(keys, std::vector<std::string>{"o-1"});
  EXPECT_EQ(typed.get("o-1")->total, 12.5);
}

// ---- membrane/include/snap/membrane.h ------------------------------------------------
TEST(header_samples, MembraneVersionGatesAChange) {
  using snap::Membrane;
  int warmed = 0;
  auto warm_cache = [&warmed] { ++warmed; };
  snap::testing::FakeSystem system;
  auto app = snap::start_dev_app("version", [&](snap::App& app) {
    Membrane& m = app.membrane();
    if (m.version("cache-warmup", Membrane::kDefaultVersion, 1) == 1) warm_cache();
  }, system, {});
  EXPECT_EQ(warmed, 1);  // a new recording takes the newest version
}

// ---- membrane/include/snap/determinism_guard.h ---------------------------------------
namespace guard_sample {
void define_app(snap::App& app) { app.add<snap::Port>("api-port"); }
}  // namespace guard_sample

TEST(header_samples, DeterminismGuardChecksStartup) {
  using guard_sample::define_app;
  snap::testing::FakeSystem system;
  auto dev = snap::start_dev_app("guard", [](snap::App& app) {
    snap::DeterminismGuard guard;           // the lifecycle arms it around startup
    define_app(app);
    guard.check();                          // NondeterminismError if startup read raw time...
  }, system, {});
  ASSERT_EQ(dev->children().size(), 1u);  // the Port define_app added, under the guard
}

TEST(header_samples, AllowNondeterminismExemptsAScope) {
  snap::DeterminismGuard guard;
  {
    snap::AllowNondeterminism allow("log file name only, never stored");
    (void)std::chrono::system_clock::now();
  }
  EXPECT_NO_THROW(guard.check());
}

// ---- components/include/snap/regression.h --------------------------------------------
void define_shop(snap::App& app) {
  auto& port = app.add<snap::Port>("shop-port");
  const std::string instance = app.membrane().uuid();
  app.add<snap::Persona>("shop", snap::PersonaKind::kDaemon, [&port, instance](snap::PersonaContext&) {
    return port.number() != 0 && !instance.empty() ? 0 : 1;
  }).uses(port);
}

// Records the golden log the next test replays (tests/golden-logs under the working directory).
// The regression sample replays "tests/golden-logs" relative to the working directory.
// Each test process records that golden log into a working directory of its own, so the
// tests are independent of order and of other processes ctest runs at the same time.
class GoldenLogs : public ::testing::Environment {
 public:
  void SetUp() override {
    previous_ = fs::current_path();
    char dir[] = "/tmp/snap-header-samples-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    fs::current_path(dir_);
    snap::testing::FakeSystem system;
    snap::BuildOptions options;
    options.out_dir = dir_ / "build";
    const snap::BuildSummary summary = snap::build_app("shop", define_shop, system, options);
    fs::create_directories("tests/golden-logs");
    fs::copy_file(summary.log, "tests/golden-logs/shop-1.snaplog");
  }
  void TearDown() override {
    fs::current_path(previous_);
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

 private:
  fs::path previous_, dir_;
};
const ::testing::Environment* const kGoldenLogs = ::testing::AddGlobalTestEnvironment(new GoldenLogs);

TEST(Regression, OldBuildsStillReplay) {
  snap::Env& system = snap::real_env();  // replay reads nothing from it
  const snap::RegressionReport report = snap::replay_logs("tests/golden-logs", "shop", define_shop, system);
  EXPECT_TRUE(report) << report;  // every failure, with all its fields
}

TEST(Regression, TheGoldenLogWasReplayed) {
  snap::Env& system = snap::real_env();
  const snap::RegressionReport report = snap::replay_logs("tests/golden-logs", "shop", define_shop, system);
  EXPECT_EQ(report.replayed.size(), 1u);
}

// ---- base/include/snap/metrics.h ------------------------------------------------------
TEST(header_samples, MetricsRegistryCountsBySeries) {
  snap::MetricsRegistry metrics;
  snap::CounterFamily& requests = metrics.counter(
      "snap_http_requests_total", "HTTP requests served.", {"endpoint", "code"});
  const snap::Counter ok = requests.with({"GET /api/customer", "200"});
  ok.inc();
  EXPECT_NE(metrics.exposition().find("snap_http_requests_total{endpoint=\"GET /api/customer\",code=\"200\"} 1"),
            std::string::npos);
}

// ---- replay/include/snap/logging.h -----------------------------------------------------
TEST(header_samples, APersonaLogsThroughItsContext) {
  auto app = snap::start_dev_app(
      "logged", [](snap::App& a) { a.add<snap::Job>("report", [](snap::PersonaContext& ctx) {
        const std::string id = "1";
        ctx.log().info("loaded customer {}", id);  // spdlog's API: fmt-style arguments
        return 0;
      }); },
      snap::real_env(), {});
  EXPECT_EQ(snap::run_personas(*app, {app->find_persona("report")}, {}), 0);
}

// ---- base/include/snap/trace.h --------------------------------------------------------
TEST(header_samples, ABodyAddsToItsSpanAndStartsChildren) {
  snap::App* seen = nullptr;
  auto app = snap::start_dev_app(
      "traced", [&](snap::App& a) { a.add<snap::Job>("report", [](snap::PersonaContext& ctx) {
        snap::Span& span = ctx.span();                 // the request's (or the run's) span
        span.set("customer.tier", "gold");
        {
          snap::Span pricing = ctx.start_span("price the order");
          pricing.set("items", std::int64_t{3});
        }                                              // ends here
        return 0;
      }); seen = &a; },
      snap::real_env(), {});
  snap::TelemetryOptions telemetry;
  telemetry.keep_recent = true;
  snap::start_telemetry(*app, telemetry);
  EXPECT_EQ(snap::run_personas(*app, {app->find_persona("report")}, {}), 0);
  const std::vector<snap::SpanData> spans = seen->recent_spans()->recent();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].name, "job report");  // ended last
  EXPECT_EQ(spans[1].name, "price the order");
  EXPECT_EQ(spans[1].parent, spans[0].context.span_id);
}

TEST(header_samples, MemoryEnvHoldsFilesAndVariables) {
  snap::MemoryEnv env;
  env.set_variable("PERSONA", "api");
  snap::write_file(env, "/run/secrets/db", "hunter2");
  EXPECT_EQ(env.read_file("/run/secrets/db"), "hunter2");
  EXPECT_EQ(env.variable("PERSONA"), "api");
}

}  // namespace

// ---- docs/api.md, "Routes" ---------------------------------------------------------
namespace routes_sample {
struct Item {
  std::string id;
  std::string name;
};
BOOST_DESCRIBE_STRUCT(Item, (), (id, name))

struct ItemQuery {
  std::string id;              // from the path
  std::optional<int> limit;    // from the query string: ?limit=5 (left out when empty)
  bool verbose = false;        // ?verbose=true
};
BOOST_DESCRIBE_STRUCT(ItemQuery, (), (id, limit, verbose))
}  // namespace routes_sample

TEST(docs_samples, ApiRoutesBindThePathAndTheQuery) {
  using routes_sample::Item;
  using routes_sample::ItemQuery;
  snap::testing::FakeSystem system;
  std::string seen;
  auto app = snap::start_dev_app("routes", [&seen](snap::App& app) {
    auto& server = app.add<snap::ApiServer>("api");
    const auto handler = [](const ItemQuery& q) {
      return Item{q.id, q.verbose ? "verbose, limit " + std::to_string(q.limit.value_or(0)) : "short"};
    };
    auto get_item = server.endpoint<ItemQuery, Item>("GET", "/api/items/{id}", handler);
    app.add<snap::Persona>("client", snap::PersonaKind::kCommand, [get_item, &seen](snap::PersonaContext& ctx) {
      seen = get_item(ctx, ItemQuery{"shoe 1", 5, true}).name;   // GET /api/items/shoe%201?limit=5&verbose=true
      return 0;
    }).uses(server);
  }, system, {});
  EXPECT_EQ(run_beside(*app, "api", "client"), 0);
  EXPECT_EQ(seen, "verbose, limit 5");
}
