// snap::ApiServer costs, each beside its baseline in the same run:
//  - BM_TypedClient_RoundTrip vs BM_BareBeastClient_RoundTrip: one echo over loopback
//    keep-alive to the same snap::ApiServer (run mode, replayed from a local build), by
//    the typed Endpoint vs a bare Beast synchronous client; p50/p99 latency counters.
//  - BM_Dev_DirectCall vs BM_Json_RoundTrip: the dev-mode call (uses check, JSON both
//    ways, handler, error model) vs only the four JSON conversions it must do.
//  - BM_{Dev,Http}_{Path,Query,Body}Get: one GET of an Item, by the typed client with a
//    path parameter (GET /item/item-42) or a query (GET /item?id=item-42), beside the GET
//    whose request is a JSON body (what callers built before routes had parameters sent,
//    and the server still reads), in dev and over HTTP.
// Run with random interleaving and compare with bench/format/ratios.py and
// bench/api/latency.py (commands in bench/README.md).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include <benchmark/benchmark.h>

#include "bare_beast.h"
#include "raw_call.h"
#include "snap/api_server.h"
#include "snap/lifecycle.h"
#include "snap/env.h"

namespace {

using bench::Echo;

struct Item {
  std::string id;
};
BOOST_DESCRIBE_STRUCT(Item, (), (id))

// The three ways one GET of an item travels.
struct Gets {
  snap::Endpoint<Item, Item> path, query, body;
};

unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// One server persona running on a thread, and a client context in another app.
struct World {
  struct Running {
    std::unique_ptr<snap::App> server_app, client_app;
    std::map<const snap::App*, snap::Endpoint<Echo, Echo>> echo;
    std::map<const snap::App*, Gets> gets;
    std::unique_ptr<snap::PersonaContext> server_ctx, client_ctx;
    const snap::Persona* server = nullptr;
    std::thread thread;
    unsigned short port = 0;
    snap::Endpoint<Echo, Echo> client_echo() { return echo.at(client_app.get()); }
    // The endpoints as the calling app sees them (dev: one app).
    const Gets& client_gets() { return gets.at(client_app ? client_app.get() : server_app.get()); }
    snap::PersonaContext& caller() { return *client_ctx; }
  };

  snap::Env* system = &snap::real_env();
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("snap-api-bench-" + std::to_string(::getpid()));
  Running dev, http;

  snap::DefineApp define_for(Running& r) {
    return [&r](snap::App& app) {
      snap::ApiServerOptions options;
      options.threads = 1;
      auto& api = app.add<snap::ApiServer>("api", options);
      r.echo[&app] = api.endpoint<Echo, Echo>("POST", "/echo", [](const Echo& e) { return e; });
      const auto item = [](const Item& i) { return i; };
      r.gets[&app] = {api.endpoint<Item, Item>("GET", "/item/{id}", item), api.endpoint<Item, Item>("GET", "/item", item),
                      api.endpoint<Item, Item>("GET", "/item-body", item)};
      app.add<snap::Persona>("client", snap::PersonaKind::kCommand, [](snap::PersonaContext&) { return 0; }).uses(api);
    };
  }

