// Startup, shared by every mode, and dev mode (startup live, all personas in-process).
#include <boost/json.hpp>

#include "lifecycle_private.h"
#include "snap/determinism_guard.h"
#include "snap/membrane.h"
#include "snap/persona.h"
#include "snap/env.h"
#include "snap/text.h"

namespace snap {

namespace {
constexpr std::string_view kPlacementKey = "snap.placement";
}  // namespace

const NoSecretsAtStartup& NoSecretsAtStartup::instance() {
  static const NoSecretsAtStartup source;
  return source;
}

std::string_view to_string(Placement placement) {
  switch (placement) {
    case Placement::kContainers: return "containers";
    case Placement::kLocal: return "local";
  }
  return "?";
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string s;
  for (const auto& x : items) {
    if (!s.empty()) s += separator;
    s += x;
  }
  return s;
}

std::unique_ptr<App::Private> private_for(Mode mode, Env& env) {
  auto p = std::make_unique<App::Private>();
  p->mode = mode;
  p->system = &env;
  return p;
}

void run_startup(App& app, const DefineApp& define, const std::function<std::string()>& read_real,
                 Placement placement) {
  App::Private& p = AppAccess::of(app);
  // The library's own first event: the build state, with where this build's personas run.
  const std::string text = app.membrane().call("build-state", "load", "", [&](std::string_view) {
    boost::system::error_code ec;
    boost::json::value state = boost::json::parse(read_real(), ec);
    if (ec || !state.is_object()) throw std::runtime_error("the build state is not a JSON object");
    state.as_object()[kPlacementKey] = to_string(placement);
    return boost::json::serialize(state);
  });
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(text, ec);
  if (ec || !parsed.is_object()) throw std::runtime_error("build state is not a JSON object: " + text.substr(0, 80));
  for (auto& [key, value] : parsed.as_object()) app.build_state().set(key, value);
  const auto recorded = app.build_state().get(kPlacementKey);
  // The one reading of the placement: every component asks the environment chosen here.
  const Placement recorded_placement = recorded && recorded->is_string() && recorded->as_string() == "local"
                                           ? Placement::kLocal
                                           : Placement::kContainers;
  p.environment = make_environment(p.mode, recorded_placement);
  {
    DeterminismGuard guard;
    define(app);
    guard.check();
  }
  // Two personas with one service name would be one compose service and one host name.
  std::map<std::string, const Persona*> services;
  for (const Persona* persona : app.personas()) {
    auto [it, fresh] = services.emplace(persona->id().service_name(), persona);
    if (!fresh) {
      throw std::invalid_argument("personas " + it->second->id().str() + " and " + persona->id().str() +
                                  " have one service name, \"" + it->first + "\"; rename one");
    }
  }
}

void check_required_secrets(App::Private& p) {
  for (const std::string& name : p.required_secrets) {
    auto value = p.known_secrets.get(name);
    if (!value) {
      throw SecretUnavailable("secret \"" + name + "\" has no value: supply --secret " + name + "=VALUE or set $" +
                              env_name_for_secret("SNAP_SECRET_", name));
    }
    if (value->empty()) {
      throw SecretUnavailable("secret \"" + name + "\" is empty: supply a value with --secret " + name + "=VALUE");
    }
  }
}

// A --secret naming no declared snap::Secret would go unused, and a typo would leave the
// secret it meant unset (or set from elsewhere): refused, naming the declared ones.
void check_supplied_secrets_declared(const App::Private& p) {
  for (const auto& [name, value] : p.supplied_secrets) {
    if (p.required_secrets.count(name)) continue;
    const std::vector<std::string> declared(p.required_secrets.begin(), p.required_secrets.end());
    throw UsageError("--secret " + printable(name) + "=...: the program declares no such secret; declared secrets: " +
                     (declared.empty() ? std::string("(none)") : join(declared)));
  }
}

// ---- dev ----

std::unique_ptr<App> start_dev_app(std::string_view name, const DefineApp& define, Env& env,
                                   const DevOptions& options) {
  auto p = private_for(Mode::kDev, env);
  p->supplied_secrets = options.secrets;
  // Startup gets its own live membrane, closed when startup ends, as in every other mode.
  p->startup_membrane = std::make_unique<LiveMembrane>(env, NoSecretsAtStartup::instance());
  p->live_membrane = std::make_unique<LiveMembrane>(env, p->known_secrets);
  auto app = AppAccess::make(name, std::move(p));
  run_startup(*app, define, [] { return std::string("{}"); }, Placement::kLocal);
  App::Private& priv = AppAccess::of(*app);
  check_supplied_secrets_declared(priv);
  check_required_secrets(priv);
  priv.end_startup(Phase::kRuntime);
  return app;
}

}  // namespace snap
