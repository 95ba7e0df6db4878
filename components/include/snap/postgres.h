// Postgres: a PostgreSQL database the app owns, declared as a component. Stores
// (snap/key_value_store.h) keep their tables in it; several stores may share one.
//
//   auto& db = scope.add<snap::Postgres>("db");                   // a local of its owner
//   auto& customers = scope.add<snap::KeyValueStore>("customers", db);
//   api.uses(customers);                                          // reaches db through the store
//
// The database's password is a generated snap::Password child ("db.password"): made by
// the first build, kept by later ones, never in the log. Deployed in containers, the
// build emits one PostgreSQL service per Postgres component (docs/deploy.md): its host
// name is the component's service name, its password reaches the server as the
// POSTGRES_PASSWORD_FILE secret, and reaches a persona only if that persona uses the
// database (directly or through a store). Where the database is comes from the app's
// environment (snap/environment.h: chosen from the replayed placement) and the config
// recorded in the manifest, never from variables set by hand; a build with --local points
// at 127.0.0.1:5432 unless $SNAP_POSTGRES (a libpq connection string) says otherwise. In
// dev no database is used: stores are in memory.
//
// Thread safety: immutable after startup; connection() may be called from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "snap/component.h"

namespace snap {

class Password;
class PersonaContext;

struct PostgresConfig {
  // The role the app connects as (POSTGRES_USER of the server). Recorded in the manifest.
  std::string user = "snap";
  // The database the stores' tables live in (POSTGRES_DB). Recorded in the manifest.
  std::string database = "snap";
};

class Postgres final : public Component {
 public:
  static constexpr std::uint16_t kPort = 5432;

  Postgres(const Init& init, PostgresConfig config = {});

  const PostgresConfig& settings() const { return config_; }
  const Password& password() const { return *password_; }
  // The host the database is reached at: its service name in a container build,
  // 127.0.0.1 in a --local build.
  std::string host() const;
  // {"user", "database", "port", "password_secret", "service"}: what the deployment
  // emitter needs to run this database (and nothing secret).
  boost::json::object config() const override;

  // The libpq connection string for the persona running `ctx`, password included.
  // Throws UsesError when the persona does not reach this database, SecretUnavailable
  // when its password secret is missing, PhaseError during startup.
  std::string connection(const PersonaContext& ctx) const;

 private:
  PostgresConfig config_;
  Password* password_;
};

}  // namespace snap
