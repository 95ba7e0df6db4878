// Component: a building block of an app (a store, a port, a server, a worker...), with
// an Id, a type, a configuration recorded in the manifest, and the components it uses.
//
// Components are made by their parent and owned by the app:
//
//   auto& port = app.add<snap::Port>("api-port");
//   auto& api  = app.add<MyServer>("api", port);   // MyServer(Component::Init, Port&)
//   api.uses(port);
//
// A custom component derives from Component (or Persona), takes `Init` as its first
// constructor argument and passes it on. Every component is created during startup, so
// the build and every container build the same tree; after startup the tree is frozen.
//
// What `uses` declares drives least privilege: a persona receives only the secrets of the
// components it uses (transitively).
//
// Thread safety: the tree is built on the startup thread; afterwards it is read-only and
// may be read from any thread.
#pragma once

#include <memory>
#include <source_location>
#include <string>
#include <string_view>
#include <concepts>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>

#include "snap/id.h"

namespace snap {

class App;

// A component's name at the point where it is added; implicitly made from a string, it
// captures the caller's source location for duplicate-id errors.
struct Name {
  Name(const char* value, std::source_location where = std::source_location::current())
      : value(value), where(where) {}
  Name(std::string_view value, std::source_location where = std::source_location::current())
      : value(value), where(where) {}
  Name(const std::string& value, std::source_location where = std::source_location::current())
      : value(value), where(where) {}
  std::string_view value;
  std::source_location where;
};

// How a component runs when it is a persona (see persona.h).
enum class PersonaKind {
  kNone,     // a passive component
  kDaemon,   // runs until stopped (servers, workers)
  kCommand,  // runs on demand, once, and exits with a status (CLI commands)
  kJob,      // runs once at deployment (and once in dev) and exits with a status (seeding, migrations, clients)
};
std::string_view to_string(PersonaKind kind);

class Component {
 public:
  // Everything the base needs, handed over by the parent's add<T>().
  struct Init {
    App* app;
    Component* parent;
    Id id;
    std::source_location where;
  };

  Component(const Init& init, std::string type);
  virtual ~Component();
  Component(const Component&) = delete;
  Component& operator=(const Component&) = delete;

  const Id& id() const { return id_; }
  const std::string& type() const { return type_; }
  App& app() const { return *app_; }
  Component* parent() const { return parent_; }
  const std::vector<Component*>& children() const { return children_; }
  const std::vector<const Component*>& used() const { return uses_; }
  std::source_location created_at() const { return where_; }

  // Declares that this component uses `other` (at startup only). Returns *this.
  Component& uses(const Component& other);
  // Uses what a handle belongs to: `client.uses(server.get_customer)` uses the server
  // that serves that endpoint (any value with a `server()` returning a component).
  template <typename Handle>
    requires requires(const Handle& h) { { h.server() } -> std::convertible_to<const Component&>; }
  Component& uses(const Handle& handle) {
    return uses(static_cast<const Component&>(handle.server()));
  }

  // A scope: a passive child that only groups what is added under it in the Id tree
  // (`auto& shop = app.scope("shop"); shop.add<snap::Port>("api-port")` makes shop.api-port).
  Component& scope(Name name);

  // Makes a child component owned by the app: T(Init, args...).
  template <typename T, typename... Args>
  T& add(Name name, Args&&... args);

  virtual PersonaKind persona_kind() const { return PersonaKind::kNone; }
  // Configuration recorded in the manifest and compared after every replayed startup.
  // Override to add what distinguishes this component (a port number, an index version).
  virtual boost::json::object config() const { return {}; }
  // Secrets this component holds (by secret name; recorded in the manifest, never their
  // values); a persona using it receives them.
  virtual std::vector<std::string> secret_names() const { return {}; }

 protected:
  // Registers `child` with the app (unique id check) and takes ownership.
  Component& adopt(std::unique_ptr<Component> child);
  Init child_init(const Name& name);

 private:
  App* app_;
  Component* parent_;
  Id id_;
  std::string type_;
  std::source_location where_;
  std::vector<Component*> children_;
  std::vector<const Component*> uses_;
};

template <typename T, typename... Args>
T& Component::add(Name name, Args&&... args) {
  static_assert(std::is_base_of_v<Component, T>, "add<T>: T must derive from snap::Component");
  auto child = std::make_unique<T>(child_init(name), std::forward<Args>(args)...);
  return static_cast<T&>(adopt(std::move(child)));
}

}  // namespace snap
