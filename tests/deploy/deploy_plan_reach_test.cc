// Dev and deployment agree on what a persona reaches. For each persona, what its dev
// context admits -- the secrets it can read, the stores, databases and servers it can
// open or call -- must be exactly the secrets and networks its service gets in
// docker-compose.yml and in docker-stack.yml: a secret the context reads is a secret the
// container mounts (else it restart-loops with "has no value"), a database or server it
// opens is a network it joins. Checked on the example programs and on generated trees
// (nested scopes, servers with stores and databases inside, workers, jobs and commands
// using stores, endpoints and servers across scopes).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "example_programs.h"
#include "fake_system.h"
#include "snap/memory_env.h"
#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/cli_command.h"
#include "snap/component_type.h"
#include "snap/deploy.h"
#include "snap/job.h"
#include "snap/key_value_store.h"
#include "snap/lifecycle.h"
#include "snap/membrane.h"
#include "snap/password.h"
#include "snap/persona.h"
#include "snap/port.h"
#include "snap/postgres.h"
#include "snap/secrets.h"
#include "snap/worker.h"

namespace snap {
namespace {

// What a service gets: the secrets it mounts (by name under /run/secrets) and the
// networks it joins.
struct Grant {
  std::set<std::string> secrets;
  std::set<std::string> networks;
  friend bool operator==(const Grant&, const Grant&) = default;
};

std::string show(const Grant& g) {
  std::ostringstream out;
  out << "secrets {";
  for (const std::string& s : g.secrets) out << " " << s;
  out << " } networks {";
  for (const std::string& n : g.networks) out << " " << n;
  out << " }";
  return out.str();
}

void PrintTo(const Grant& g, std::ostream* out) { *out << show(g); }

// The text between the first pair of double quotes (the plan's names need no escapes).
std::string unquote(const std::string& text) {
  const std::size_t open = text.find('"');
  return text.substr(open + 1, text.find('"', open + 1) - open - 1);
}

// Every service's secrets and networks, read back from a generated docker-compose.yml or
// docker-stack.yml (the plan's own layout: two-space nesting, flow lists, quoted names).
std::map<std::string, Grant> grants_in(const std::string& yaml) {
  std::map<std::string, Grant> out;
  std::istringstream in(yaml);
  std::string line, service, block;
  bool in_services = false;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] != ' ') {
      in_services = line == "services:";
      continue;
    }
    if (!in_services) continue;
    const std::size_t indent = line.find_first_not_of(' ');
    const std::string text = line.substr(indent);
    if (indent == 2) {
      service = text.substr(0, text.size() - 1);
      out[service];
      block.clear();
    } else if (indent == 4) {
      block = text.substr(0, text.find(':'));
      if (block == "networks" && text.find('[') != std::string::npos) {
        std::istringstream items(text.substr(text.find('[') + 1));
        std::string item;
        while (std::getline(items, item, ',')) out[service].networks.insert(unquote(item));
        block.clear();
      }
    } else if (indent == 6 && block == "networks") {
      out[service].networks.insert(text.substr(0, text.find(':')));
    } else if (indent == 8 && block == "secrets" && text.rfind("target:", 0) == 0) {
      out[service].secrets.insert(unquote(text));
    }
  }
  return out;
}

// Whether `ctx` may open `c` in dev: a store opens, a database gives its connection, any
// other component (a server to call, a port, a password) passes the context's `uses` check.
bool opens(const PersonaContext& ctx, const Component& c) {
  try {
    if (const auto* store = dynamic_cast<const KeyValueStore*>(&c)) {
      store->open(ctx);
    } else if (const auto* database = dynamic_cast<const Postgres*>(&c)) {
      (void)database->connection(ctx);
    } else {
      ctx.require_uses(c);
    }
    return true;
  } catch (const UsesError&) {
    return false;
  }
}

// Whether `ctx` may read secret `name` of `owner` in dev (every secret has a value here).
bool reads(const PersonaContext& ctx, const Component& owner, const std::string& name) {
  try {
    return !ctx.secret(owner, name).empty();
  } catch (const UsesError&) {
    return false;
  }
}

