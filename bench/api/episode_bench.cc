// What runtime episodes (snap/episode.h) cost the customer example's API server
// (examples/customer, compiled in here with its main renamed: the very program that
// wrk_customer_episodes.sh loads), each beside its baseline in the same run:
//  - BM_Replay_{Get,Post}: replay_episode() of one recorded episode on an app whose
//    startup was already replayed from the build's log (what `customer replay DIR` does
//    for each episode after the first) -- the target is <= 1 ms -- beside
//    BM_DevCall_{Get,Post}_Off, the same handler called through a dev call (JSON both
//    ways, the handler, an in-memory store), and BM_Json_{Get,Post}, only the JSON
//    conversions of that request and its response. BM_ReadAndReplay_Get adds reading the
//    file (read_episode), BM_StartupReplay is the startup replay that comes once before.
//  - BM_DevCall_{Get,Post}_{Errors,All}: the dev call with the server recording every
//    request (errors: kept in memory only; all: written, one file per request, into a
//    directory bounded at 16 MiB) -- the recording path's own cost per request, with no
//    network, database or load generator to blur it.
// By default the episodes replayed are recorded here, in a dev app (the store in memory).
// With --log LOG --get EPISODE --post EPISODE it replays those instead: episodes that the
// customer server recorded on PostgreSQL (wrk_customer_episodes.sh KEEP_DIR keeps one of
// each and the build's log). Commands and figures in bench/README.md.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/cli_command.h"
#include "snap/env.h"
#include "snap/episode.h"
#include "snap/job.h"
#include "snap/json_struct.h"
#include "snap/key_value_store.h"
#include "snap/lifecycle.h"
#include "snap/logging.h"
#include "snap/main.h"
#include "snap/persona.h"
#include "snap/postgres.h"

// The customer example as it is (every header it includes is included above, so the
// rename touches its own main alone).
#define main customer_example_main
#include "../../examples/customer/customer_app.cc"
#undef main

namespace {

namespace fs = std::filesystem;

// Files given on the command line (--log, --get, --post), else empty.
struct Given {
  fs::path log, get, post;
} given;

// define_app of the example, step for step, keeping each app's typed endpoints.
std::map<const snap::App*, CustomerServer> servers;
void define_customer(snap::App& app) {
  const CustomerServer server = create_customer_server(app.scope("customer-server"));
  servers[&app] = server;
  create_example_client(app, server);
  create_customer_commands(app, server);
}

// A dev app of the customer program with its API server running on a thread, recording
// requests by `policy` into `dir`; callers for its two endpoints.
struct DevWorld {
  std::unique_ptr<snap::App> app;
  std::unique_ptr<snap::PersonaContext> server_ctx, poster, getter;
  const snap::Persona* server = nullptr;
  std::thread thread;
  CustomerServer endpoints;

  DevWorld(const std::string& policy, const fs::path& dir) {
    app = snap::start_dev_app("customer", define_customer, snap::real_env(), {});
    endpoints = servers.at(app.get());
    if (policy != "off") {
      snap::EpisodeOptions options;
      options.policy = snap::RecordingPolicy::parse(policy);
      options.directory = dir;
      options.max_bytes = 16ull << 20;
      snap::start_episodes(*app, options);
    }
    server = app->find_persona("api");
    server_ctx = std::make_unique<snap::PersonaContext>(*app, *server, std::vector<std::string>{});
    poster = std::make_unique<snap::PersonaContext>(*app, *app->find_persona("example-client"), std::vector<std::string>{});
    getter = std::make_unique<snap::PersonaContext>(*app, *app->find_persona("get-customer"), std::vector<std::string>{});
    thread = std::thread([this] { server->run(*server_ctx); });
    while (!server->healthy(*server_ctx)) std::this_thread::yield();
    endpoints.post_customer(*poster, Customer{"1", "John Doe"});
  }
  ~DevWorld() {
    stop_persona(*server_ctx);
    thread.join();
  }
};

struct World {
  fs::path dir = fs::temp_directory_path() / ("snap-episode-bench-" + std::to_string(::getpid()));
  fs::path log;
  std::unique_ptr<snap::App> replayed;
  snap::LoadedEpisode get, post;
  std::unique_ptr<DevWorld> off, errors, all;

