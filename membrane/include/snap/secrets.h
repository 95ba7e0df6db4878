// Where secret values come from. Secrets never enter a snapshot log: the log holds a
// handle (the secret's name) and each side resolves the value from its own source.
//
// At build time the source is the build's state (user-supplied secrets, generated
// passwords). At runtime it is the persona's own: the files compose mounts under
// /run/secrets, or environment variables. A persona only gets the secrets its
// components declare they use, so a secret it may not see simply is not there.
//
// Thread safety: implementations are read-only after construction and safe to share.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace snap {

class Env;

class SecretSource {
 public:
  virtual ~SecretSource() = default;
  virtual std::optional<std::string> get(std::string_view name) const = 0;
  // Where this source looks for `name`, for error messages ("/run/secrets/db-password").
  virtual std::string describe(std::string_view name) const = 0;
};

// Files named after the secret in `directory` (compose mounts them at /run/secrets).
// One trailing newline is dropped, as editors and `echo` add one.
std::unique_ptr<SecretSource> secrets_from_directory(std::filesystem::path directory, Env& env);

// Environment variables `prefix + NAME`, where NAME is the secret's name upper-cased with
// every character outside [A-Z0-9] turned into '_' (e.g. SNAP_SECRET_DB_PASSWORD).
std::unique_ptr<SecretSource> secrets_from_env(std::string prefix, Env& env);

// Fixed values, for tests and for build-time values already in memory.
std::unique_ptr<SecretSource> secrets_from_map(std::map<std::string, std::string, std::less<>> values);

// Asks each source in turn; the first that has the secret wins.
std::unique_ptr<SecretSource> secrets_from_chain(std::vector<std::unique_ptr<SecretSource>> sources);

// The env var name for a secret: env_name_for_secret("SNAP_SECRET_", "db-password")
// == "SNAP_SECRET_DB_PASSWORD".
std::string env_name_for_secret(std::string_view prefix, std::string_view name);

}  // namespace snap