// What each persona's dev context admits, said as what its service must get deployed:
// every secret it can read; the network of every daemon persona and database it can
// open; and, for a daemon some other persona's context can call, its own network.
std::map<std::string, Grant> admitted_in_dev(App& app) {
  std::map<const Persona*, std::unique_ptr<PersonaContext>> contexts;
  for (const Persona* p : app.personas()) contexts[p] = std::make_unique<PersonaContext>(app, *p, std::vector<std::string>{});
  std::map<std::string, Grant> out;
  for (const Persona* p : app.personas()) {
    const PersonaContext& ctx = *contexts.at(p);
    Grant& g = out[p->id().service_name()];
    for (const Component* c : app.components()) {
      for (const std::string& name : c->secret_names()) {
        if (reads(ctx, *c, name)) g.secrets.insert(name);
      }
      if (c == p || !opens(ctx, *c)) continue;
      const bool daemon = c->persona_kind() == PersonaKind::kDaemon;
      if (daemon || dynamic_cast<const Postgres*>(c) != nullptr) g.networks.insert(c->id().service_name());
    }
    if (p->persona_kind() != PersonaKind::kDaemon) continue;
    for (const auto& [other, other_ctx] : contexts) {
      if (other != p && opens(*other_ctx, *p)) g.networks.insert(p->id().service_name());
    }
  }
  return out;
}

// The plan of a started app, and what compose and the stack give each persona's service.
struct Deployed {
  DeployPlan plan;
  std::map<std::string, Grant> compose, stack;
};

Deployed deploy(const App& app) {
  Deployed d{plan_deployment(deploy_input(app.manifest()), {}), {}, {}};
  for (const DeployFile& f : d.plan.files) {
    if (f.path == "docker-compose.yml") d.compose = grants_in(f.content);
    if (f.path == "docker-stack.yml") d.stack = grants_in(f.content);
  }
  return d;
}

// The parity itself, persona by persona. On a swarm a service that reaches nothing and
// that nothing reaches has a network of its own (NAME-alone) instead of none.
void expect_dev_and_deployment_agree(App& app, const std::string& what) {
  const std::map<std::string, Grant> dev = admitted_in_dev(app);
  const Deployed deployed = deploy(app);
  ASSERT_FALSE(dev.empty()) << what;
  for (const auto& [service, admitted] : dev) {
    SCOPED_TRACE(what + ", service " + service);
    ASSERT_TRUE(deployed.compose.count(service)) << "no compose service";
    ASSERT_TRUE(deployed.stack.count(service)) << "no stack service";
    EXPECT_EQ(deployed.compose.at(service), admitted) << "compose (first) and what the dev context admits";
    Grant on_swarm = admitted;
    if (on_swarm.networks.empty()) on_swarm.networks.insert(service + "-alone");
    EXPECT_EQ(deployed.stack.at(service), on_swarm) << "the stack (first) and what the dev context admits";
  }
}

// ---- the finding: a store declared inside an ApiServer, used by a Worker ----

// The pattern docs/api.md shows -- the server's store declared inside it -- with the
// store in a database, and a worker that uses the store too.
DefineApp store_inside_the_server(const KeyValueStore** store) {
  return [store](App& app) {
    auto& api = app.add<ApiServer>("api");
    auto& pg = api.add<Postgres>("pg");
    auto& db = api.add<KeyValueStore>("db", pg);
    api.uses(db);
    app.add<Worker>("worker", std::chrono::milliseconds(1000), [&db](PersonaContext& ctx) { db.open(ctx); }).uses(db);
    *store = &db;
  };
}

// Deployment and the tools match types by ComponentType: each one's name there is the one
// its constructor records.
TEST(DeployPlanReach, ComponentTypesAreTheNamesTheComponentsRecord) {
  testing::FakeSystem system;
  auto app = start_dev_app("types", [](App& a) {
    a.add<ApiServer>("api");
    a.add<Postgres>("pg");
    a.add<Port>("port");
    a.add<Secret>("key");
  }, system, DevOptions{{{"key", "value"}}});
  std::map<std::string, ComponentType> types;
  for (const Component* c : app->components()) types[c->id().name()] = component_type_of(c->type());
  EXPECT_EQ(types.at("types"), ComponentType::kApp);
  EXPECT_EQ(types.at("api"), ComponentType::kApiServer);
  EXPECT_EQ(types.at("pg"), ComponentType::kPostgres);
  EXPECT_EQ(types.at("password"), ComponentType::kPassword);  // the database's
  EXPECT_EQ(types.at("port"), ComponentType::kPort);
  EXPECT_EQ(types.at("key"), ComponentType::kSecret);
  EXPECT_EQ(component_type_of("KeyValueStore"), ComponentType::kOther);
  EXPECT_EQ(component_type_name(ComponentType::kPostgres), "Postgres");
  EXPECT_EQ(component_type_name(ComponentType::kOther), "");
}

