// The samples of authentication and request metadata -- snap/request.h's and
// snap/api_auth.h's comments (checked by check_header_samples.py) and docs/api.md's
// "Request headers", "Authentication" and "Published ports" -- verbatim inside small
// programs run in dev.
#include <gtest/gtest.h>

#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "../support/fake_system.h"
#include "snap/api_auth.h"
#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/key_value_store.h"
#include "snap/lifecycle.h"
#include "snap/password.h"
#include "snap/persona.h"
#include "snap/request.h"

namespace {

// Runs the server personas on threads while `client` runs on the calling thread; its exit status.
int run_beside(snap::App& app, const std::vector<const char*>& servers, const char* client) {
  std::vector<std::unique_ptr<snap::PersonaContext>> contexts;
  std::vector<std::thread> threads;
  for (const char* server : servers) {
    contexts.push_back(std::make_unique<snap::PersonaContext>(app, *app.find_persona(server), std::vector<std::string>{}));
    threads.emplace_back([ctx = contexts.back().get()] { ctx->persona().run(*ctx); });
  }
  snap::PersonaContext ctx(app, *app.find_persona(client), {});
  const int status = ctx.persona().run(ctx);
  for (auto& c : contexts) snap::stop_persona(*c);
  for (auto& t : threads) t.join();
  return status;
}

// ---- replay/include/snap/request.h and docs/api.md, "Request headers" ----------------
std::string who_called;
void define_whoami(snap::App& app) {
  auto& api = app.add<snap::ApiServer>("api");
  auto whoami =
  api.endpoint<void, std::string>("GET", "/whoami", [](snap::PersonaContext& ctx) {
    const snap::RequestInfo& request = ctx.request();
    const std::string agent(request.header("user-agent").value_or("?"));  // case-insensitive
    const snap::Principal* who = request.principal();                       // set by authenticate()
    return (who ? who->subject : std::string("anonymous")) + " via " + agent;
  });
  app.add<snap::Persona>("client", snap::PersonaKind::kCommand, [whoami](snap::PersonaContext& ctx) {
    who_called = whoami(ctx);
    return 0;
  }).uses(api);
}

TEST(auth_samples, AHandlerReadsItsRequest) {
  snap::testing::FakeSystem system;
  auto app = snap::start_dev_app("whoami", define_whoami, system, {});
  EXPECT_EQ(run_beside(*app, {"api"}, "client"), 0);
  EXPECT_EQ(who_called, "anonymous via ?");  // a typed call sends no User-Agent
}

// ---- components/api/include/snap/api_auth.h ------------------------------------------
std::string answered;
void define_header_sample(snap::App& app) {
  auto& client_token = app.add<snap::Secret>("client-token");
  auto& auth = app.add<snap::ApiServer>("auth");
  auth.authenticate([](const snap::RequestInfo& request) -> snap::Principal {
    if (request.bearer() != "let me in") throw snap::ApiError(snap::ErrorCode::kUnauthenticated, "no");
    return snap::Principal{"guest", {}};
  });
  auth.credentials(snap::bearer_token(client_token));      // what the program's callers send
  auto guest = auth.endpoint<void, std::string>("GET", "/who", [](snap::PersonaContext& ctx) {
    return ctx.request().principal()->subject;
  });

  auto& client = app.add<snap::Persona>("client", snap::PersonaKind::kCommand, [guest](snap::PersonaContext& ctx) {
    answered = guest(ctx);
    return 0;
  });
  auto& api_key = app.add<snap::Secret>("api-key");      // build --secret api-key=...
  auto& api = app.add<snap::ApiServer>("api");
  api.authenticate(snap::bearer_token(api_key));          // Authorization: Bearer <api-key>
  client.uses(api).uses(api_key);                         // the client sends it, so holds it
  client.uses(auth).uses(client_token);
}

TEST(auth_samples, TheHeadersSamplesAuthenticate) {
  snap::testing::FakeSystem system;
  auto app = snap::start_dev_app("header", define_header_sample, system,
                                 snap::DevOptions{{{"api-key", "k"}, {"client-token", "let me in"}}});
  EXPECT_EQ(run_beside(*app, {"api", "auth"}, "client"), 0);
  EXPECT_EQ(answered, "guest");
}

// ---- docs/api.md, "Authentication": a bearer token ------------------------------------
void define_bearer(snap::App& app) {
auto& api_key = app.add<snap::Secret>("api-key");
auto& api = app.add<snap::ApiServer>("api");
api.authenticate(snap::bearer_token(api_key));   // every request: Authorization: Bearer <api-key>
auto get_report = api.endpoint<void, std::string>("GET", "/api/report", [](snap::PersonaContext& ctx) {
  return "for " + ctx.request().principal()->subject;      // "api-key": the secret's name
});
app.add<snap::Persona>("reporter", snap::PersonaKind::kCommand, [get_report](snap::PersonaContext& ctx) {
  std::cout << get_report(ctx) << "\n";                    // sends the token itself
  return 0;
}).uses(api).uses(api_key);                                 // so it holds the secret
}

TEST(auth_samples, ABearerTokenFromASecret) {
  snap::testing::FakeSystem system;
  auto app = snap::start_dev_app("bearer", define_bearer, system, snap::DevOptions{{{"api-key", "s3cret"}}});
  testing::internal::CaptureStdout();
  const int status = run_beside(*app, {"api"}, "reporter");
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "for api-key\n");
  EXPECT_EQ(status, 0);
}

