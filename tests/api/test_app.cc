#include "test_app.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <limits>
#include <stdexcept>

#include <boost/json.hpp>

namespace snap::apitest {

bool operator==(const Address& a, const Address& b) { return a.city == b.city && a.zip == b.zip; }
bool operator==(const Person& a, const Person& b) {
  return a.name == b.name && a.age == b.age && a.admin == b.admin && a.score == b.score && a.tags == b.tags &&
         a.address == b.address && a.past == b.past && a.rank == b.rank;
}

std::string to_string(Transport t) { return t == Transport::kDev ? "Dev" : "Http"; }

void define_test_app(App& app, Endpoints& out, Shared& shared) {
  Shared* s = &shared;
  auto& api = app.add<ApiServer>("api");
  out.api = &api;
  out.echo = api.endpoint<Person, Person>("POST", "/echo", [](const Person& p) { return p; });
  out.zeros = api.endpoint<void, Person>("GET", "/zeros", [] {
    Person p;
    p.rank = 0;
    p.address.zip = "";
    return p;
  });
  out.text = api.endpoint<std::string, std::string>("POST", "/text", [](const std::string& t) { return t + t; });
  out.record = api.endpoint<Note, void>("POST", "/notes", [s](const Note& n) {
    std::lock_guard lock(s->mutex);
    s->notes.push_back(n.text);
  });
  out.recorded = api.endpoint<void, std::vector<std::string>>("GET", "/notes", [s] {
    std::lock_guard lock(s->mutex);
    return s->notes;
  });
  out.fail = api.endpoint<Failure, void>("POST", "/fail", [](const Failure& f) {
    throw ApiError(error_code_from_string(f.code).value(), f.message);
  });
  out.crash = api.endpoint<void, void>("POST", "/crash", [] { throw std::runtime_error("database password is hunter2"); });
  out.store_fail = api.endpoint<Failure, void>("POST", "/store-fail", [](const Failure& f) {
    using C = StoreError::Code;
    const std::map<std::string, C> codes{{"conversion", C::kConversion}, {"invalid_argument", C::kInvalidArgument},
                                         {"unavailable", C::kUnavailable}, {"conflict", C::kConflict},
                                         {"in_doubt", C::kInDoubt},         {"backend", C::kBackend},
                                         {"already_exists", C::kAlreadyExists}};
    throw StoreError(codes.at(f.code), f.message);
  });
  out.store_has = api.endpoint<std::string, bool>("POST", "/store-has",
                                                  [s](const std::string& key) { return s->store->has(key); });
  out.strict = api.endpoint<Strict, int>("POST", "/strict", [](const Strict& x) { return x.count; });
  out.whoami = api.endpoint<void, std::string>("GET", "/whoami",
                                               [](PersonaContext& ctx) { return ctx.persona().id().str(); });
  out.slow = api.endpoint<void, std::string>("POST", "/slow", [s] {
    std::unique_lock lock(s->mutex);
    s->slow_entered = true;
    s->changed.notify_all();
    s->changed.wait(lock, [s] { return s->slow_released; });
    return std::string("finished");
  });
  out.infinite = api.endpoint<void, Person>("GET", "/infinite", [] {
    Person p;
    p.score = std::numeric_limits<double>::infinity();
    return p;
  });

  ApiServerOptions tight_options;
  tight_options.body_limit = kTightBodyLimit;
  tight_options.header_limit = kTightHeaderLimit;
  tight_options.max_connections = kTightMaxConnections;
  tight_options.body_budget = kTightBodyBudget;
  tight_options.request_timeout = std::chrono::milliseconds(1'000);
  tight_options.threads = 2;
  auto& tight = app.add<ApiServer>("tight", tight_options);
  out.tight = &tight;
  out.get_item = api.endpoint<Item, Item>("GET", "/items/{id}", [](const Item& i) { return i; });
  out.get_item_me = api.endpoint<void, std::string>("GET", "/items/me", [] { return std::string("me"); });
  out.put_item = api.endpoint<ItemTags, ItemTags>("PUT", "/items/{id}", [](const ItemTags& i) { return i; });
  out.delete_count = api.endpoint<Count, std::int64_t>("DELETE", "/counts/{n}", [](const Count& c) { return -c.n; });
  out.tight_echo = tight.endpoint<Person, Person>("POST", "/echo", [](const Person& p) { return p; });
  out.tight_ping = tight.endpoint<void, std::string>("GET", "/ping", [] { return std::string("pong"); },
                                                     EndpointOptions{.idempotent = true});

  app.add<Persona>("client", PersonaKind::kCommand, [](PersonaContext&) { return 0; }).uses(api).uses(tight);
  app.add<Persona>("stranger", PersonaKind::kCommand, [](PersonaContext&) { return 0; });
}

unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::runtime_error("free_port: cannot bind a socket");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

void raise_fd_limit(rlim_t wanted) {
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  if (r.rlim_cur >= wanted) return;
  r.rlim_cur = std::min(wanted, r.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &r);
}

Deployment::Deployment(Transport transport, bool run_servers) : transport_(transport) {
  const DefineApp define = [this](App& app) {
    auto e = std::make_unique<Endpoints>();
    define_test_app(app, *e, shared_);
    endpoints_[&app] = std::move(e);
  };
  if (transport == Transport::kDev) {
    owned_server_app_ = start_dev_app(kAppName, define, *system_, {});
    server_app_ = client_app_ = owned_server_app_.get();
  } else {
    // Ports chosen by the kernel, seeded into the build state: tests run in parallel.
    const auto out = dir_ / "out";
    std::filesystem::create_directories(out / "state");
    boost::json::object ports{{std::string(kAppName) + ".api.port", free_port()},
                              {std::string(kAppName) + ".tight.port", free_port()}};
    testing::write_file(out / "state/build-state.json", boost::json::serialize(boost::json::object{{"ports", ports}}));
    BuildOptions options;
    options.out_dir = out;
    options.placement = Placement::kLocal;
    build_app(kAppName, define, *system_, options);
    ReplayOptions replay{out / "snapshot.snaplog", Mode::kRun, nullptr};
    owned_server_app_ = replay_app(kAppName, define, *system_, replay);
    owned_client_app_ = replay_app(kAppName, define, *system_, replay);
    server_app_ = owned_server_app_.get();
    client_app_ = owned_client_app_.get();
  }
  // Spans kept in memory, as in dev: the tracing tests read them.
  TelemetryOptions telemetry;
  telemetry.keep_recent = true;
  start_telemetry(*server_app_, telemetry);
  if (client_app_ != server_app_) start_telemetry(*client_app_, telemetry);
  client_ctx_ = std::make_unique<PersonaContext>(*client_app_, *client_app_->find_persona("client"),
                                                 std::vector<std::string>{});
  stranger_ctx_ = std::make_unique<PersonaContext>(*client_app_, *client_app_->find_persona("stranger"),
                                                   std::vector<std::string>{});
  if (!run_servers) return;
  for (const char* name : {"api", "tight"}) {
    Running r;
    r.persona = server_app_->find_persona(name);
    r.ctx = std::make_unique<PersonaContext>(*server_app_, *r.persona, std::vector<std::string>{});
    running_.push_back(std::move(r));
  }
  for (auto& r : running_) {
    r.thread = std::thread([p = r.persona, ctx = r.ctx.get()] { p->run(*ctx); });
  }
  // Ready when each server answers its health check (bounded: a server that cannot
  // start fails the test instead of hanging it).
  const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (auto& r : running_) {
    while (!r.persona->healthy(*r.ctx)) {
      if (std::chrono::steady_clock::now() > bound) throw std::runtime_error("server did not become healthy");
      std::this_thread::yield();
    }
  }
}

Deployment::~Deployment() {
  {
    std::lock_guard lock(shared_.mutex);
    shared_.slow_released = true;  // a handler still blocked would hold the stop
  }
  shared_.changed.notify_all();
  stop_servers();
}

void Deployment::stop_servers() {
  for (auto& r : running_) {
    stop_persona(*r.ctx);
  }
  for (auto& r : running_) {
    if (r.thread.joinable()) r.thread.join();
  }
}

unsigned short Deployment::api_port() const { return endpoints_.at(server_app_)->api->port().number(); }
unsigned short Deployment::tight_port() const { return endpoints_.at(server_app_)->tight->port().number(); }

Deployment& shared_deployment(Transport transport) {
  static std::map<Transport, std::unique_ptr<Deployment>> deployments;
  auto& d = deployments[transport];
  if (!d) d = std::make_unique<Deployment>(transport);
  return *d;
}

}  // namespace snap::apitest
