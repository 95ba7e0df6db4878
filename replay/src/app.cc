#include "snap/app.h"
#include "snap/episode.h"

#include <algorithm>
#include <map>

#include <boost/json.hpp>

#include "lifecycle_private.h"
#include "snap/persona.h"
#include "snap/determinism_guard.h"
#include "snap/env.h"
#include "snap/reach.h"

namespace snap {

std::string_view to_string(PersonaKind kind) {
  switch (kind) {
    case PersonaKind::kNone: return "";
    case PersonaKind::kDaemon: return "daemon";
    case PersonaKind::kCommand: return "command";
    case PersonaKind::kJob: return "job";
  }
  return "";
}

std::string_view to_string(Mode mode) {
  switch (mode) {
    case Mode::kBuild: return "build";
    case Mode::kRun: return "run";
    case Mode::kDev: return "dev";
    case Mode::kVerify: return "verify";
  }
  return "?";
}

std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::kStartup: return "startup";
    case Phase::kBuildActions: return "build actions";
    case Phase::kRuntime: return "runtime";
    case Phase::kFinished: return "finished";
  }
  return "?";
}

namespace {
std::string site(const std::source_location& w) { return std::string(w.file_name()) + ":" + std::to_string(w.line()); }
}  // namespace

// ---- Component ----

Component::Component(const Init& init, std::string type)
    : app_(init.app), parent_(init.parent), id_(init.id), type_(std::move(type)), where_(init.where) {}

Component::~Component() = default;

Component& Component::uses(const Component& other) {
  app_->assert_startup();
  if (std::find(uses_.begin(), uses_.end(), &other) == uses_.end()) uses_.push_back(&other);
  return *this;
}

namespace {
// What Component::scope adds: no behaviour, no config, only a place in the Id tree.
class Scope final : public Component {
 public:
  explicit Scope(const Init& init) : Component(init, "Scope") {}
};
}  // namespace

Component& Component::scope(Name name) { return add<Scope>(name); }

Component::Init Component::child_init(const Name& name) {
  if (name.value.find('\0') != std::string_view::npos) {
    // A NUL would cut file names (secrets, state) short and make two ids collide.
    throw std::invalid_argument("component name under " + id_.str() + " at " + site(name.where) +
                                " contains a NUL byte");
  }
  Id id = id_.child(name.value);
  App::Private& p = app_->internals();
  if (p.phase != Phase::kStartup) {
    throw PhaseError("cannot add component " + id.str() + " at " + site(name.where) +
                     ": components are created during startup only (the program is in " +
                     std::string(to_string(p.phase)) + ")");
  }
  if (auto it = p.created_at.find(id.str()); it != p.created_at.end()) {
    throw std::invalid_argument("duplicate id " + id.str() + ": first created at " + site(it->second) +
                                ", again at " + site(name.where));
  }
  return Init{app_, this, std::move(id), name.where};
}

Component& Component::adopt(std::unique_ptr<Component> child) {
  Component& ref = *child;
  app_->register_component(ref);
  children_.push_back(&ref);
  app_->internals().owned.push_back(std::move(child));
  return ref;
}

// ---- Persona ----

Persona::Persona(const Init& init, PersonaKind kind, Body body, std::string type)
    : Component(init, std::move(type)), kind_(kind), body_(std::move(body)) {
  if (kind_ == PersonaKind::kNone) throw std::invalid_argument("persona " + id().str() + ": kind must be daemon, command or job");
  if (!body_) throw std::invalid_argument("persona " + id().str() + ": no body");
}

std::string Persona::help() const { return id().name(); }

Persona& Persona::on_stop(std::function<void()> hook) {
  on_stop_ = std::move(hook);
  return *this;
}

PersonaContext::PersonaContext(App& app, const Persona& persona, std::vector<std::string> args)
    : app_(app),
      persona_(persona),
      args_(std::move(args)),
      reachable_(app.reachable_from(persona)),
      secrets_(app.secrets_for(persona)),
      service_(service_name_for(app, persona)),
      logger_(persona_logger(app, persona, service_)) {
  std::sort(reachable_.begin(), reachable_.end());
}

Membrane& PersonaContext::membrane() const {
  if (Episode* episode = current_episode()) return episode->membrane();
  return *app_.internals().live_membrane;
}

bool PersonaContext::reaches(const Component& component) const {
  return std::binary_search(reachable_.begin(), reachable_.end(), &component);
}