TEST(DeployPlanReach, AWorkerUsingAStoreInsideAServerGetsTheStoresDatabase) {
  testing::FakeSystem system;
  const KeyValueStore* store = nullptr;
  auto app = start_dev_app("shop", store_inside_the_server(&store), system, {});
  const Persona& worker = *app->find_persona("worker");
  // Dev admits the store, its database and the database's password to the worker ...
  PersonaContext ctx(*app, worker, {});
  EXPECT_NO_THROW(store->open(ctx));
  EXPECT_THAT(store->database()->connection(ctx), ::testing::HasSubstr("password='"));
  EXPECT_THAT(app->secrets_for(worker), ::testing::ElementsAre("api.pg.password"));

  // ... so compose and the stack give the worker that secret and the database's network
  // (not the server's: it never calls the server).
  const Deployed deployed = deploy(*app);
  const Grant expected{{"api.pg.password"}, {"api-pg"}};
  EXPECT_EQ(deployed.compose.at("worker"), expected);
  EXPECT_EQ(deployed.stack.at("worker"), expected);
  EXPECT_EQ(deployed.plan.reaches, (std::vector<std::pair<std::string, std::vector<std::string>>>{
                                       {"api", {"api-pg"}}, {"api-pg", {}}, {"worker", {"api-pg"}}}));
  bool mounted = false;
  for (const DeploySecretFile& f : deployed.plan.secret_files) {
    if (f.service == "worker" && f.secret == "api.pg.password") mounted = true;
  }
  EXPECT_TRUE(mounted) << "the worker's secret file is not in the plan";
  for (const DeployFile& f : deployed.plan.files) {
    if (f.path == "docker-compose.yml") {
      EXPECT_THAT(f.content, ::testing::HasSubstr("  worker:\n"));
      EXPECT_THAT(f.content, ::testing::HasSubstr("    depends_on:\n      api-pg:\n        condition: service_healthy\n"));
    }
  }
}

// A persona reached to be called gives none of its own secrets, in dev as deployed.
TEST(DeployPlanReach, ACalledPersonasOwnSecretsAreNotReadable) {
  class Holder final : public Persona {
   public:
    explicit Holder(const Init& init) : Persona(init, PersonaKind::kDaemon, [](PersonaContext&) { return 0; }) {}
    std::vector<std::string> secret_names() const override { return {"holder-key"}; }
  };
  testing::FakeSystem system;
  auto app = start_dev_app("app", [](App& a) {
    auto& holder = a.add<Holder>("holder");
    a.add<Job>("caller", [](PersonaContext&) { return 0; }).uses(holder);
  }, system, {});
  const Persona& holder = *app->find_persona("holder");
  PersonaContext caller(*app, *app->find_persona("caller"), {});
  EXPECT_TRUE(caller.reaches(holder));
  try {
    (void)caller.secret(holder, "holder-key");
    FAIL() << "no UsesError";
  } catch (const UsesError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("persona caller (app.caller) does not receive the secret \"holder-key\" "
                                               "of app.holder (Persona)"));
  }
  EXPECT_TRUE(app->secrets_for(*app->find_persona("caller")).empty());
  EXPECT_THAT(app->secrets_for(holder), ::testing::ElementsAre("holder-key"));
}

// ---- the example programs ----

TEST(DeployPlanReach, TheExampleProgramsAgreeInDevAndDeployed) {
  for (const testing::ExampleProgram& example : {testing::customer_example(), testing::hello_example()}) {
    MemoryEnv system;
    for (const auto& [path, content] : example.files) write_file(system, path, content);
    auto app = start_dev_app(example.name, example.define, system, {});
    expect_dev_and_deployment_agree(*app, "examples/" + example.name);
  }
}

// ---- generated trees ----

// A deterministic pseudo-random app: nested scopes; databases, stores (in a database or
// not), passwords and secrets declared anywhere, servers' subtrees included; servers,
// workers, jobs and commands using what was declared before them, across scopes, directly
// or through an endpoint. Personas use only personas made before them (and daemons are
// not nested in other personas), so services never use each other in a cycle.
// std::mt19937's sequence is fixed by the standard; distributions are not, so none is used.
class TreeGenerator {
 public:
  // `system` (the app's) must outlive the app's startup: supplied secrets go in its environment.
  TreeGenerator(std::uint32_t seed, testing::FakeSystem& system) : rng_(seed), system_(system) {}

