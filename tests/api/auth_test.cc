// Authentication and request metadata: a handler reads its request (headers, path,
// principal) through ctx.request(); a server's authentication runs before every handler
// and answers unauthenticated / permission_denied in the error format; the program's own
// callers send their credentials once per server. One suite over dev's direct calls and
// over HTTP (a --local build replayed in two apps, each persona's secrets read from the
// files the build gave it), then what a client that is not snap (curl) sees; and the
// declarations' errors (ApiServer::publish's too).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>

#include <boost/json.hpp>

#include "../format/log_test_util.h"
#include "raw_http.h"
#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/env.h"
#include "snap/lifecycle.h"
#include "snap/membrane.h"
#include "snap/secrets.h"
#include "test_app.h"

namespace snap::apitest {
namespace {

using ::testing::HasSubstr;

constexpr const char* kAuthApp = "authtest";
constexpr const char* kApiKey = "k-123 secret";
constexpr const char* kOtherKey = "o-456";

// What a handler saw of its request.
struct Seen {
  std::string method;
  std::string path;
  std::string query;
  std::string subject;  // the principal's; "" when there is none
  std::map<std::string, std::string> attributes;
  std::optional<std::string> authorization;  // looked up as "AUTHORIZATION": case does not matter
  std::vector<std::string> header_names;
};
BOOST_DESCRIBE_STRUCT(Seen, (), (method, path, query, subject, attributes, authorization, header_names))

struct Lookup {
  std::string id;
  std::optional<int> n;
};
BOOST_DESCRIBE_STRUCT(Lookup, (), (id, n))

Seen seen(PersonaContext& ctx) {
  const RequestInfo& r = ctx.request();
  Seen s{std::string(r.method()), std::string(r.path()), std::string(r.query()), "", {}, std::nullopt, {}};
  if (const Principal* p = r.principal()) {
    s.subject = p->subject;
    s.attributes = p->attributes;
  }
  if (auto a = r.header("AUTHORIZATION")) s.authorization = std::string(*a);
  for (const Header& h : r.headers()) s.header_names.emplace_back(h.name);
  return s;
}

struct AuthEndpoints {
  ApiServer* keyed = nullptr;
  ApiServer* hooked = nullptr;
  Endpoint<Lookup, Seen> keyed_get;   // GET /seen/{id}?n=
  Endpoint<Lookup, Seen> keyed_post;  // POST /seen, the body
  Endpoint<void, Seen> hooked_get;    // the hook's servers: GET /seen, POST /admin
  Endpoint<void, void> hooked_admin;
  Endpoint<void, Seen> wrong_get;
  Endpoint<void, Seen> bare_get;
};

// Counted by the hook: it must not run for /healthz and /metrics.
std::atomic<int> hook_runs{0};

// The hook of three servers: a caller with the api key is alice, who may read but not
// administer; any other token, or none, is refused.
Principal check_caller(const Secret& api_key, PersonaContext& server, const RequestInfo& request) {
  ++hook_runs;
  EXPECT_EQ(&server.request(), &request);  // the hook sees the request as handlers do
  EXPECT_EQ(request.principal(), nullptr);
  const std::optional<std::string_view> token = request.bearer();
  if (!token) throw ApiError(ErrorCode::kUnauthenticated, "no token");
  if (*token != api_key.value(server)) throw ApiError(ErrorCode::kUnauthenticated, "unknown token");
  if (request.path() == "/admin") throw ApiError(ErrorCode::kPermissionDenied, "alice may read, not administer");
  return Principal{"alice", {{"role", "reader"}}};
}

void define_auth_app(App& app, AuthEndpoints& out) {
  auto& api_key = app.add<Secret>("api-key");
  auto& other_key = app.add<Secret>("other-key");

  auto& keyed = app.add<ApiServer>("keyed");
  keyed.authenticate(bearer_token(api_key));
  out.keyed = &keyed;
  out.keyed_get = keyed.endpoint<Lookup, Seen>("GET", "/seen/{id}", [](PersonaContext& ctx, const Lookup&) { return seen(ctx); });
  out.keyed_post = keyed.endpoint<Lookup, Seen>("POST", "/seen", [](PersonaContext& ctx, const Lookup&) { return seen(ctx); });

  const auto hooked_server = [&](const char* name) -> ApiServer& {
    auto& server = app.add<ApiServer>(name);
    server.authenticate([&api_key](PersonaContext& ctx, const RequestInfo& r) { return check_caller(api_key, ctx, r); });
    server.uses(api_key);  // the hook reads it
    return server;
  };
  auto& hooked = hooked_server("hooked");
  hooked.credentials(bearer_token(api_key));
  out.hooked = &hooked;
  out.hooked_get = hooked.endpoint<void, Seen>("GET", "/seen", [](PersonaContext& ctx) { return seen(ctx); });
  out.hooked_admin = hooked.endpoint<void, void>("POST", "/admin", [] { ADD_FAILURE() << "a denied handler ran"; });
  auto& wrong = hooked_server("wrong");
  wrong.credentials(bearer_token(other_key));
  out.wrong_get = wrong.endpoint<void, Seen>("GET", "/seen", [](PersonaContext& ctx) { return seen(ctx); });
  auto& bare = hooked_server("bare");  // no credentials: its callers send none
  out.bare_get = bare.endpoint<void, Seen>("GET", "/seen", [](PersonaContext& ctx) { return seen(ctx); });

  app.add<Persona>("client", PersonaKind::kCommand, [](PersonaContext&) { return 0; })
      .uses(keyed)
      .uses(hooked)
      .uses(wrong)
      .uses(bare)
      .uses(api_key)
      .uses(other_key);
  // Calls the keyed server without holding its key.
  app.add<Persona>("keyless", PersonaKind::kCommand, [](PersonaContext&) { return 0; }).uses(keyed);
}

const std::vector<std::string> kServers{"keyed", "hooked", "wrong", "bare"};

// The auth app in one process over one transport, as test_app.h's Deployment does.
class AuthDeployment {
 public:
  explicit AuthDeployment(Transport transport) {
    const std::map<std::string, std::string, std::less<>> secrets{{"api-key", kApiKey}, {"other-key", kOtherKey}};
    const DefineApp define = [this](App& app) { define_auth_app(app, endpoints_[&app]); };
    if (transport == Transport::kDev) {
      server_app_ = start_dev_app(kAuthApp, define, real_env(), DevOptions{secrets});
    } else {
      const auto out = dir_ / "out";
      std::filesystem::create_directories(out / "state");
      boost::json::object ports;
      for (const std::string& s : kServers) ports[std::string(kAuthApp) + "." + s + ".port"] = free_port();
      testing::write_file(out / "state/build-state.json", boost::json::serialize(boost::json::object{{"ports", ports}}));
      BuildOptions options;
      options.out_dir = out;
      options.placement = Placement::kLocal;
      options.secrets = secrets;
      build_app(kAuthApp, define, real_env(), options);
      // Each side reads the secret files the build gave its personas, as a container
      // reads /run/secrets: the client's, and the servers' (one app runs all four).
      const auto dir_of = [&](const std::string& persona) {
        return secrets_from_directory(out / "runtime-secrets" / Id::root(kAuthApp).child(persona).safe_name(), real_env());
      };
      std::vector<std::unique_ptr<SecretSource>> server_dirs;
      for (const std::string& s : kServers) server_dirs.push_back(dir_of(s));
      server_secrets_ = secrets_from_chain(std::move(server_dirs));
      client_secrets_ = dir_of("client");
      server_app_ = replay_app(kAuthApp, define, real_env(), {out / "snapshot.snaplog", Mode::kRun, server_secrets_.get()});
      client_app_ = replay_app(kAuthApp, define, real_env(), {out / "snapshot.snaplog", Mode::kRun, client_secrets_.get()});
    }
    App& callers = client_app_ ? *client_app_ : *server_app_;
    start_telemetry(*server_app_, {});
    if (client_app_) start_telemetry(*client_app_, {});
    client_ = std::make_unique<PersonaContext>(callers, *callers.find_persona("client"), std::vector<std::string>{});
    keyless_ = std::make_unique<PersonaContext>(callers, *callers.find_persona("keyless"), std::vector<std::string>{});
    for (const std::string& name : kServers) {
      const Persona* p = server_app_->find_persona(name);
      auto ctx = std::make_unique<PersonaContext>(*server_app_, *p, std::vector<std::string>{});
      threads_.emplace_back([p, c = ctx.get()] { p->run(*c); });
      contexts_.push_back(std::move(ctx));
    }
    const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (std::size_t i = 0; i < kServers.size(); ++i) {
      while (!server_app_->find_persona(kServers[i])->healthy(*contexts_[i])) {
        if (std::chrono::steady_clock::now() > bound) throw std::runtime_error("server did not become healthy");
        std::this_thread::yield();
      }
    }
  }
  ~AuthDeployment() {
    for (auto& c : contexts_) stop_persona(*c);
    for (auto& t : threads_) t.join();
  }