  World() {
    fs::create_directories(dir);
    if (!given.log.empty()) {
      log = given.log;
      get = snap::read_episode(given.get, snap::real_env());
      post = snap::read_episode(given.post, snap::real_env());
    } else {
      // Record one POST and one GET in a dev app, and build the program for local processes.
      {
        DevWorld recording("all", dir / "recorded");
        recording.endpoints.get_customer(*recording.getter, CustomerId{"1"});
      }
      for (const fs::path& file : snap::episode_files(dir / "recorded", snap::real_env())) {
        snap::LoadedEpisode e = snap::read_episode(file, snap::real_env());
        if (e.info.request.method == "GET" && get.path.empty()) get = std::move(e);
        else if (e.info.request.method == "POST" && post.path.empty()) post = std::move(e);
      }
      snap::BuildOptions options;
      options.out_dir = dir / "out";
      options.placement = snap::Placement::kLocal;
      snap::build_app("customer", define_customer, snap::real_env(), options);
      log = dir / "out/snapshot.snaplog";
    }
    replayed = startup();
    for (const snap::LoadedEpisode* e : {&get, &post}) {
      const snap::EpisodeReplay r = snap::replay_episode(*replayed, *e);
      if (r.outcome != snap::EpisodeReplay::Outcome::kSame) {
        std::cerr << "episode_bench: " << e->path << " does not replay the same:\n" << r.text() << "\n";
        std::exit(1);
      }
    }
    off = std::make_unique<DevWorld>("off", dir / "off");
    errors = std::make_unique<DevWorld>("errors", dir / "errors");
    all = std::make_unique<DevWorld>("all", dir / "all");
  }
  std::unique_ptr<snap::App> startup() const {
    return snap::replay_app("customer", define_customer, snap::real_env(), {log, snap::Mode::kRun, nullptr});
  }
  ~World() {
    off.reset();
    errors.reset();
    all.reset();
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
};

World& world() {
  static World w;
  return w;
}

void replay(benchmark::State& state, const snap::LoadedEpisode& episode) {
  auto& w = world();
  for (auto _ : state) {
    const snap::EpisodeReplay r = snap::replay_episode(*w.replayed, episode);
    if (r.outcome != snap::EpisodeReplay::Outcome::kSame) state.SkipWithError("the episode no longer replays the same");
    benchmark::DoNotOptimize(r.replayed.status);
  }
  state.counters["inputs"] = static_cast<double>(episode.inputs.size());
}
void BM_Replay_Get(benchmark::State& state) { replay(state, world().get); }
void BM_Replay_Post(benchmark::State& state) { replay(state, world().post); }
BENCHMARK(BM_Replay_Get)->UseRealTime();
BENCHMARK(BM_Replay_Post)->UseRealTime();

// What `customer replay FILE` does per file once startup is replayed.
void BM_ReadAndReplay_Get(benchmark::State& state) {
  auto& w = world();
  const fs::path file = w.get.path;
  for (auto _ : state) {
    const snap::EpisodeReplay r = snap::replay_episode(*w.replayed, snap::read_episode(file, snap::real_env()));
    benchmark::DoNotOptimize(r.replayed.status);
  }
}
BENCHMARK(BM_ReadAndReplay_Get)->UseRealTime();

// The startup replay that comes once before any episode (replay_app from the build's log).
void BM_StartupReplay(benchmark::State& state) {
  auto& w = world();
  for (auto _ : state) benchmark::DoNotOptimize(w.startup());
}
BENCHMARK(BM_StartupReplay)->UseRealTime()->Unit(benchmark::kMillisecond);

// The handler through a dev call, in an app recording by each policy.
void dev_get(benchmark::State& state, DevWorld& d) {
  const CustomerId id{"1"};
  for (auto _ : state) benchmark::DoNotOptimize(d.endpoints.get_customer(*d.getter, id));
}
void dev_post(benchmark::State& state, DevWorld& d) {
  const Customer customer{"1", "John Doe"};
  for (auto _ : state) d.endpoints.post_customer(*d.poster, customer);
}
void BM_DevCall_Get_Off(benchmark::State& state) { dev_get(state, *world().off); }
void BM_DevCall_Get_Errors(benchmark::State& state) { dev_get(state, *world().errors); }
void BM_DevCall_Get_All(benchmark::State& state) { dev_get(state, *world().all); }
void BM_DevCall_Post_Off(benchmark::State& state) { dev_post(state, *world().off); }
void BM_DevCall_Post_Errors(benchmark::State& state) { dev_post(state, *world().errors); }
void BM_DevCall_Post_All(benchmark::State& state) { dev_post(state, *world().all); }
BENCHMARK(BM_DevCall_Get_Off)->UseRealTime();
BENCHMARK(BM_DevCall_Get_Errors)->UseRealTime();
BENCHMARK(BM_DevCall_Get_All)->UseRealTime();
BENCHMARK(BM_DevCall_Post_Off)->UseRealTime();
BENCHMARK(BM_DevCall_Post_Errors)->UseRealTime();
BENCHMARK(BM_DevCall_Post_All)->UseRealTime();

// Only the JSON a call of the endpoint must convert: the request to JSON and back, the
// response to JSON and back.
void BM_Json_Get(benchmark::State& state) {
  const CustomerId id{"1"};
  const Customer customer{"1", "John Doe"};
  for (auto _ : state) {
    benchmark::DoNotOptimize(snap::decode_json<CustomerId>(snap::encode_json(id)));
    benchmark::DoNotOptimize(snap::decode_json<Customer>(snap::encode_json(customer)));
  }
}
void BM_Json_Post(benchmark::State& state) {
  const Customer customer{"1", "John Doe"};
  for (auto _ : state) benchmark::DoNotOptimize(snap::decode_json<Customer>(snap::encode_json(customer)));
}
BENCHMARK(BM_Json_Get)->UseRealTime();
BENCHMARK(BM_Json_Post)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  // --log LOG --get EPISODE --post EPISODE (all three or none), then Google Benchmark's flags.
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    fs::path* into = a == "--log" ? &given.log : a == "--get" ? &given.get : a == "--post" ? &given.post : nullptr;
    if (into != nullptr && i + 1 < argc) {
      *into = argv[++i];
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (given.log.empty() != given.get.empty() || given.log.empty() != given.post.empty()) {
    std::cerr << "usage: episode_bench [--log LOG --get EPISODE --post EPISODE] [benchmark flags]\n";
    return 2;
  }
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