  World() {
    dev.server_app = snap::start_dev_app("apibench", define_for(dev), *system, {});
    dev.client_app = nullptr;
    dev.server = dev.server_app->find_persona("api");
    dev.server_ctx = std::make_unique<snap::PersonaContext>(*dev.server_app, *dev.server, std::vector<std::string>{});
    dev.client_ctx = std::make_unique<snap::PersonaContext>(*dev.server_app, *dev.server_app->find_persona("client"),
                                                            std::vector<std::string>{});
    dev.thread = std::thread([this] { dev.server->run(*dev.server_ctx); });
    while (!dev.server->healthy(*dev.server_ctx)) std::this_thread::yield();

    http.port = free_port();
    std::filesystem::create_directories(dir / "out/state");
    std::ofstream(dir / "out/state/build-state.json")
        << R"({"ports":{"apibench.api.port":)" << http.port << "}}";
    snap::BuildOptions options;
    options.out_dir = dir / "out";
    options.placement = snap::Placement::kLocal;
    const auto define = define_for(http);
    snap::build_app("apibench", define, *system, options);
    const snap::ReplayOptions replay{dir / "out/snapshot.snaplog", snap::Mode::kRun, nullptr};
    http.server_app = snap::replay_app("apibench", define, *system, replay);
    http.client_app = snap::replay_app("apibench", define, *system, replay);
    start_http();
  }
  void start_http() {
    http.server = http.server_app->find_persona("api");
    http.server_ctx = std::make_unique<snap::PersonaContext>(*http.server_app, *http.server, std::vector<std::string>{});
    http.client_ctx = std::make_unique<snap::PersonaContext>(*http.client_app, *http.client_app->find_persona("client"),
                                                             std::vector<std::string>{});
    http.thread = std::thread([this] { http.server->run(*http.server_ctx); });
    while (!http.server->healthy(*http.server_ctx)) std::this_thread::yield();
  }
  ~World() {
    for (Running* r : {&dev, &http}) {
      stop_persona(*r->server_ctx);
      r->thread.join();
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

World& world() {
  static World w;
  return w;
}

const Echo kSmall{"bench", 42, {"a", "b"}};

// Latency percentiles of one repetition, as counters (microseconds).
void report(benchmark::State& state, std::vector<double>& us) {
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[std::min(us.size() - 1, us.size() * 99 / 100)];
}

void BM_TypedClient_RoundTrip(benchmark::State& state) {
  auto& w = world();
  const auto echo = w.http.client_echo();
  std::vector<double> us;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(echo(*w.http.client_ctx, kSmall));
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  report(state, us);
}
BENCHMARK(BM_TypedClient_RoundTrip)->UseRealTime();

// Echoes on one bare Beast client connection, naming `build` in Snap-Build when given.
void bare_round_trips(benchmark::State& state, std::string build) {
  auto& w = world();
  bench::BareClient client(w.http.port, std::move(build));
  std::vector<double> us;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(client.echo(kSmall));
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  report(state, us);
}

void BM_BareBeastClient_RoundTrip(benchmark::State& state) { bare_round_trips(state, {}); }
BENCHMARK(BM_BareBeastClient_RoundTrip)->UseRealTime();

// The same bare client naming the server's own build in Snap-Build, as the typed client
// does: beside BM_BareBeastClient_RoundTrip, the cost of the header and of the server's
// version-skew check (docs/api.md, "Version skew").
void BM_BareBeastClient_RoundTrip_WithBuild(benchmark::State& state) {
  bare_round_trips(state, world().http.server_app->build_id());
}
BENCHMARK(BM_BareBeastClient_RoundTrip_WithBuild)->UseRealTime();

void BM_Dev_DirectCall(benchmark::State& state) {
  auto& w = world();
  const auto echo = w.dev.echo.at(w.dev.server_app.get());
  for (auto _ : state) benchmark::DoNotOptimize(echo(*w.dev.client_ctx, kSmall));
}
BENCHMARK(BM_Dev_DirectCall)->UseRealTime();

// The least a direct call through the wire encoding must do: request to JSON and back,
// response to JSON and back.
void BM_Json_RoundTrip(benchmark::State& state) {
  for (auto _ : state) {
    const Echo request = snap::decode_json<Echo>(snap::encode_json(kSmall));
    benchmark::DoNotOptimize(snap::decode_json<Echo>(snap::encode_json(request)));
  }
}
BENCHMARK(BM_Json_RoundTrip)->UseRealTime();

const Item kItem{"item-42"};

void path_get(benchmark::State& state, World::Running& r) {
  const Gets& gets = r.client_gets();
  for (auto _ : state) benchmark::DoNotOptimize(gets.path(r.caller(), kItem));
}
void query_get(benchmark::State& state, World::Running& r) {
  const Gets& gets = r.client_gets();
  for (auto _ : state) benchmark::DoNotOptimize(gets.query(r.caller(), kItem));
}
// What a typed GET did before routes had parameters: the request encoded as the body,
// the response decoded; through the same transport (RawCall: ApiServer::call).
void body_get(benchmark::State& state, World::Running& r) {
  const Gets& gets = r.client_gets();
  const auto& server = gets.body.server();
  const std::size_t route = gets.body.route();
  for (auto _ : state) {
    benchmark::DoNotOptimize(snap::decode_json<Item>(
        snap::api_detail::RawCall::call(server, r.caller(), route, "/item-body", snap::encode_json(kItem))));
  }
}

void BM_Dev_PathGet(benchmark::State& state) { path_get(state, world().dev); }
void BM_Dev_QueryGet(benchmark::State& state) { query_get(state, world().dev); }
void BM_Dev_BodyGet(benchmark::State& state) { body_get(state, world().dev); }
void BM_Http_PathGet(benchmark::State& state) { path_get(state, world().http); }
void BM_Http_QueryGet(benchmark::State& state) { query_get(state, world().http); }
void BM_Http_BodyGet(benchmark::State& state) { body_get(state, world().http); }
BENCHMARK(BM_Dev_PathGet)->UseRealTime();
BENCHMARK(BM_Dev_QueryGet)->UseRealTime();
BENCHMARK(BM_Dev_BodyGet)->UseRealTime();
BENCHMARK(BM_Http_PathGet)->UseRealTime();
BENCHMARK(BM_Http_QueryGet)->UseRealTime();
BENCHMARK(BM_Http_BodyGet)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