void PersonaContext::require_uses(const Component& component, std::source_location where) const {
  if (reaches(component)) return;
  throw UsesError("persona " + persona_.id().name() + " (" + persona_.id().str() + ") does not use " +
                  component.id().str() + " (" + component.type() + "), reached at " + site(where) +
                  ": declare it at startup with .uses(" + component.id().name() + ") on the persona, or on a "
                  "component the persona uses; a persona reaches only what it uses, in dev as when deployed");
}

std::string PersonaContext::secret(const Component& owner, std::string_view name, std::source_location where) const {
  require_uses(owner, where);
  // Reaching another persona (to call it) gives none of its secrets: deployed, its
  // container holds them and this one does not.
  if (!std::binary_search(secrets_.begin(), secrets_.end(), name)) {
    throw UsesError("persona " + persona_.id().name() + " (" + persona_.id().str() + ") does not receive the secret \"" +
                    std::string(name) + "\" of " + owner.id().str() + " (" + owner.type() + "), read at " + site(where) +
                    ": a persona receives the secrets of what it reaches, not those of another persona it calls");
  }
  // In a recorded request the read is an input of its own, kept as a handle (the value
  // never enters the episode); replayed, the value is the replay's (snap/episode.h).
  if (Episode* episode = current_episode()) return episode->membrane().secret(name, where);
  const SecretSource& source = *app_.internals().secret_source;
  if (auto value = source.get(name)) {
    if (value->empty()) {
      throw SecretUnavailable("secret \"" + std::string(name) + "\" of " + owner.id().str() + " is empty (" +
                              source.describe(name) + ")");
    }
    return std::move(*value);
  }
  throw SecretUnavailable("secret \"" + std::string(name) + "\" of " + owner.id().str() +
                          " has no value for persona " + persona_.id().name() + " (looked in " +
                          source.describe(name) + ")");
}

bool PersonaContext::stop_requested() const {
  std::lock_guard lock(mutex_);
  return stop_;
}
void PersonaContext::wait_for_stop() const {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return stop_; });
}
bool PersonaContext::wait_for_stop(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return stop_; });
}
void PersonaContext::request_stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
}

// ---- BuildState ----

std::optional<boost::json::value> BuildState::get(std::string_view key) const {
  if (auto it = values_.find(key); it != values_.end()) return it->value();
  return std::nullopt;
}

void BuildState::set(std::string_view key, boost::json::value value) { values_[key] = std::move(value); }

// ---- App ----

App::App(std::string_view name, std::unique_ptr<Private> state)
    : Component(Init{this, nullptr, Id::root(name), std::source_location::current()}, "App"),
      private_(std::move(state)) {
  register_component(*this);
}

App::~App() = default;

Mode App::mode() const { return private_->mode; }
Phase App::phase() const { return private_->phase; }
Membrane& App::membrane(std::source_location where) const {
  if (private_->phase != Phase::kStartup) {
    throw PhaseError("app.membrane() at " + site(where) + " is the startup membrane, and startup is over (" +
                     std::string(to_string(mode())) + " mode, " + std::string(to_string(phase())) +
                     " phase): in a persona body read live inputs through ctx.membrane()");
  }
  return *private_->startup_membrane;
}
BuildState& App::build_state() { return private_->state; }

void App::on_build(std::function<void(App&)> action) {
  assert_startup();
  private_->build_actions.push_back(std::move(action));
}

void App::register_component(Component& component) {
  private_->created_at.emplace(component.id().str(), component.created_at());
  private_->all.push_back(&component);
}

namespace {
[[noreturn]] void phase_error(const char* assertion, const App& app, const std::source_location& where) {
  throw PhaseError(std::string(assertion) + " failed at " + site(where) + ": the program is in " +
                   std::string(to_string(app.mode())) + " mode, " + std::string(to_string(app.phase())) + " phase");
}
}  // namespace

void App::assert_startup(std::source_location where) const {
  if (phase() != Phase::kStartup) phase_error("assert_startup", *this, where);
}
void App::assert_not_startup(std::source_location where) const {
  if (phase() == Phase::kStartup) phase_error("assert_not_startup", *this, where);
}
void App::assert_runtime(std::source_location where) const {
  if (phase() != Phase::kRuntime) phase_error("assert_runtime", *this, where);
}
void App::assert_build_time(std::source_location where) const {
  if (mode() != Mode::kBuild) phase_error("assert_build_time", *this, where);
}

void App::provide_generated_secret(std::string_view name, const std::function<std::string(Env&)>& generate) {
  assert_startup();
  Private& p = *private_;
  if (p.mode != Mode::kBuild && p.mode != Mode::kDev) return;
  if (p.known_secrets.get(name)) return;
  // Unrecorded on purpose: the value goes to the build's secret files, never into the log.
  AllowNondeterminism allow("a generated secret's randomness: stored by the build, never recorded");
  p.known_secrets.values.emplace(std::string(name), generate(*p.system));
  p.generated_secrets.emplace(name);
}