  AuthEndpoints& e() { return endpoints_.at(client_app_ ? client_app_.get() : server_app_.get()); }
  PersonaContext& client() { return *client_; }
  PersonaContext& keyless() { return *keyless_; }

 private:
  testing::TempDir dir_;
  std::map<const App*, AuthEndpoints> endpoints_;
  std::unique_ptr<SecretSource> server_secrets_, client_secrets_;
  std::unique_ptr<App> server_app_, client_app_;
  std::unique_ptr<PersonaContext> client_, keyless_;
  std::vector<std::unique_ptr<PersonaContext>> contexts_;
  std::vector<std::thread> threads_;
};

AuthDeployment& deployment(Transport transport) {
  static std::map<Transport, std::unique_ptr<AuthDeployment>> deployments;
  auto& d = deployments[transport];
  if (!d) d = std::make_unique<AuthDeployment>(transport);
  return *d;
}

class Auth : public ::testing::TestWithParam<Transport> {
 protected:
  AuthEndpoints& e() { return deployment(GetParam()).e(); }
  PersonaContext& client() { return deployment(GetParam()).client(); }
};

INSTANTIATE_TEST_SUITE_P(Api, Auth, ::testing::Values(Transport::kDev, Transport::kHttp),
                         [](const auto& info) { return to_string(info.param); });

// The error a call ends in, as "code: message".
template <typename Call>
std::string failure_of(Call call) {
  try {
    call();
  } catch (const ApiError& err) {
    return std::string(to_string(err.code())) + ": " + err.message();
  }
  return "no error";
}

TEST_P(Auth, ABearerTokenFromTheCallersSecretReachesTheHandlerWithItsPrincipal) {
  const Seen got = e().keyed_get(client(), Lookup{"a b", 7});
  EXPECT_EQ(got.method, "GET");
  EXPECT_EQ(got.path, "/seen/a%20b");
  EXPECT_EQ(got.query, "n=7");
  EXPECT_EQ(got.subject, "api-key");  // the secret's name
  EXPECT_EQ(got.authorization, std::string("Bearer ") + kApiKey);
}

// Dev behaves as deployed: a handler sees the headers the HTTP client sends, in its order.
TEST_P(Auth, AHandlerSeesTheHeadersADeployedCallCarries) {
  EXPECT_EQ(e().keyed_get(client(), Lookup{"x", std::nullopt}).header_names,
            (std::vector<std::string>{"Host", "traceparent", "Authorization", "Snap-Build"}));
  const Seen posted = e().keyed_post(client(), Lookup{"x", 1});
  EXPECT_EQ(posted.header_names,
            (std::vector<std::string>{"Host", "Content-Type", "traceparent", "Authorization", "Snap-Build",
                                      "Content-Length"}));
  EXPECT_EQ(posted.query, "");
  EXPECT_EQ(e().bare_get.server().id().name(), "bare");
}

TEST_P(Auth, AHookGivesThePrincipalItReturns) {
  const Seen got = e().hooked_get(client());
  EXPECT_EQ(got.subject, "alice");
  EXPECT_EQ(got.attributes, (std::map<std::string, std::string>{{"role", "reader"}}));
  EXPECT_EQ(got.authorization, std::string("Bearer ") + kApiKey);
}

TEST_P(Auth, NoTokenIsUnauthenticated) {
  EXPECT_EQ(failure_of([&] { e().bare_get(client()); }), "unauthenticated: no token");
}

TEST_P(Auth, AWrongTokenIsUnauthenticated) {
  EXPECT_EQ(failure_of([&] { e().wrong_get(client()); }), "unauthenticated: unknown token");
}

TEST_P(Auth, AHookThatDeniesIsPermissionDeniedAndTheHandlerDoesNotRun) {
  EXPECT_EQ(failure_of([&] { e().hooked_admin(client()); }), "permission_denied: alice may read, not administer");
}

// Who sends a secret must hold it: a caller of the keyed server that does not use the key
// is told so before anything is sent, in dev as deployed.
TEST_P(Auth, ACallerThatDoesNotUseTheTokensSecretIsAUsesError) {
  try {
    e().keyed_get(deployment(GetParam()).keyless(), Lookup{"x", std::nullopt});
    FAIL() << "called without the key";
  } catch (const UsesError& err) {
    EXPECT_THAT(err.what(), HasSubstr("persona keyless (authtest.keyless) calls authtest.keyed, whose callers send the "
                                      "bearer token authtest.api-key (Secret), and does not use it, reached at "));
    EXPECT_THAT(err.what(), HasSubstr("auth_test.cc:"));
    EXPECT_THAT(err.what(), HasSubstr(": declare it at startup with .uses(api-key) on the persona, so that it receives "
                                      "the secret"));
  }
}

TEST_P(Auth, RequestOutsideAHandlerIsALogicError) {
  try {
    client().request();
    FAIL() << "a request outside any handler";
  } catch (const std::logic_error& err) {
    EXPECT_STREQ(err.what(),
                 "ctx.request(): persona authtest.client is not handling a request on this thread: call it from an "
                 "endpoint handler (or an authentication hook), on the thread that runs it");
  }
}

// ---- what a client that is not snap sees ----

class AuthOverHttp : public ::testing::Test {
 protected:
  AuthDeployment& d() { return deployment(Transport::kHttp); }
  std::string get(const ApiServer* server, const std::string& target, const std::string& headers = "") {
    return raw_exchange(server->port().number(),
                        "GET " + target + " HTTP/1.1\r\nHost: x\r\n" + headers + "Connection: close\r\n\r\n");
  }
};

std::string body_of(const std::string& response) { return response.substr(response.find("\r\n\r\n") + 4); }

TEST_F(AuthOverHttp, NoCredentialsIs401WithABearerChallenge) {
  const std::string r = get(d().e().keyed, "/seen/x");
  EXPECT_THAT(r, ::testing::StartsWith("HTTP/1.1 401 Unauthorized\r\n"));
  EXPECT_THAT(r, HasSubstr("\r\nWWW-Authenticate: Bearer\r\n"));
  EXPECT_EQ(body_of(r),
            R"({"code":"unauthenticated","message":"no credentials: send the header Authorization: Bearer TOKEN"})");
}

TEST_F(AuthOverHttp, AnotherSchemeIs401) {
  const std::string r = get(d().e().keyed, "/seen/x", "Authorization: Basic dXNlcjpwYXNz\r\n");
  EXPECT_THAT(r, ::testing::StartsWith("HTTP/1.1 401 Unauthorized\r\n"));
  EXPECT_EQ(body_of(r), R"({"code":"unauthenticated","message":"the Authorization header is not Bearer TOKEN"})");
}

TEST_F(AuthOverHttp, AWrongTokenIs401AndNeverEchoed) {
  for (const std::string token : {"k-123 secreT", "k-123", "k-123 secret!", "x"}) {
    const std::string r = get(d().e().keyed, "/seen/x", "Authorization: Bearer " + token + "\r\n");
    EXPECT_THAT(r, ::testing::StartsWith("HTTP/1.1 401 Unauthorized\r\n")) << token;
    EXPECT_EQ(body_of(r), R"({"code":"unauthenticated","message":"the bearer token is not valid"})") << token;
  }
}

// The scheme is case-insensitive (RFC 9110 §11.1); the token is exact.
TEST_F(AuthOverHttp, TheRightTokenIsServedAndTheHandlerSeesTheCallersHeaders) {
  const std::string r =
      get(d().e().keyed, "/seen/y?n=2", std::string("authorization: bearer ") + kApiKey + "\r\nX-Request-Id: r-1\r\n");
  ASSERT_THAT(r, ::testing::StartsWith("HTTP/1.1 200 OK\r\n"));
  const Seen got = decode_json<Seen>(body_of(r));
  EXPECT_EQ(got.subject, "api-key");
  EXPECT_EQ(got.path, "/seen/y");
  EXPECT_EQ(got.header_names, (std::vector<std::string>{"Host", "authorization", "X-Request-Id", "Connection"}));
}

TEST_F(AuthOverHttp, ADeniedRequestIs403WithoutAChallenge) {
  const std::string r = raw_exchange(d().e().hooked->port().number(),
                                     std::string("POST /admin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ") + kApiKey +
                                         "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(r, ::testing::StartsWith("HTTP/1.1 403 Forbidden\r\n"));
  EXPECT_EQ(r.find("WWW-Authenticate"), std::string::npos);
  EXPECT_EQ(body_of(r), R"({"code":"permission_denied","message":"alice may read, not administer"})");
}

// Authentication comes before binding: an unauthenticated caller learns nothing of what
// the request should hold.
TEST_F(AuthOverHttp, AnUnauthenticatedBadRequestIs401Not400) {
  const std::string r = raw_exchange(d().e().keyed->port().number(),
                                     "POST /seen HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{x}");
  EXPECT_THAT(r, ::testing::StartsWith("HTTP/1.1 401 Unauthorized\r\n"));
}

// /healthz and /metrics keep their own rules: the healthcheck needs no credentials, and
// the hook does not run for them.
TEST_F(AuthOverHttp, TheHookDoesNotRunForHealthOrMetrics) {
  const int before = hook_runs.load();
  EXPECT_THAT(get(d().e().hooked, "/healthz"), ::testing::StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(get(d().e().hooked, "/metrics"), ::testing::StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(get(d().e().keyed, "/healthz"), ::testing::StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(hook_runs.load(), before);
  EXPECT_THAT(get(d().e().hooked, "/seen"), ::testing::StartsWith("HTTP/1.1 401 Unauthorized\r\n"));
  EXPECT_EQ(hook_runs.load(), before + 1);
}

// ---- declarations ----

App& startup_app(std::unique_ptr<App>& holder, const DefineApp& define) {
  holder = start_dev_app("declared", define, real_env(), DevOptions{{{"j", "w"}}});
  return *holder;
}

std::string startup_error(const DefineApp& define) {
  std::unique_ptr<App> app;
  try {
    startup_app(app, define);
  } catch (const std::invalid_argument& err) {
    return err.what();
  }
  return "no error";
}

TEST(AuthDeclarations, OneAuthenticationPerServerAndCredentialsOnlyWhereTheyAreNotImplied) {
  EXPECT_EQ(startup_error([](App& app) {
              auto& k = app.add<Password>("k");
              app.add<ApiServer>("api").authenticate(bearer_token(k)).authenticate([](const RequestInfo&) {
                return Principal{};
              });
            }),
            "ApiServer declared.api: authenticate() declared twice: a server has one authentication");
  EXPECT_EQ(startup_error([](App& app) {
              auto& k = app.add<Password>("k");
              app.add<ApiServer>("api").authenticate(bearer_token(k)).credentials(bearer_token(k));
            }),
            "ApiServer declared.api: credentials(): it authenticates with bearer_token(declared.k), which its callers in "
            "this program send already");
  EXPECT_EQ(startup_error([](App& app) {
              auto& k = app.add<Password>("k");
              app.add<ApiServer>("api").credentials(bearer_token(k)).authenticate(bearer_token(k));
            }),
            "ApiServer declared.api: authenticate(): credentials() was declared first, and a server that checks a "
            "bearer token has its callers send that token: remove credentials()");
  EXPECT_EQ(startup_error([](App& app) {
              auto& k = app.add<Password>("k");
              auto& j = app.add<Secret>("j");
              app.add<ApiServer>("api").credentials(bearer_token(k)).credentials(bearer_token(j));
            }),
            "ApiServer declared.api: credentials() declared twice");
}

// The server checks the token, so it receives the secret without saying so; the manifest
// says how it authenticates (and nothing for a server that does not).
TEST(AuthDeclarations, ABearerCheckUsesItsSecretAndIsInTheManifest) {
  std::unique_ptr<App> app;
  ApiServer* keyed = nullptr;
  ApiServer* hooked = nullptr;
  ApiServer* open = nullptr;
  startup_app(app, [&](App& a) {
    auto& k = a.add<Password>("k");
    a.add<Secret>("j");
    keyed = &a.add<ApiServer>("keyed").authenticate(bearer_token(k));
    hooked = &a.add<ApiServer>("hooked").authenticate([](const RequestInfo&) { return Principal{"x", {}}; });
    open = &a.add<ApiServer>("open");
  });
  EXPECT_EQ(app->secrets_for(*keyed), (std::vector<std::string>{"k"}));
  EXPECT_EQ(keyed->config().at("authentication"), "bearer_token");
  EXPECT_EQ(hooked->config().at("authentication"), "hook");
  EXPECT_EQ(open->config().if_contains("authentication"), nullptr);
  try {
    keyed->authenticate([](const RequestInfo&) { return Principal{}; });
    FAIL() << "authenticate() after startup";
  } catch (const PhaseError&) {
  }
}

// The server reads its token when it starts: a container without the secret file stops
// there, naming the secret, rather than refusing every request.
TEST(AuthDeclarations, AServerWithoutItsTokensSecretDoesNotStart) {
  testing::TempDir dir;
  const DefineApp define = [](App& app) {
    auto& k = app.add<Secret>("k");
    app.add<ApiServer>("api").authenticate(bearer_token(k));
  };
  BuildOptions options;
  options.out_dir = dir / "out";
  options.placement = Placement::kLocal;
  options.secrets = {{"k", "v"}};
  build_app("unkeyed", define, real_env(), options);
  const auto app = replay_app("unkeyed", define, real_env(), {dir / "out/snapshot.snaplog", Mode::kRun, nullptr});
  PersonaContext ctx(*app, *app->find_persona("api"), {});
  try {
    ctx.persona().run(ctx);
    FAIL() << "the server started without its token";
  } catch (const SecretUnavailable& err) {
    EXPECT_STREQ(err.what(), "secret \"k\" of unkeyed.k has no value for persona api (looked in no secret source)");
  }
}

// ApiServer::publish: a host port in the manifest, which deployment publishes as it does
// `build --publish` (tests/deploy/deploy_plan_test.cc compares the files).
TEST(PublishDeclaration, APublishedPortIsInTheManifestOnceAndNeverZero) {
  std::unique_ptr<App> app;
  ApiServer* published = nullptr;
  ApiServer* internal = nullptr;
  startup_app(app, [&](App& a) {
    a.add<Secret>("j");
    published = &a.add<ApiServer>("api").publish(8080);
    internal = &a.add<ApiServer>("internal");
  });
  EXPECT_EQ(published->config().at("publish"), 8080);
  EXPECT_EQ(internal->config().if_contains("publish"), nullptr);
  EXPECT_EQ(startup_error([](App& a) { a.add<ApiServer>("api").publish(0); }),
            "ApiServer declared.api: publish(0): a port is from 1 to 65535");
  EXPECT_EQ(startup_error([](App& a) { a.add<ApiServer>("api").publish(8080).publish(8081); }),
            "ApiServer declared.api: publish(8081): already published on 8080");
}

}  // namespace
}  // namespace snap::apitest