  void operator()(App& app) {
    places_.push_back({&app, false});
    const std::size_t steps = 10 + pick(25);
    for (std::size_t step = 0; step < steps; ++step) {
      const Place place = places_[pick(places_.size())];
      Component& at = *place.component;
      switch (pick(12)) {
        case 0:
        case 1:
          places_.push_back({&at.scope(name("s")), place.inside_persona});
          break;
        case 2:
          databases_.push_back(&at.add<Postgres>(name("pg")));
          usable_.push_back(databases_.back());
          break;
        case 3:
        case 4:
          if (!databases_.empty() && pick(4) != 0) {
            usable_.push_back(&at.add<KeyValueStore>(name("kv"), *databases_[pick(databases_.size())]));
          } else {
            usable_.push_back(&at.add<KeyValueStore>(name("kv")));
          }
          break;
        case 5:
          usable_.push_back(&at.add<Password>(name("pw")));
          break;
        case 6: {
          // Supplied as a build would be ($SNAP_SECRET_NAME): dev requires a value.
          const std::string secret = name("sec");
          const std::string full = at.id().child(secret).str();
          system_.variables[env_name_for_secret("SNAP_SECRET_", full.substr(full.find('.') + 1))] = "value";
          usable_.push_back(&at.add<Secret>(secret));
          break;
        }
        case 7:
          if (!place.inside_persona) add_server(at);
          break;
        case 8:
          if (!place.inside_persona) {
            use_some(at.add<Worker>(name("w"), std::chrono::milliseconds(1000), [](PersonaContext&) {}));
          }
          break;
        case 9:
          use_some(at.add<Job>(name("job"), [](PersonaContext&) { return 0; }));
          break;
        case 10:
          use_some(at.add<CliCommand>(name("cmd"), "a command", std::vector<Arg>{},
                                      [](PersonaContext&, const CommandArgs&) { return 0; }));
          break;
        case 11:
          // A component already declared starts using more (a server its store, a
          // store another database); it may only use what was made before it.
          if (!users_.empty()) {
            Component& user = *users_[pick(users_.size())];
            if (!usable_.empty()) user.uses(*usable_[pick(usable_.size())]);
          }
          break;
      }
    }
  }

 private:
  struct Place {
    Component* component;
    bool inside_persona;
  };

  std::size_t pick(std::size_t n) { return static_cast<std::size_t>(rng_() % n); }
  std::string name(const char* kind) { return kind + std::to_string(++count_); }

  void add_server(Component& at) {
    ApiServer& server = at.add<ApiServer>(name("api"));
    use_some(server);
    places_.push_back({&server, true});
    endpoints_.push_back(server.endpoint<std::string, std::string>(
        "POST", "/echo", [](PersonaContext&, const std::string& s) { return s; }));
    servers_.push_back(&server);
  }

  // Up to three of what exists: passive components, servers (made earlier), endpoints.
  void use_some(Persona& persona) {
    const std::size_t count = pick(4);
    for (std::size_t i = 0; i < count; ++i) {
      switch (pick(3)) {
        case 0:
          if (!usable_.empty()) persona.uses(*usable_[pick(usable_.size())]);
          break;
        case 1:  // a server joins servers_ after its own uses: every one here is earlier
          if (!servers_.empty()) persona.uses(*servers_[pick(servers_.size())]);
          break;
        case 2:
          if (!endpoints_.empty()) persona.uses(endpoints_[pick(endpoints_.size())]);
          break;
      }
    }
    users_.push_back(&persona);
  }

  std::mt19937 rng_;
  testing::FakeSystem& system_;
  std::size_t count_ = 0;
  std::vector<Place> places_;
  std::vector<Postgres*> databases_;
  std::vector<const Component*> usable_;
  std::vector<ApiServer*> servers_;
  std::vector<Endpoint<std::string, std::string>> endpoints_;
  std::vector<Component*> users_;
};

TEST(DeployPlanReach, GeneratedTreesAgreeInDevAndDeployed) {
  constexpr std::uint32_t kTrees = 60;
  std::size_t personas = 0, stores_in_servers = 0;
  for (std::uint32_t seed = 1; seed <= kTrees; ++seed) {
    testing::FakeSystem system;
    auto app = start_dev_app("gen", TreeGenerator(seed, system), system, {});
    personas += app->personas().size();
    for (const Component* c : app->components()) {
      for (const Component* up = c->parent(); up != nullptr && c->type() == "KeyValueStore"; up = up->parent()) {
        if (up->type() == "ApiServer") {
          ++stores_in_servers;
          break;
        }
      }
    }
    expect_dev_and_deployment_agree(*app, "generated tree " + std::to_string(seed));
  }
  // The trees do exercise the cases: personas, and stores declared inside servers.
  EXPECT_GT(personas, kTrees);
  EXPECT_GT(stores_in_servers, kTrees / 4);
}

}  // namespace
}  // namespace snap