// ---- docs/api.md, "Authentication": a hook --------------------------------------------
std::vector<std::string> outcomes;
void define_hook(snap::App& app) {
  auto& service_token = app.add<snap::Secret>("service-token");
  auto& api = app.add<snap::ApiServer>("api");
auto& tokens = api.add<snap::KeyValueStore>("tokens");     // token -> user name
api.uses(tokens);
api.authenticate([&tokens](snap::PersonaContext& ctx, const snap::RequestInfo& request) {
  const auto token = request.bearer();
  if (!token) throw snap::ApiError(snap::ErrorCode::kUnauthenticated, "no token");
  const auto user = tokens.open(ctx).get(std::string(*token));
  if (!user) throw snap::ApiError(snap::ErrorCode::kUnauthenticated, "unknown token");
  if (request.method() != "GET" && user->as_string() == "guest") {
    throw snap::ApiError(snap::ErrorCode::kPermissionDenied, "guests may only read");
  }
  return snap::Principal{std::string(user->as_string()), {}};
});
api.credentials(snap::bearer_token(service_token));     // what this program's callers send
  auto read = api.endpoint<void, std::string>("GET", "/read", [](snap::PersonaContext& ctx) {
    return ctx.request().principal()->subject;
  });
  auto write = api.endpoint<void, void>("POST", "/write", [] {});
  auto seed = api.endpoint<void, void>("PUT", "/seed", [] {});
  // Stands in for whoever hands out tokens: the service's token is a guest's.
  app.add<snap::Persona>("issuer", snap::PersonaKind::kCommand, [&tokens, &service_token](snap::PersonaContext& ctx) {
    tokens.open(ctx).set(service_token.value(ctx), "guest");
    return 0;
  }).uses(tokens).uses(service_token);
  app.add<snap::Persona>("client", snap::PersonaKind::kCommand, [read, write, seed](snap::PersonaContext& ctx) {
    outcomes.push_back(read(ctx));
    for (const auto& call : {std::function<void()>([&] { write(ctx); }), std::function<void()>([&] { seed(ctx); })}) {
      try {
        call();
        outcomes.push_back("ok");
      } catch (const snap::ApiError& e) {
        outcomes.push_back(e.what());
      }
    }
    return 0;
  }).uses(api).uses(service_token);
}

TEST(auth_samples, AHookLooksTokensUpInAStore) {
  snap::testing::FakeSystem system;
  auto app = snap::start_dev_app("hook", define_hook, system, snap::DevOptions{{{"service-token", "t-1"}}});
  EXPECT_EQ(run_beside(*app, {}, "issuer"), 0);
  EXPECT_EQ(run_beside(*app, {"api"}, "client"), 0);
  EXPECT_EQ(outcomes, (std::vector<std::string>{"guest", "permission_denied: guests may only read",
                                                "permission_denied: guests may only read"}));
}

// ---- docs/api.md, "Published ports" -----------------------------------------------------
TEST(auth_samples, PublishIsInTheManifest) {
  snap::testing::FakeSystem system;
  auto app = snap::start_dev_app("published", [](snap::App& app) {
    auto& api = app.add<snap::ApiServer>("api");
    api.publish(8080);
  }, system, {});
  EXPECT_EQ(app->find_persona("api")->config().at("publish"), 8080);
}

}  // namespace