void App::require_supplied_secret(std::string_view name) {
  assert_startup();
  Private& p = *private_;
  if (p.mode != Mode::kBuild && p.mode != Mode::kDev) return;
  if (auto it = p.supplied_secrets.find(name); it != p.supplied_secrets.end()) {
    p.known_secrets.values[std::string(name)] = it->second;
  } else if (auto v = [&] {
               AllowNondeterminism allow("a supplied secret's value: stored by the build, never recorded");
               return p.system->variable(env_name_for_secret("SNAP_SECRET_", name));
             }()) {
    p.known_secrets.values[std::string(name)] = *v;
  }
  p.required_secrets.emplace(name);
}

std::vector<const Component*> App::components() const {
  return std::vector<const Component*>(private_->all.begin(), private_->all.end());
}

std::vector<const Persona*> App::personas() const {
  std::vector<const Persona*> out;
  for (const Component* c : private_->all) {
    if (c->persona_kind() != PersonaKind::kNone) out.push_back(static_cast<const Persona*>(c));
  }
  return out;
}

// Two personas may share a short name in different scopes (each service's `api`); a
// name selects one if it is its id, its id without the app's name ("orders.api"), or the
// end of only one id ("api" when one persona is called so).
const Persona* App::find_persona(std::string_view name) const {
  if (name.empty()) return nullptr;
  const std::string root = id().str() + ".";
  std::vector<const Persona*> ending;
  for (const Persona* p : personas()) {
    const std::string& full = p->id().str();
    if (full == name || (full.size() == root.size() + name.size() && full.rfind(root, 0) == 0 &&
                         full.compare(root.size(), name.size(), name) == 0)) {
      return p;
    }
    if (full.size() > name.size() && full.compare(full.size() - name.size(), name.size(), name) == 0 &&
        full[full.size() - name.size() - 1] == '.') {
      ending.push_back(p);
    }
  }
  if (ending.size() == 1) return ending.front();
  if (ending.empty()) return nullptr;
  std::string choices;
  for (const Persona* p : ending) {
    choices += (choices.empty() ? "" : ", ") + p->id().str().substr(root.size());
  }
  throw std::invalid_argument("\"" + std::string(name) + "\" names several personas (" + choices +
                              "): give the scoped name of one");
}

std::string App::persona_name(const Persona& persona) const {
  const std::string& name = persona.id().name();
  for (const Persona* other : personas()) {
    if (other != &persona && other->id().name() == name) return persona.id().str().substr(id().str().size() + 1);
  }
  return name;
}

Manifest App::manifest() const {
  Manifest m;
  for (const Component* c : private_->all) {
    ComponentEntry e;
    e.id = c->id().str();
    e.type = c->type();
    e.persona = std::string(to_string(c->persona_kind()));
    e.config = boost::json::serialize(c->config());
    for (const Component* u : c->used()) e.uses.push_back(u->id().str());
    std::sort(e.uses.begin(), e.uses.end());
    e.secrets = c->secret_names();
    m.components.push_back(std::move(e));
  }
  return m;
}

namespace {
// The one reach rule (snap/reach.h), applied to this app's tree.
PersonaReach reach_of(const App& app, const Persona& persona) {
  for (PersonaReach& reach : persona_reach(app.manifest())) {
    if (reach.persona == persona.id().str()) return std::move(reach);
  }
  return {persona.id().str(), {}, {}, {}};
}
}  // namespace

std::vector<const Component*> App::reachable_from(const Persona& persona) const {
  std::map<std::string, const Component*, std::less<>> by_id;
  for (const Component* c : private_->all) by_id.emplace(c->id().str(), c);
  std::vector<const Component*> out{&persona};
  for (const std::string& id : reach_of(*this, persona).components) out.push_back(by_id.at(id));
  return out;
}

const Environment& App::environment() const {
  // Set by run_startup before define_app, the first code that could ask.
  return *private_->environment;
}

Env& App::env() const { return *private_->system; }

std::vector<std::string> App::secrets_for(const Persona& persona) const { return reach_of(*this, persona).secrets; }

EpisodeSink* App::episodes() const { return private_->episodes.get(); }
const std::string& App::build_id() const { return private_->build_id; }

EpisodeResponse Persona::replay_request(PersonaContext& context, const EpisodeRequest& request) const {
  (void)context;
  throw std::logic_error("persona " + id().str() + " (" + type() + ") handles no requests, so it has no episode of " +
                         request.method + " " + request.route + " to replay");
}

}  // namespace snap
