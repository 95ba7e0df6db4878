// Environment: where this process's personas run, and so how components reach each
// other. The lifecycle picks one per process, once, before define_app runs (from the mode
// and the placement the build recorded, replayed in every container); components reach
// it through `app().environment()` and ask it, never which mode they are in:
//
//   const snap::Environment& where = app.environment();
//   const bool in_memory = where.in_memory_stores();  // no database in this process
//   const std::string host = where.host_of(server);   // 127.0.0.1, or listen.SERVICE in containers
//
// There are three, each final and private to the lifecycle:
//  - in process (`APP dev`): every persona in this process, calls are function calls,
//    stores are in memory, nothing listens;
//  - local processes (a `--local` build): each persona a process on this host, calls are
//    HTTP to 127.0.0.1, where servers listen;
//  - containers (a build without --local): each persona a container, calls are HTTP to
//    the server's address on its own network, where it listens besides 127.0.0.1.
// A build and a verify get the one their placement names, as the personas they
// describe will.
//
// Not the operating system (snap/env.h's Env): that is clocks, files and randomness.
//
// Thread safety: immutable; every member may be called from any thread.
#pragma once

#include <string>
#include <string_view>

namespace snap {

class Component;

class Environment {
 public:
  // How a client persona calls a server persona.
  enum class Transport {
    kInProcess,  // a function call on the caller's thread; the server opens no socket
    kHttp,       // HTTP to host_of(server) on the server's port
  };

  virtual ~Environment() = default;

  // "in process", "local processes" or "containers": for messages.
  virtual std::string_view name() const = 0;

  virtual Transport transport() const = 0;

  // The host a client reaches `target` at, for the HTTP transport and for a database:
  // 127.0.0.1 on this host; in containers a persona's address on its own network
  // (Id::listen_name, "listen.SERVICE": not the service name, which every network the
  // persona joins knows, so a client sharing two networks with it could be given its
  // address on the other one) and any other component's service name (Id::service_name:
  // a database is a service of its own).
  virtual std::string host_of(const Component& target) const = 0;

  // Where a server listens over HTTP: always 127.0.0.1 (its healthcheck probes there, and
  // on this host its clients call there); in containers also its address on its own
  // network, which the server finds at runtime (listen.SERVICE), when it has clients.
  static constexpr std::string_view kLoopback = "127.0.0.1";
  virtual bool listens_on_own_network() const = 0;

  // Stores keep their data in memory, for this process's life, and use no database.
  virtual bool in_memory_stores() const = 0;

  // A database server of the user's own may stand in for a declared one ($SNAP_POSTGRES):
  // where personas run on this host, whose servers the user can run; never in containers,
  // whose database is the one the deployment runs.
  virtual bool user_database_allowed() const = 0;

 protected:
  Environment() = default;
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
};

}  // namespace snap
